"""``f1``: F1 of the positive class of a binary task (its decisions; threshold tunable)."""

from __future__ import annotations

import numpy as np

from mtlsearch.metrics.scores import binary_f1, binary_f1_from_counts
from mtlsearch.metrics.task_metrics import METRICS, Metric


@METRICS.register
class F1(Metric):
    """``f1``: ``F1 = 2TP / (2TP + FP + FN)`` of the positive class (label 1), the harmonic mean of precision and
    recall (van Rijsbergen, *Information Retrieval*, 1979); :func:`~mtlsearch.metrics.scores.binary_f1`."""

    name = "f1"
    scores = "decisions"
    tunable_threshold = True

    def __call__(self, values: np.ndarray, true: np.ndarray, num_classes: int) -> float:
        return binary_f1(values, true, num_classes)

    def threshold_scores(self, tp: np.ndarray, fp: np.ndarray, pos: int, neg: int) -> np.ndarray:
        return binary_f1_from_counts(tp, fp, pos)
