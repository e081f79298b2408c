"""The fusions of multimodal inputs, without torch: what a spec validates (``model.fusion.type``) and what
:class:`~mtlsearch.models.fusion.FusedEncoder` builds."""

from __future__ import annotations

FUSION_TYPES = ("concat", "linear", "attention")
"""``model.fusion.type``: see :class:`~mtlsearch.models.encoders.multimodal.FusionOptions`."""
PROJECTED = ("concat", "linear")
"""The fusions that project the concatenated outputs with one linear layer."""
