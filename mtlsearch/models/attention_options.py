"""Cross-task attention's settings without torch: what a spec and a plan validate (the layer:
:mod:`mtlsearch.models.cross_task_attention`)."""

from __future__ import annotations

import math

LEARNED = "learned"
"""``attention_gamma: learned``: γ is a trained scalar."""
LEARNED_GAMMA_INIT = 0.0
DEFAULT_ATTENTION_DIM = 16


def check_gamma(value: float | str) -> float | str:
    """``value`` as a plan stores it: a finite float, or :data:`LEARNED`; ValueError otherwise."""
    if value == LEARNED:
        return LEARNED
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"attention_gamma must be a finite number or {LEARNED!r}, got {value!r}")
    return float(value)
