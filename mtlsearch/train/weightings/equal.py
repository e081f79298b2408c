"""``equal``: the unweighted sum of the task losses (the default); its options and the strategy."""

from __future__ import annotations

from typing import Literal

from mtlsearch.plugins import LazyModule, PluginOptions
from mtlsearch.train.weightings import WEIGHTINGS
from mtlsearch.train.weightings.base import Weighting

torch = LazyModule("torch")


class EqualOptions(PluginOptions):
    """``equal``: no options."""

    name: Literal["equal"] = "equal"


@WEIGHTINGS.register
class Equal(Weighting):
    """``equal``: ``L = Σ_t L_t`` (every weight 1), the default."""

    name = "equal"
    Options = EqualOptions

    def backward(self, losses: torch.Tensor) -> torch.Tensor:
        loss = losses.sum()
        loss.backward()
        return loss.detach()
