"""``uncertainty``: homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018); its options and the strategy."""

from __future__ import annotations

from typing import Literal, Sequence

from pydantic import Field

from mtlsearch.plugins import LazyModule, PluginOptions
from mtlsearch.train.weightings import WEIGHTINGS
from mtlsearch.train.weightings.base import Weighting

torch = LazyModule("torch")
nn = LazyModule("torch.nn")


class UncertaintyOptions(PluginOptions):
    """``uncertainty``: the initial log-variance."""

    name: Literal["uncertainty"] = "uncertainty"
    init_log_var: float = Field(0.0, description="initial s_t = log σ_t²")


@WEIGHTINGS.register
class Uncertainty(Weighting):
    """``uncertainty``: homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).

    With one trainable log-variance ``s_t = log σ_t²`` per task, the classification
    form of the paper (Eq. 10, ``L ≈ L_t/σ_t² + log σ_t``):

        L = Σ_t exp(−s_t) · L_t + ½ s_t,      ∂L/∂s_t = −exp(−s_t) L_t + ½

    Weights ``w_t = exp(−s_t)``; ``init_log_var`` is the initial ``s_t``.
    """

    name = "uncertainty"
    Options = UncertaintyOptions

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, options: UncertaintyOptions | None = None):
        super().__init__(tasks, world_size, seed, options)
        self.log_var = nn.Parameter(torch.full((len(self.tasks),), float(self.options.init_log_var)))

    def bind(self, params, shared=(), candidates=None) -> "Weighting":
        super().bind(params, shared, candidates)
        if self.params:
            self.log_var.data = self.log_var.data.to(self.params[0].device)
        return self

    def weights(self) -> torch.Tensor:
        return torch.exp(-self.log_var.detach())

    def objective(self, losses: torch.Tensor) -> torch.Tensor:
        s = self.log_var.to(losses.dtype)
        return (torch.exp(-s) * losses + 0.5 * s).sum()

    def extra_parameters(self) -> list[nn.Parameter]:
        return [self.log_var]

    def state_dict(self) -> dict:
        return {"log_var": self.log_var.detach().cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        self.log_var.data.copy_(state["log_var"])
