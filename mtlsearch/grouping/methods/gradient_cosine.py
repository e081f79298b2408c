"""The ``gradient_cosine`` grouping method: cosine of per-task gradients (options: ``grouping_methods.affinity``)."""

from __future__ import annotations

from mtlsearch.grouping.methods import GROUPING_METHODS
from mtlsearch.grouping.methods.affinity_run import AffinityRun


@GROUPING_METHODS.register
class GradientCosineAffinity(AffinityRun):
    """cos(∇_{θ_s} L_i, ∇_{θ_s} L_j) of per-task gradients on the shared encoder, averaged over the measured steps."""

    name = "gradient_cosine"
    kind = "gradient_cosine"
