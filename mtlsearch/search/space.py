"""The spec's conditional search space, defined once by :func:`walk`; sampling and enumeration are read off it.

A configuration is built dimension by dimension, in this order; a dimension
is asked only when it is open in ``search.space`` and applies given the values
asked before it:

1. ``architecture``;
2. for a grouped architecture (GMHL, GMTL; or any, when the architecture is
   not searched): ``grouping_method``, then ``grouping`` (a manual grouping's
   name) if the method is ``manual``, else ``k`` (computed methods), then
   ``overlapping`` for a method whose groups can overlap
   (:meth:`~mtlsearch.spec.GroupingSpace.overlapping_values`);
3. Tri-MTL: ``metadata``, ``sharing``, then ``soft_lambda`` and
   ``soft_layers`` for soft sharing only (or sharing not searched);
   M3H: ``cross_task_attention``, then ``attention_gamma`` for trials with
   attention only (or attention not searched), both for shared architectures
   only (not STL);
4. CO-TASK: ``aux_tasks``, then ``aux_major_prob`` if M > 0 (or M not
   searched), both for architectures with auxiliary tasks only (not STL);
   ``task_sampler`` for every trial;
5. the plain dimensions (:data:`PLAIN_DIMENSIONS`);
6. ``w/<task>`` per primary task for ``static`` weighting only (or weighting
   not searched).

:class:`DefineByRun` walks it with Optuna's ``trial.suggest_*`` (the order of
the calls is Optuna's define-by-run space); :func:`enumerate_candidates` walks
it once per configuration of a discrete space, taking every value of every
dimension in turn (the ``grid`` searcher, :class:`~mtlsearch.search.distinct.DistinctConfigs`).
"""

from __future__ import annotations

from typing import Callable, Sequence

from mtlsearch.spec import GROUPED_ARCHITECTURES, MANUAL, Choice, IntRange, LogUniform, SearchSpace, Uniform

# Dimensions asked for every trial, in this order, after the conditional ones above them.
PLAIN_DIMENSIONS = ("encoder", "lr", "batch_size", "weight_decay", "hidden_dim", "dropout", "optimizer", "weighting")
SOFT_DIMENSIONS = ("soft_lambda", "soft_layers")
STATIC_WEIGHT = "w/"  # config key prefix of a searched static loss weight: w/<task>

Ask = Callable[[str, object], object]  # (parameter name, dimension) -> the value taken


def grouping_applies(architecture: str | None) -> bool:
    """Whether a trial with this architecture (None: not searched) has a grouping (GMHL, GMTL)."""
    return architecture is None or architecture in GROUPED_ARCHITECTURES


def soft_dimensions_apply(sharing: str | None) -> bool:
    """Whether a trial with this sampled sharing (None: not searched) samples ``soft_lambda`` / ``soft_layers``.

    Without a ``sharing`` dimension the spec guarantees ``model.sharing`` is ``soft`` when they are open.
    """
    return sharing is None or sharing == "soft"


def attention_applies(architecture: str | None) -> bool:
    """Whether a trial with this architecture (None: not searched, MTL) may have cross-task attention.

    STL trains the independent single-task models Δm is measured against: no attention.
    """
    return architecture != "STL"


def aux_tasks_apply(architecture: str | None) -> bool:
    """Whether a trial with this architecture (None: not searched, MTL) trains CO-TASK auxiliary tasks.

    STL trains independent models: no auxiliary heads.
    """
    return architecture != "STL"


def static_weights_apply(space: SearchSpace, weighting: str | None) -> bool:
    """Whether a trial with this sampled weighting (None: not searched) samples ``w/<task>``.

    Without a ``weighting`` dimension the spec guarantees ``train.weighting`` is ``static``.
    """
    return space.static_weights is not None and (weighting is None or weighting == "static")


def walk(space: SearchSpace, tasks: Sequence[str], ask: Ask) -> dict:
    """Build one configuration: ``ask(name, dim)`` for each dimension that applies (module docstring), in order.

    Returns ``{name: value}`` of the dimensions asked.
    """
    config: dict = {}

    def take(name: str, dim) -> object:
        if dim is None:
            return None
        config[name] = ask(name, dim)
        return config[name]

    architecture = take("architecture", space.architecture)
    grouping = space.grouping_space()
    if grouping is not None and grouping_applies(architecture):
        if take("grouping_method", grouping.method) == MANUAL:
            take("grouping", grouping.manual)
        else:
            take("k", grouping.k)
            if grouping.overlapping_applies(config["grouping_method"]):
                take("overlapping", grouping.overlapping)
    take("metadata", space.metadata)
    if soft_dimensions_apply(take("sharing", space.sharing)):
        for name in SOFT_DIMENSIONS:
            take(name, getattr(space, name))
    if attention_applies(architecture) and take("cross_task_attention", space.cross_task_attention) is not False:
        take("attention_gamma", space.attention_gamma)
    if aux_tasks_apply(architecture):
        m = take("aux_tasks", space.aux_tasks)
        if m is None or m > 0:
            take("aux_major_prob", space.aux_major_prob)
    take("task_sampler", space.task_sampler)
    for name in PLAIN_DIMENSIONS:
        take(name, getattr(space, name))
    if static_weights_apply(space, config.get("weighting")):
        for task in tasks:
            take(STATIC_WEIGHT + task, space.static_weights)
    return config


