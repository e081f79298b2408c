"""What a search's Optuna study optimizes (``search.objectives``): each objective a result key and a direction.

* ``dm_val``: Δm on validation of the trial's selection (:data:`~mtlsearch.metrics.result_keys.DM_VAL`), maximized;
* ``cost``: the trial's training cost in worker·s (:data:`~mtlsearch.metrics.result_keys.COST`: wall-clock seconds
  of training times the workers that trained), minimized.

``[dm_val]`` (the default) is a single-objective study. ``[dm_val, cost]`` is a
multi-objective one (Optuna's multi-objective TPE, or NSGA-II with ``searcher:
nsga2``): the search's answer is then a Pareto set, not one best trial
(:mod:`mtlsearch.report.pareto`). ASHA keeps stopping trials on Δm(val) alone;
a trial it stops is told to the study as pruned, not with its partial cost
(:class:`mtlsearch.search.study.StoredOptunaSearch`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mtlsearch.metrics.result_keys import COST, DM_VAL

DM_VAL_OBJECTIVE = "dm_val"
COST_OBJECTIVE = "cost"
OBJECTIVE_NAMES = (DM_VAL_OBJECTIVE, COST_OBJECTIVE)
"""``search.objectives``' choices."""


@dataclass(frozen=True)
class Objective:
    """One objective: its spec name, the result key it reads, Tune's mode (``max`` or ``min``)."""

    name: str
    result_key: str
    mode: str

    @property
    def direction(self) -> str:
        """Optuna's study direction: ``maximize`` or ``minimize``."""
        return "maximize" if self.mode == "max" else "minimize"


OBJECTIVES = {
    DM_VAL_OBJECTIVE: Objective(DM_VAL_OBJECTIVE, DM_VAL, "max"),
    COST_OBJECTIVE: Objective(COST_OBJECTIVE, COST, "min"),
}


def objectives_of(names: list[str] | tuple[str, ...]) -> list[Objective]:
    """The objectives named in ``search.objectives``, in its order (names validated by the spec)."""
    return [OBJECTIVES[n] for n in names]


def is_multi_objective(names: list[str] | tuple[str, ...]) -> bool:
    return len(names) > 1
