"""``dtp``: dynamic task prioritization (Guo, Haque, Huang, Yeung & Fei-Fei, ECCV 2018); its options and the strategy."""

from __future__ import annotations

from typing import Literal, Sequence

from pydantic import Field

from mtlsearch.plugins import LazyModule, PluginOptions
from mtlsearch.train.weightings import WEIGHTINGS
from mtlsearch.train.weightings.base import Weighting, _distributed

torch = LazyModule("torch")


class DTPOptions(PluginOptions):
    """``dtp``: the focusing parameter and the KPI's smoothing."""

    name: Literal["dtp"] = "dtp"
    gamma: float = Field(2.0, ge=0, description="focusing parameter γ")
    ema: float = Field(0.1, gt=0, le=1, description="weight of the newest batch in the KPI's moving average")


@WEIGHTINGS.register
class DTP(Weighting):
    """``dtp``: dynamic task prioritization (Guo, Haque, Huang, Yeung & Fei-Fei, ECCV 2018).

    Each task's key performance indicator ``κ_t ∈ [0, 1]`` is its training-batch
    accuracy (binary: logit > 0; multiclass: argmax), smoothed per step:
    ``κ_t ← ema · k_t + (1 − ema) · κ_t`` (the first batch sets ``κ_t = k_t``;
    a batch without labels for ``t`` leaves it). Harder tasks (low KPI) get
    larger weights, with focusing parameter ``gamma``:

        w_t = −(1 − κ_t)^γ · log κ_t          (κ_t clamped to [1e-4, 1])

    The batch's KPI enters before its step. Under DDP the correct/labelled
    counts are summed over ranks, so every rank sees the global batch accuracy.
    """

    name = "dtp"
    Options = DTPOptions
    needs_kpi = True

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, options: DTPOptions | None = None):
        super().__init__(tasks, world_size, seed, options)
        self.gamma = float(self.options.gamma)
        self.ema = float(self.options.ema)
        self.kpi: torch.Tensor | None = None

    def observe_kpi(self, correct: torch.Tensor, count: torch.Tensor) -> None:
        counts = torch.stack([correct.double(), count.double()])
        if _distributed(self.world_size):
            torch.distributed.all_reduce(counts)
        self.observe(counts[0].cpu(), counts[1].cpu())

    def observe(self, correct: torch.Tensor, count: torch.Tensor) -> None:
        """Update the smoothed KPIs with one global batch's counts."""
        labelled = count > 0
        k = torch.where(labelled, correct / count.clamp_min(1), torch.zeros_like(correct))
        if self.kpi is None:
            self.kpi = torch.where(labelled, k, torch.ones_like(k))
        else:
            self.kpi = torch.where(labelled, self.ema * k + (1 - self.ema) * self.kpi, self.kpi)

    def weights(self) -> torch.Tensor:
        if self.kpi is None:
            return torch.ones(len(self.tasks))
        return self.weights_from(self.kpi, self.gamma)

    @staticmethod
    def weights_from(kpi: torch.Tensor, gamma: float) -> torch.Tensor:
        k = kpi.double().clamp(1e-4, 1.0)
        return (-((1 - k) ** gamma) * torch.log(k)).float()

    def state_dict(self) -> dict:
        return {"kpi": None if self.kpi is None else self.kpi.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.kpi = state["kpi"]
