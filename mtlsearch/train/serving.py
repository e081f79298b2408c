"""Overlapping groups in a run: the copies it trains, and the copy that serves each task.

TAG's group selection (Fifty et al., "Efficiently Identifying Task Groupings
for Multi-Task Learning", NeurIPS 2021) may put a task in several groups; the
task is trained in each and served by the best one. A :class:`SharingPlan`
with overlapping groups names one trained copy per head group of a task
(``<task>@<head group index>``, :func:`mtlsearch.models.plan.copy_name`).
:func:`train_copies` gives the run one :class:`TaskInfo` and one label column
per copy (the copy's labels are its task's); :func:`served_copies` picks the
copy that serves each task:

    served(s) = argmax_{c ∈ C(s)} (−1)^{l_s} · v_c(e*_c)

over the copies ``C(s)`` of task ``s``, where ``v_c(e*_c)`` is copy ``c``'s
validation score at the epoch its model selected
(:class:`mtlsearch.train.selection.ModelSelection`) and ``l_s = 1`` when lower
is better for ``s``'s metric. Ties go to the first copy (lowest head group
index); a NaN score never serves while another copy has a number. The task then
reports the served copy's numbers, and Δm counts it once.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Mapping, Sequence

import numpy as np

from mtlsearch.data.canonical import TaskInfo
from mtlsearch.models.plan import SharingPlan


def train_copies(
    tasks: Sequence[TaskInfo], plan: SharingPlan, labels: Mapping[str, np.ndarray], last: Sequence[str] = ()
) -> tuple[list[TaskInfo], SharingPlan, dict[str, np.ndarray], dict[str, str]]:
    """``(tasks, plan, labels, sources)`` over the trained copies of ``plan``.

    ``tasks``: one :class:`TaskInfo` per task of ``plan`` (each once), ``labels``:
    per split ``(N, T)`` columns in ``tasks`` order. The copies come in the
    trained plan's order, except the tasks named in ``last`` (CO-TASK auxiliary
    tasks, one copy each), which stay at the end in ``tasks`` order. A copy's
    :class:`TaskInfo` is its task's under the copy's name (same kind, role,
    metric). ``sources`` maps every trained name to its task. A plan without
    overlapping groups comes back unchanged, with the identity ``sources``.
    """
    if not plan.overlapping:
        return list(tasks), plan, dict(labels), {t.name: t.name for t in tasks}
    sources = plan.sources
    tail = [n for n in (t.name for t in tasks) if n in set(last)]
    order = [c for c in sources if c not in tail] + tail
    by_name = {t.name: t for t in tasks}
    column = {t.name: j for j, t in enumerate(tasks)}
    missing = sorted({sources[c] for c in order} - set(by_name))
    if missing:
        raise ValueError(f"the plan's task(s) {missing} have no task record in the run")
    cols = [column[sources[c]] for c in order]
    copies = [by_name[sources[c]] if c == sources[c] else replace(by_name[sources[c]], name=c) for c in order]
    return copies, plan.trained(), {s: y[:, cols] for s, y in labels.items()}, {c: sources[c] for c in order}


def copy_baselines(baselines: Mapping[str, Mapping[str, float]], sources: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Each copy's STL baseline: its task's (copies of tasks without a baseline get none)."""
    return {c: dict(baselines[s]) for c, s in sources.items() if s in baselines}


def served_copies(sources: Mapping[str, str], val: Mapping[str, float], directions: Mapping[str, str]) -> dict[str, str]:
    """Task -> the copy that serves it (module docstring's formula), tasks in order of their first copy.

    ``val``: each copy's selected validation score (copies without one yet count
    as NaN); ``directions``: each copy's ``"max"`` or ``"min"``.
    """
    best: dict[str, tuple[float, str]] = {}
    for copy, task in sources.items():
        v = val.get(copy, math.nan)
        key = -math.inf if math.isnan(v) else (-v if directions[copy] == "min" else v)
        if task not in best or key > best[task][0]:
            best[task] = (key, copy)
    return {task: copy for task, (_, copy) in best.items()}
