"""The spec's search space as an Optuna define-by-run function (conditional dimensions included)."""

from __future__ import annotations

import itertools

from mtlsearch.spec import GROUPED_ARCHITECTURES, MANUAL, Choice, IntRange, LogUniform, SearchSpace, Uniform

# Dimensions sampled for every trial, in this order (architecture and grouping come first).
PLAIN_DIMENSIONS = ("encoder", "lr", "batch_size", "weight_decay", "hidden_dim", "dropout", "optimizer", "weighting")
STATIC_WEIGHT = "w/"  # config key prefix of a searched static loss weight: w/<task>


def static_weights_apply(space: SearchSpace, weighting: str | None) -> bool:
    """Whether a trial with this sampled weighting (None: not searched) samples ``w/<task>``.

    Without a ``weighting`` dimension the spec guarantees ``train.weighting`` is ``static``.
    """
    return space.static_weights is not None and (weighting is None or weighting == "static")


SOFT_DIMENSIONS = ("soft_lambda", "soft_layers")


def soft_dimensions_apply(sharing: str | None) -> bool:
    """Whether a trial with this sampled sharing (None: not searched) samples ``soft_lambda`` / ``soft_layers``.

    Without a ``sharing`` dimension the spec guarantees ``model.sharing`` is ``soft`` when they are open.
    """
    return sharing is None or sharing == "soft"


def suggest_tri_mtl(trial, space: SearchSpace) -> None:
    """Tri-MTL dimensions: ``metadata``, ``sharing``, then ``soft_lambda`` / ``soft_layers`` for soft trials only."""
    if space.metadata is not None:
        suggest(trial, "metadata", space.metadata)
    sharing = suggest(trial, "sharing", space.sharing) if space.sharing is not None else None
    if soft_dimensions_apply(sharing):
        for name in SOFT_DIMENSIONS:
            dim = getattr(space, name)
            if dim is not None:
                suggest(trial, name, dim)


def tri_mtl_candidates(space: SearchSpace) -> list[dict]:
    """Every (metadata, sharing, soft_lambda, soft_layers) of a discrete space, soft ones only with soft sharing."""
    metas = [{}] if space.metadata is None else [{"metadata": m} for m in space.metadata.choice]
    sharings = [None] if space.sharing is None else list(space.sharing.choice)
    names = [n for n in SOFT_DIMENSIONS if getattr(space, n) is not None]
    soft = [dict(zip(names, combo)) for combo in itertools.product(*(_values(getattr(space, n)) for n in names))]
    out: list[dict] = []
    for meta in metas:
        for sharing in sharings:
            base = {**meta, **({} if sharing is None else {"sharing": sharing})}
            out += [{**base, **s} for s in (soft if soft_dimensions_apply(sharing) else [{}])]
    return out


def suggest_cotask(trial, space: SearchSpace, arch: str | None) -> None:
    """CO-TASK dimensions: ``aux_tasks`` and then ``aux_major_prob`` (if M > 0) for shared architectures
    (STL trains independent models: no auxiliary heads), ``task_sampler`` for every trial."""
    if arch != "STL":
        m = suggest(trial, "aux_tasks", space.aux_tasks) if space.aux_tasks is not None else None
        if space.aux_major_prob is not None and (m is None or m > 0):
            suggest(trial, "aux_major_prob", space.aux_major_prob)
    if space.task_sampler is not None:
        suggest(trial, "task_sampler", space.task_sampler)


