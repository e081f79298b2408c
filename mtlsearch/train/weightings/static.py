"""``static``: fixed task weights; its options and the strategy."""

from __future__ import annotations

from typing import Annotated, Literal, Sequence

from pydantic import Field

from mtlsearch.models.plan import copy_source
from mtlsearch.plugins import LazyModule, PluginOptions
from mtlsearch.train.weightings import WEIGHTINGS
from mtlsearch.train.weightings.base import Weighting

torch = LazyModule("torch")


class StaticOptions(PluginOptions):
    """``static``: ``weights`` per task (tasks not listed: 1); ``search.space.static_weights`` searches them."""

    name: Literal["static"] = "static"
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)


@WEIGHTINGS.register
class Static(Weighting):
    """``static``: fixed weights, ``L = Σ_t w_t L_t``; ``weights: {task: w_t}`` (unlisted tasks: 1).

    The search may open one weight per primary task (``search.space.static_weights``),
    the classic grid/random search over loss weights (e.g. Kendall et al. 2018, Fig. 2).
    """

    name = "static"
    Options = StaticOptions

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, options: StaticOptions | None = None):
        super().__init__(tasks, world_size, seed, options)
        weights = self.options.weights
        # a copy of a task trained in several groups (mtlsearch.models.plan) takes its task's weight
        unknown = sorted(set(weights) - set(self.tasks) - {copy_source(t) for t in self.tasks})
        if unknown:
            raise ValueError(f"weighting 'static': weights for unknown tasks {unknown}; tasks are {self.tasks}")
        self._w = torch.tensor([float(weights.get(t, weights.get(copy_source(t), 1.0))) for t in self.tasks])

    def weights(self) -> torch.Tensor:
        return self._w
