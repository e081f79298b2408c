"""``macro_f1``: the unweighted mean of per-class F1 (decisions)."""

from __future__ import annotations

import numpy as np

from mtlsearch.metrics.scores import macro_f1
from mtlsearch.metrics.task_metrics import METRICS, Metric


@METRICS.register
class MacroF1(Metric):
    """``macro_f1``: ``1/C · Σ_c F1_c`` over all ``C`` classes, ``F1_c = 2TP_c / (2TP_c + FP_c + FN_c)``, a class
    never predicted nor present scoring 0; :func:`~mtlsearch.metrics.scores.macro_f1`."""

    name = "macro_f1"
    scores = "decisions"

    def __call__(self, values: np.ndarray, true: np.ndarray, num_classes: int) -> float:
        return macro_f1(values, true, num_classes)
