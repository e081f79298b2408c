"""The spec's search space as an Optuna define-by-run function (conditional dimensions included)."""

from __future__ import annotations

from mtlsearch.spec import GROUPED_ARCHITECTURES, MANUAL, Choice, IntRange, LogUniform, SearchSpace, Uniform

# Dimensions sampled for every trial, in this order (architecture and grouping come first).
PLAIN_DIMENSIONS = ("lr", "batch_size", "weight_decay", "hidden_dim", "dropout", "optimizer")


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

    A class rather than a closure: Tune pickles the searcher with its experiment state.
    """

    def __init__(self, space: SearchSpace):
        self.space = space

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
        for name in PLAIN_DIMENSIONS:
            dim = getattr(space, name)
            if dim is not None:
                suggest(trial, name, dim)
