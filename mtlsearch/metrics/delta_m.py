"""Δm: the mean relative improvement of a multitask candidate over single-task baselines.

    Δm = 100 / N · Σ_i (−1)^{l_i} · (M_i − B_i) / B_i

over the N primary tasks, where M_i is the candidate's score on task i, B_i the
single-task (STL) baseline's score and l_i = 1 when lower is better for task
i's metric (0 otherwise). Maninis et al., CVPR 2019 ("Attentive single-tasking
of multiple tasks"), as used by LibMTL and the MTL survey literature. This is
the only implementation in mtlsearch: the trainer, the store and the
leaderboard all call it.
"""

from __future__ import annotations

import math
from typing import Mapping


def delta_m(
    scores: Mapping[str, float],
    baselines: Mapping[str, float],
    lower_is_better: Mapping[str, bool] | None = None,
) -> float:
    """Δm in percent over the tasks of ``baselines``.

    Every baseline task must have a candidate score. Returns NaN when there is no
    task, or when a baseline score is 0 (the relative change is undefined there).
    """
    if not baselines:
        return math.nan
    lower_is_better = lower_is_better or {}
    total = 0.0
    for task, base in baselines.items():
        score = scores[task]
        if base == 0 or math.isnan(base) or math.isnan(score):
            return math.nan
        sign = -1.0 if lower_is_better.get(task, False) else 1.0
        total += sign * (score - base) / base
    return 100.0 * total / len(baselines)
