"""The ``affinity`` grouping method: TAG lookahead affinity (options: ``grouping_methods.affinity``)."""

from __future__ import annotations

from mtlsearch.grouping.methods import GROUPING_METHODS
from mtlsearch.grouping.methods.affinity_run import AffinityRun


@GROUPING_METHODS.register
class LookaheadAffinity(AffinityRun):
    """TAG (Fifty et al., NeurIPS 2021): Z_{i→j} = 1 − L_j(θ′_{s|i}) / L_j(θ_s) after a lookahead SGD step on L_i."""

    name = "affinity"
    kind = "lookahead"
