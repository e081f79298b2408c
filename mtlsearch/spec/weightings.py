"""Loss-weighting settings: one options model per strategy and the ``WeightingSpec`` union chosen by ``name``.

``equal``, ``static``, ``uncertainty``, ``dwa``, ``gradnorm``, ``dtp`` and
``pcgrad`` (:mod:`mtlsearch.train.weighting` implements them by these names);
``WEIGHTING_SPECS``/``WEIGHTING_NAMES`` list them, and ``WeightingSpec`` is the
tagged union ``train.weighting`` is validated against (default ``equal``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mtlsearch.spec.names import Strict, keyed_union


class EqualWeightingSpec(Strict):
    """``equal``: ``Σ_t L_t`` (the default)."""

    name: Literal["equal"] = "equal"


class StaticWeightingSpec(Strict):
    """``static``: ``Σ_t w_t L_t`` with fixed weights (tasks not listed: 1); ``search.space.static_weights`` searches them."""

    name: Literal["static"] = "static"
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)


class UncertaintyWeightingSpec(Strict):
    """``uncertainty``: Kendall et al. 2018, ``Σ_t exp(−s_t) L_t + ½ s_t`` with trainable log-variances ``s_t``."""

    name: Literal["uncertainty"] = "uncertainty"
    init_log_var: float = Field(0.0, description="initial s_t = log σ_t²")


class DWAWeightingSpec(Strict):
    """``dwa``: dynamic weight average (Liu et al. 2019), weights from the last two epochs' loss ratios."""

    name: Literal["dwa"] = "dwa"
    temperature: float = Field(2.0, gt=0)


class GradNormWeightingSpec(Strict):
    """``gradnorm``: GradNorm (Chen et al. 2018), trainable weights balancing gradient norms at the last shared layer."""

    name: Literal["gradnorm"] = "gradnorm"
    alpha: float = Field(1.5, ge=0, description="restoring force; 0 equalises gradient norms")


class DTPWeightingSpec(Strict):
    """``dtp``: dynamic task prioritization (Guo et al. 2018), ``−(1−κ_t)^γ log κ_t`` from each task's smoothed batch accuracy."""

    name: Literal["dtp"] = "dtp"
    gamma: float = Field(2.0, ge=0, description="focusing parameter γ")
    ema: float = Field(0.1, gt=0, le=1, description="weight of the newest batch in the KPI's moving average")


class PCGradWeightingSpec(Strict):
    """``pcgrad``: PCGrad (Yu et al. 2020), conflicting task gradients on the shared parameters projected apart."""

    name: Literal["pcgrad"] = "pcgrad"


WEIGHTING_SPECS: dict[str, type[BaseModel]] = {
    "equal": EqualWeightingSpec,
    "static": StaticWeightingSpec,
    "uncertainty": UncertaintyWeightingSpec,
    "dwa": DWAWeightingSpec,
    "gradnorm": GradNormWeightingSpec,
    "dtp": DTPWeightingSpec,
    "pcgrad": PCGradWeightingSpec,
}
WEIGHTING_NAMES = tuple(WEIGHTING_SPECS)
"""Loss-weighting strategies (:mod:`mtlsearch.train.weighting` implements one class each, by these names)."""


WeightingSpec = keyed_union(
    WEIGHTING_SPECS,
    "name",
    "equal",
    "weighting",
    f"expected a mapping with name: one of {list(WEIGHTING_SPECS)} and that strategy's options",
)
"""The loss-weighting strategy, chosen by ``name`` (default ``equal``), with its options."""
