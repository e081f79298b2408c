"""``accuracy``: the fraction of exact matches (decisions)."""

from __future__ import annotations

import numpy as np

from mtlsearch.metrics.scores import accuracy
from mtlsearch.metrics.task_metrics import METRICS, Metric


@METRICS.register
class Accuracy(Metric):
    """``accuracy``: ``#(pred == true) / n`` (0 with no example); :func:`~mtlsearch.metrics.scores.accuracy`."""

    name = "accuracy"
    scores = "decisions"

    def __call__(self, values: np.ndarray, true: np.ndarray, num_classes: int) -> float:
        return accuracy(values, true, num_classes)
