"""The keys of what a training run reports every epoch, and the store's columns copied from them, in one place.

The trainer (:meth:`mtlsearch.train.trainer.MultiTaskTrainer.metrics`) builds
them; the search's callbacks, the baselines and the tuner read them back with
the functions here. A key is one of:

* a run-level number: :data:`EPOCH`, :data:`DM_VAL`, :data:`DM_TEST` (Δm of the
  selection), :data:`EPOCH_DM_VAL`, :data:`EPOCH_DM_TEST` (Δm of this epoch),
  :data:`TRAIN_LOSS`, :data:`COST` (worker·s so far), :data:`SAMPLES_PER_S`;
* a per-task number ``<kind>/<task>`` (:func:`task_key`) with ``kind`` one of
  :data:`VAL`, :data:`TEST` (this epoch's primary metric), :data:`BEST_VAL`,
  :data:`BEST_TEST`, :data:`BEST_EPOCH` (the selection, per task's model) and
  :data:`WEIGHT` (the loss weight, unless the weighting is ``equal``);
* a cross-task attention entry ``tim/<t>/<s>`` (:func:`tim_key`): ``TIM_{t←s}`` at task
  ``t``'s selected epoch (:mod:`mtlsearch.models.cross_task_attention`), for tasks of one
  encoder group of a plan with ``attention``;
* with overlapping groups (:mod:`mtlsearch.train.serving`): the per-task keys
  above name each task once (its serving copy's numbers), :data:`SERVED_BY`
  ``/<task>`` the head group index of its serving copy, and
  :data:`COPY_BEST_VAL`, :data:`COPY_BEST_TEST` ``/<copy>`` each trained copy's
  selection (only for tasks trained in several groups);
* a secondary number ``<split>_extra/<name>`` (:func:`extra_key`): per task
  ``<metric>/<task>`` with ``metric`` one of :data:`EXTRA_TASK_METRICS`, or a
  multi-label score ``ml_<score>`` (``selected_ml_<score>``: at each task's
  selected epoch; :func:`multilabel_key`).
"""

from __future__ import annotations

EPOCH = "epoch"
DM_VAL, DM_TEST = "dm_val", "dm_test"
EPOCH_DM_VAL, EPOCH_DM_TEST = "epoch_dm_val", "epoch_dm_test"
TRAIN_LOSS = "train_loss"
COST = "cost_worker_s"
SAMPLES_PER_S = "samples_per_s"

VAL, TEST = "val", "test"
EVAL_SPLITS = (VAL, TEST)
BEST_VAL, BEST_TEST, BEST_EPOCH = "best_val", "best_test", "best_epoch"
WEIGHT = "weight"
TIM = "tim"
SERVED_BY = "served_by"
"""``served_by/<task>``: the index (in the plan's head groups) of the group whose copy serves the task; the trials
table's ``served_by`` column (JSON ``{task: index}``) of the same name."""
COPY_BEST_VAL, COPY_BEST_TEST = "copy_best_val", "copy_best_test"

AUROC, SPECIFICITY, SENSITIVITY, THRESHOLD = "auroc", "sp", "se", "threshold"
EXTRA_TASK_METRICS = {AUROC: "auroc", SPECIFICITY: "specificity", SENSITIVITY: "sensitivity", THRESHOLD: "threshold"}
"""Secondary per-task key -> the ``metric`` name of its rows in the store's task metrics."""

MULTILABEL = "ml_"
SELECTED = "selected_"
"""Prefix of a multi-label score of the selection (each task's decisions at its model's selected epoch)."""


def task_key(kind: str, task: str) -> str:
    """``<kind>/<task>``, e.g. ``best_val/C04``."""
    return f"{kind}/{task}"


def tim_key(task: str, source: str) -> str:
    """``tim/<task>/<source>``: how much ``task`` attends to ``source`` (``TIM_{task←source}``)."""
    return f"{TIM}/{task}/{source}"


def tim_matrix(result: dict, tasks: list[str]) -> list[list[float | None]] | None:
    """The TIM over ``tasks`` (rows t, columns s; None where not reported), or None when ``result`` has none."""
    rows = [[result.get(tim_key(t, s)) for s in tasks] for t in tasks]
    return rows if any(v is not None for row in rows for v in row) else None


def per_task(result: dict, kind: str) -> dict[str, float]:
    """``{task: value}`` of the ``<kind>/<task>`` keys of ``result``."""
    prefix = f"{kind}/"
    return {k[len(prefix) :]: v for k, v in result.items() if k.startswith(prefix)}


def served_task_keys(extra: dict, served: dict[str, str], sources: dict[str, str]) -> dict:
    """``extra`` (secondary numbers keyed ``<metric>/<trained copy>`` or by a run-level name) keyed by task:
    the serving copy's numbers under ``<metric>/<task>``, the other copies' dropped, run-level names kept.

    ``served``: task -> serving copy; ``sources``: trained copy -> task (:mod:`mtlsearch.train.serving`)."""
    serving = {c: s for s, c in served.items()}
    out = {}
    for key, value in extra.items():
        kind, sep, name = key.partition("/")
        if not sep or name not in sources:
            out[key] = value
        elif name in serving:
            out[task_key(kind, serving[name])] = value
    return out


def extra_key(split: str, name: str) -> str:
    """``<split>_extra/<name>``: a secondary number of ``split``."""
    return f"{split}_extra/{name}"


def multilabel_key(score: str, selected: bool = False) -> str:
    """The name (within :func:`extra_key`) of a multi-label score: ``ml_<score>`` or ``selected_ml_<score>``."""
    return f"{SELECTED if selected else ''}{MULTILABEL}{score}"


def extra_per_task(result: dict, split: str) -> list[tuple[str, str, float]]:
    """``(task, store metric name, value)`` of the secondary per-task numbers of ``split``."""
    out = []
    for key, metric in EXTRA_TASK_METRICS.items():
        out += [(task, metric, v) for task, v in per_task(result, extra_key(split, key)).items()]
    return out
