"""Model selection: every separately trained model picks its own epoch on validation.

One protocol for baselines and candidates alike. A *model* is an encoder with
its heads (:func:`selection_units`): an STL run has one model per task, MTL and
GMHL one, GMTL one per task group; soft-shared encoders are trained coupled
(their penalty ties them), so a soft plan counts as one model. Each model keeps
the epoch where its validation criterion was best so far, and every task of the
model reports its validation and test score of that epoch:

    c_u(e) = Σ_{t ∈ u} (−1)^{l_t} (v_t(e) − B_t) / B_t

over the model's primary tasks with a usable baseline ``B_t`` (the model's
share of Δm(val), :mod:`mtlsearch.metrics.delta_m`), else (training the
baselines themselves, or a model of auxiliary tasks only)
``c_u(e) = Σ_{t ∈ u} (−1)^{l_t} v_t(e)``. A later epoch replaces the kept one
only when it is strictly better, so ties keep the earlier epoch.

Why per model: it is how a single-task baseline is selected (each task its own
early stopping), so the baseline's configuration run as a trial selects exactly
the baseline's epochs and scores Δm = 0 on val and test. A candidate is scored
by the checkpoints one would deploy: one epoch per separately trained model.
Because each model's criterion is its share of Δm(val), the selection's Δm(val)
never decreases from one epoch to the next; ASHA and the leaderboard rank it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mtlsearch.data.canonical import TaskInfo
from mtlsearch.models.plan import SharingPlan


def selection_units(plan: SharingPlan) -> list[list[str]]:
    """The separately trained models of ``plan``, as task names: its encoder groups, or one for soft sharing."""
    if plan.soft:
        return [list(plan.tasks)]
    return [list(g) for g in plan.encoder_groups]


@dataclass
class ModelSelection:
    """Per model, the best validation epoch so far; per task, that epoch's val and test scores (0-based epochs)."""

    units: list[list[str]]
    directions: dict[str, str]  # task -> "max" | "min"
    baselines: dict[str, float] = field(default_factory=dict)  # primary task -> baseline val score
    val: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    epoch: dict[str, int] = field(default_factory=dict)
    criterion: list[float | None] = field(default_factory=list)

    @classmethod
    def for_plan(cls, plan: SharingPlan, tasks: list[TaskInfo], baselines: dict[str, dict[str, float]]) -> "ModelSelection":
        return cls(selection_units(plan), {t.name: t.direction for t in tasks}, {name: b["val"] for name, b in baselines.items()})

    def __post_init__(self) -> None:
        if not self.criterion:
            self.criterion = [None] * len(self.units)

    def _criterion(self, unit: list[str], val: dict[str, float]) -> float:
        usable = [t for t in unit if t in self.baselines and self.baselines[t] != 0 and not math.isnan(self.baselines[t])]
        sign = {t: -1.0 if self.directions[t] == "min" else 1.0 for t in unit}
        if usable:
            return sum(sign[t] * (val[t] - self.baselines[t]) / self.baselines[t] for t in usable)
        return sum(sign[t] * val[t] for t in unit)

    def update(self, epoch: int, val: dict[str, float], test: dict[str, float]) -> list[str]:
        """Take ``epoch`` for every model whose criterion it strictly improves (the first epoch always);
        return the tasks whose selection moved to ``epoch``."""
        moved: list[str] = []
        for i, unit in enumerate(self.units):
            c = self._criterion(unit, val)
            old = self.criterion[i]
            if old is None or c > old:  # NaN never improves on a kept epoch
                self.criterion[i] = c
                for t in unit:
                    self.val[t], self.test[t], self.epoch[t] = val[t], test[t], epoch
                moved += unit
        return moved

    def state(self) -> dict:
        return {"val": self.val, "test": self.test, "epoch": self.epoch, "criterion": self.criterion}

    def load(self, state: dict) -> None:
        self.val, self.test, self.epoch = dict(state["val"]), dict(state["test"]), dict(state["epoch"])
        self.criterion = list(state.get("criterion") or [None] * len(self.units))
