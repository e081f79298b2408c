"""``mlp``: numeric features through ReLU layers; its options and its plugin."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mtlsearch.models.encoders import ENCODERS, Encoder
from mtlsearch.plugins import PluginOptions


class MLPOptions(PluginOptions):
    """``mlp``: numeric features → ``hidden_dims`` ReLU layers (the ``hidden_dim`` search dimension sets their widths)."""

    type: Literal["mlp"] = "mlp"
    hidden_dims: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [64, 32], min_length=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


@ENCODERS.register
class MLP(Encoder):
    """``mlp``: :class:`~mtlsearch.models.networks.MLPEncoder`; output size ``hidden_dims[-1]``."""

    name = "mlp"
    Options = MLPOptions

    def build(self, options: MLPOptions, in_dim: int, input_shape: tuple[int, ...] | None):
        from mtlsearch.models.networks import MLPEncoder

        return MLPEncoder(in_dim, list(options.hidden_dims), options.dropout)
