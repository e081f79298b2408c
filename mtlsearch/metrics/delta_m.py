"""Δm: the mean relative improvement of a multitask candidate over single-task baselines.

    Δm = 100 / N · Σ_i (−1)^{l_i} · (M_i − B_i) / B_i

over the N primary tasks, where M_i is the candidate's score on task i, B_i the
single-task (STL) baseline's score and l_i = 1 when lower is better for task
i's metric (0 otherwise). Maninis et al., CVPR 2019 ("Attentive single-tasking
of multiple tasks"), as used by LibMTL and the MTL survey literature. This is
the only implementation in mtlsearch: the trainer, the store and the
leaderboard all call it.

A baseline score of 0 (or NaN: no labelled example) leaves the relative change
undefined. Such a task is left out of Δm for every candidate of the search
(:func:`anchored_baselines`: N counts the other primary tasks), and the launch
and the leaderboard name it with the reason, rather than turning every Δm into NaN.
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


def unanchored_reason(baseline: Mapping[str, float]) -> str | None:
    """Why a task's baseline ``{"val": B, "test": B}`` cannot anchor Δm (None when it can)."""
    for split in ("val", "test"):
        b = baseline[split]
        if b == 0:
            return f"its STL baseline is 0 on {split}"
        if math.isnan(b):
            return f"its STL baseline is NaN on {split} (no labelled {split} example)"
    return None


def anchored_baselines(*baselines: Mapping[str, Mapping[str, float]]) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """The tasks every one of ``baselines`` (one mapping ``task -> {"val", "test"}`` per seed) can anchor Δm on.

    Returns ``(kept, left_out)``: the first mapping restricted to the tasks whose
    baseline is non-zero and not NaN on val and test in all of them, and ``{task:
    reason}`` for the others. Δm is then taken over the kept tasks only, the same
    set for every candidate (and, in a confirmation, for every seed).
    """
    left_out: dict[str, str] = {}
    for one in baselines:
        for task, b in one.items():
            reason = unanchored_reason(b)
            if reason is not None and task not in left_out:
                left_out[task] = reason
    return without(baselines[0], left_out), left_out


def without(baselines: Mapping[str, Mapping[str, float]], left_out: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """``{task: {"val", "test"}}`` of ``baselines`` but the tasks ``left_out`` (:func:`anchored_baselines`)."""
    return {t: {"val": b["val"], "test": b["test"]} for t, b in baselines.items() if t not in left_out}