def cotask_candidates(space: SearchSpace, arch: str | None) -> list[dict]:
    """Every (aux_tasks, aux_major_prob, task_sampler) of a discrete space for ``arch``, as :func:`suggest_cotask` samples."""
    aux: list[dict] = [{}]
    if arch != "STL" and space.aux_tasks is not None:
        aux = []
        for m in _values(space.aux_tasks):
            probs = _values(space.aux_major_prob) if space.aux_major_prob is not None and m > 0 else [None]
            aux += [{"aux_tasks": m, **({} if p is None else {"aux_major_prob": p})} for p in probs]
    elif arch != "STL" and space.aux_major_prob is not None:
        aux = [{"aux_major_prob": p} for p in _values(space.aux_major_prob)]
    samplers = [{}] if space.task_sampler is None else [{"task_sampler": b} for b in space.task_sampler.choice]
    return [{**a, **b} for a in aux for b in samplers]


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
    """An Optuna define-by-run space with conditional grouping dimensions.

    Only for a grouped architecture (GMHL, GMTL): ``grouping_method`` is
    sampled, then ``k`` if the method is computed (embedding, affinity, ...)
    or ``grouping`` (a manual grouping's name) if it is ``manual``. Optuna sees
    ``k`` only in trials where it applies.

    ``static_weights``: one weight ``w/<task>`` per task in ``tasks`` (the primary
    tasks), sampled only when the trial's weighting is ``static``.

    Tri-MTL: ``metadata`` and ``sharing``, then ``soft_lambda`` / ``soft_layers``
    for soft trials only (:func:`suggest_tri_mtl`), after the grouping; then the
    CO-TASK dimensions (:func:`suggest_cotask`).

    A class rather than a closure: Tune pickles the searcher with its experiment state.
    """

    def __init__(self, space: SearchSpace, tasks: tuple[str, ...] | list[str] = ()):
        self.space = space
        self.tasks = list(tasks)
        if space.static_weights is not None and not self.tasks:
            raise ValueError("search.space.static_weights needs the task names to sample w/<task>")

    def __call__(self, trial) -> None:
        space = self.space
        arch = suggest(trial, "architecture", space.architecture) if space.architecture else None
        grouping = space.grouping_space()
        if grouping is not None and (arch is None or arch in GROUPED_ARCHITECTURES):
            method = suggest(trial, "grouping_method", grouping.method)
            if method == MANUAL:
                suggest(trial, "grouping", grouping.manual)
            else:
                suggest(trial, "k", grouping.k)
        suggest_tri_mtl(trial, space)
        suggest_cotask(trial, space, arch)
        sampled = {}
        for name in PLAIN_DIMENSIONS:
            dim = getattr(space, name)
            if dim is not None:
                sampled[name] = suggest(trial, name, dim)
        if static_weights_apply(space, sampled.get("weighting")):
            for task in self.tasks:
                suggest(trial, STATIC_WEIGHT + task, space.static_weights)


def _values(dim) -> list:
    if isinstance(dim, Choice):
        return list(dim.choice)
    if isinstance(dim, IntRange):
        return list(range(dim.int[0], dim.int[1] + 1))
    raise ValueError(f"only choice and int dimensions can be enumerated, got {dim!r}")


def enumerate_candidates(space: SearchSpace, tasks: tuple[str, ...] | list[str] = ()) -> list[dict]:
    """Every configuration of a discrete space, conditionals respected (the ``grid`` searcher).

    Grouped architectures expand into each (method, k) and each manual grouping;
    other architectures carry no grouping parameter, as in :class:`DefineByRun`.
    A ``static_weights`` choice expands per task of ``tasks`` for static trials only.
    """
    archs = _values(space.architecture) if space.architecture else [None]
    grouping = space.grouping_space()
    heads: list[dict] = []
    for arch in archs:
        base = {} if arch is None else {"architecture": arch}
        if grouping is None or (arch is not None and arch not in GROUPED_ARCHITECTURES):
            heads.append(base)
            continue
        for method in grouping.method.choice:
            if method == MANUAL:
                heads += [{**base, "grouping_method": method, "grouping": g} for g in grouping.manual.choice]
            else:
                heads += [{**base, "grouping_method": method, "k": k} for k in grouping.k_values()]
    heads = [{**h, **m} for h in heads for m in tri_mtl_candidates(space)]
    heads = [{**h, **c} for h in heads for c in cotask_candidates(space, h.get("architecture"))]
    names = [n for n in PLAIN_DIMENSIONS if getattr(space, n) is not None]
    tails = [dict(zip(names, combo)) for combo in itertools.product(*(_values(getattr(space, n)) for n in names))]
    if space.static_weights is not None:
        keys = [STATIC_WEIGHT + t for t in tasks]
        combos = [dict(zip(keys, c)) for c in itertools.product(*(_values(space.static_weights) for _ in keys))]
        tails = [{**t, **w} for t in tails for w in (combos if static_weights_apply(space, t.get("weighting")) else [{}])]
    return [{**h, **t} for h in heads for t in tails]


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
        bound *= len(grouping.method.choice) * max(len(grouping.k_values()), len(grouping.manual_names()), 1)
    if bound > limit:
        return None
    return enumerate_candidates(space, tasks)
