"""The Pareto set of a search: trials no other trial beats on both Δm(val) and training cost.

A trial ``a`` dominates ``b`` when ``cost_a ≤ cost_b`` and ``Δm_a ≥ Δm_b`` with one
of them strict (Δm maximized, cost in worker·s minimized). The Pareto set holds the
trials no other eligible trial dominates. Selection is on validation, as everywhere:
Δm(test) plays no part in it.

Eligible are the trials that trained the full budget (status ``finished``): a trial
ASHA stopped has the cost of a partial budget and the Δm of fewer epochs, a point
that is not this candidate's trade-off (and a multi-objective study is told such a
trial as pruned, :class:`mtlsearch.search.study.StoredOptunaSearch`); a trial still
running or that failed is not a result yet. So the leaderboard's Pareto set is the
finished trials of the study's own Pareto front (``optuna.Study.best_trials``).
"""

from __future__ import annotations

import math

from mtlsearch.metrics.result_keys import COST, DM_VAL
from mtlsearch.store.results import FINISHED

PARETO = "pareto"
"""The leaderboard CSV's and the report tables' column: whether the trial is in the Pareto set."""


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points ``(cost, dm)`` no other point dominates (cost no higher and Δm no lower, one strictly);
    points with a NaN or None are never on it. Sorted by cost."""
    ok = [i for i, p in enumerate(points) if not any(v is None or math.isnan(v) for v in p)]
    front = []
    for i in ok:
        ci, di = points[i]
        if not any(points[j][0] <= ci and points[j][1] >= di and (points[j][0] < ci or points[j][1] > di) for j in ok if j != i):
            front.append(i)
    return sorted(front, key=lambda i: points[i])


def on_full_budget(row: dict) -> bool:
    """Whether a leaderboard row may be on the Pareto set: it trained the full budget."""
    return row.get("status") == FINISHED


def pareto_set(rows: list[dict]) -> set[str]:
    """The trial ids of the Pareto set of leaderboard ``rows`` (max Δm(val), min cost, among full-budget trials)."""
    eligible = [r for r in rows if on_full_budget(r)]
    return {eligible[i]["trial_id"] for i in pareto_front([(r[COST], r[DM_VAL]) for r in eligible])}
