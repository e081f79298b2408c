"""The optimizers a spec can name (``train.optimizer``), and building one.

The table is torch-free, so the spec takes its names from here without
importing torch; :func:`make_optimizer` looks the class up in ``torch.optim``.
"""

from __future__ import annotations

from typing import Any

OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "adam": ("Adam", {}),
    "adamw": ("AdamW", {}),
    "sgd": ("SGD", {"momentum": 0.9}),
}
"""Spec name -> (``torch.optim`` class, its fixed keyword arguments besides lr and weight decay)."""


def make_optimizer(name: str, params, lr: float, weight_decay: float):
    """The ``torch.optim`` optimizer ``name`` over ``params``; ValueError naming the known ones when unknown."""
    import torch

    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {list(OPTIMIZERS)}")
    cls, fixed = OPTIMIZERS[name]
    return getattr(torch.optim, cls)(params, lr=lr, weight_decay=weight_decay, **fixed)
