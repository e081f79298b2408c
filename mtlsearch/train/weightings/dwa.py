"""``dwa``: dynamic weight average (Liu, Johns & Davison, CVPR 2019); its options and the strategy."""

from __future__ import annotations

from typing import Literal, Sequence

from pydantic import Field

from mtlsearch.plugins import LazyModule, PluginOptions
from mtlsearch.train.weightings import WEIGHTINGS
from mtlsearch.train.weightings.base import Weighting, average

torch = LazyModule("torch")


class DWAOptions(PluginOptions):
    """``dwa``: the softmax temperature."""

    name: Literal["dwa"] = "dwa"
    temperature: float = Field(2.0, gt=0)


@WEIGHTINGS.register
class DWA(Weighting):
    """``dwa``: dynamic weight average (Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019).

    With ``L_t(e)`` the mean training loss of task ``t`` over epoch ``e`` and ``T``
    tasks, the weights of epoch ``e`` are

        r_t = L_t(e−1) / L_t(e−2),    w_t(e) = T · exp(r_t / temperature) / Σ_i exp(r_i / temperature)

    and 1 for the first two epochs. Epoch means are over all ranks (all-reduced).
    """

    name = "dwa"
    Options = DWAOptions

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, options: DWAOptions | None = None):
        super().__init__(tasks, world_size, seed, options)
        self.temperature = float(self.options.temperature)
        self.history: list[torch.Tensor] = []  # the last two epochs' mean task losses
        self._sum = torch.zeros(len(self.tasks), dtype=torch.float64)
        self._steps = 0
        self._w = torch.ones(len(self.tasks))

    def weights(self) -> torch.Tensor:
        return self._w

    def backward(self, losses: torch.Tensor) -> torch.Tensor:
        self._sum = self._sum.to(losses.device) + losses.detach().double()
        self._steps += 1
        return super().backward(losses)

    def end_epoch(self) -> None:
        mean = self._sum / max(self._steps, 1)
        average([mean], self.world_size)
        self.end_epoch_with(mean.cpu())
        self._sum = torch.zeros(len(self.tasks), dtype=torch.float64)
        self._steps = 0

    def end_epoch_with(self, mean_task_losses: torch.Tensor) -> None:
        """Record one epoch's (global) mean task losses and set the next epoch's weights."""
        self.history = [*self.history, mean_task_losses.double()][-2:]
        self._w = self.weights_from(self.history, self.temperature)

    @staticmethod
    def weights_from(history: Sequence[torch.Tensor], temperature: float) -> torch.Tensor:
        if len(history) < 2:
            return torch.ones(len(history[0]))
        r = history[-1] / history[-2].clamp_min(1e-12)
        return (len(r) * torch.softmax(r / temperature, dim=0)).float()

    def state_dict(self) -> dict:
        return {"history": [h.clone() for h in self.history]}

    def load_state_dict(self, state: dict) -> None:
        self.history = []
        self._w = torch.ones(len(self.tasks))
        for h in state["history"]:
            self.end_epoch_with(h)
