"""Encoders, one small class per input kind, in a registry keyed by the spec's ``model.encoder.type``."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class MLPEncoder(nn.Module):
    """Numeric features → ``hidden_dims`` ReLU layers (with optional dropout); output size ``hidden_dims[-1]``."""

    def __init__(self, in_dim: int, hidden_dims: list[int], dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_dim
        for h in hidden_dims:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            prev = h
        self.net = nn.Sequential(*layers)
        self.out_dim = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


ENCODERS: dict[str, Callable[..., nn.Module]] = {"mlp": MLPEncoder}


def build_encoder(cfg: dict, in_dim: int) -> nn.Module:
    """Instantiate an encoder from the spec's encoder settings (``type`` plus its arguments)."""
    kwargs = {k: v for k, v in cfg.items() if k != "type"}
    return ENCODERS[cfg.get("type", "mlp")](in_dim, **kwargs)