def suggest(trial, name: str, dim) -> object:
    """Sample one dimension with the Optuna trial API."""
    if isinstance(dim, Choice):
        return trial.suggest_categorical(name, dim.choice)
    if isinstance(dim, Uniform):
        return trial.suggest_float(name, *dim.uniform)
    if isinstance(dim, LogUniform):
        return trial.suggest_float(name, *dim.loguniform, log=True)
    if isinstance(dim, IntRange):
        return trial.suggest_int(name, *dim.int)
    raise TypeError(f"unsupported dimension {dim!r}")


class DefineByRun:
    """The space (:func:`walk`) as an Optuna define-by-run function: each dimension that applies is suggested.

    Optuna sees a conditional dimension (``k``, ``soft_lambda``, ``w/<task>``,
    ...) only in the trials where it applies. ``tasks``: the primary tasks,
    one static weight ``w/<task>`` each.

    A class rather than a closure: Tune pickles the searcher with its experiment state.
    """

    def __init__(self, space: SearchSpace, tasks: tuple[str, ...] | list[str] = ()):
        self.space = space
        self.tasks = list(tasks)
        if space.static_weights is not None and not self.tasks:
            raise ValueError("search.space.static_weights needs the task names to sample w/<task>")

    def __call__(self, trial) -> None:  # None: Tune's OptunaSearch would take a returned dict as constants
        walk(self.space, self.tasks, lambda name, dim: suggest(trial, name, dim))


def _values(dim) -> list:
    if isinstance(dim, Choice):
        return list(dim.choice)
    if isinstance(dim, IntRange):
        return list(range(dim.int[0], dim.int[1] + 1))
    raise ValueError(f"only choice and int dimensions can be enumerated, got {dim!r}")


def _walk_along(space: SearchSpace, tasks: Sequence[str], path: list[int]) -> tuple[dict, list[tuple[int, int]]]:
    """One walk taking the ``path[i]``-th value at the i-th ask (the first value past the path's end).

    Returns the configuration and, per ask, (index of the value taken, number of values).
    """
    steps: list[tuple[int, int]] = []

    def ask(name: str, dim) -> object:
        values = _values(dim)
        i = path[len(steps)] if len(steps) < len(path) else 0
        steps.append((i, len(values)))
        return values[i]

    return walk(space, tasks, ask), steps


def enumerate_candidates(space: SearchSpace, tasks: tuple[str, ...] | list[str] = ()) -> list[dict]:
    """Every configuration of a discrete space, conditionals respected (the ``grid`` searcher).

    A depth-first walk over :func:`walk`: the first dimension varies slowest,
    the last fastest, and a dimension is expanded only where it applies (a
    grouped architecture into each (method, k) and each manual grouping, the
    soft dimensions for soft sharing, ``w/<task>`` per task of ``tasks`` for
    static weighting, ...).
    """
    out: list[dict] = []
    path: list[int] = []
    while True:
        config, steps = _walk_along(space, tasks, path)
        out.append(config)
        while steps and steps[-1][0] + 1 == steps[-1][1]:  # the deepest ask with another value left
            steps.pop()
        if not steps:
            return out
        path = [i for i, _ in steps[:-1]] + [steps[-1][0] + 1]


def discrete_candidates(space: SearchSpace, tasks: tuple[str, ...] | list[str] = (), limit: int = 50_000) -> list[dict] | None:
    """:func:`enumerate_candidates` when the space is discrete and small enough to list, else ``None``.

    ``None`` for a space with a continuous dimension (repeats are then
    practically impossible), with ``static_weights`` (one dimension per task:
    exponential), or whose size bound (the product of every dimension's
    values, conditionals ignored) exceeds ``limit``.
    """
    if space.static_weights is not None:
        return None
    bound = 1
    for name, dim in space:
        if dim is None or name == "grouping":
            continue
        if isinstance(dim, (Uniform, LogUniform)):
            return None
        bound *= len(_values(dim))
    grouping = space.grouping_space()
    if grouping is not None:
        overlap = len(grouping.overlapping.choice) if grouping.overlapping is not None else 1
        bound *= len(grouping.method.choice) * max(len(grouping.k_values()) * overlap, len(grouping.manual_names()), 1)
    if bound > limit:
        return None
    return enumerate_candidates(space, tasks)
