"""``average_precision``: the step-wise area under the precision-recall curve (threshold-free)."""

from __future__ import annotations

import numpy as np

from mtlsearch.metrics.scores import average_precision
from mtlsearch.metrics.task_metrics import METRICS, Metric


@METRICS.register
class AveragePrecision(Metric):
    """``average_precision``: ``AP = Σ_k (R_k − R_{k−1}) · P_k`` over the distinct scores as thresholds, highest
    first, no interpolation (scikit-learn's ``average_precision_score``); one-vs-rest macro average for multiclass
    tasks, NaN when a class is absent; :func:`~mtlsearch.metrics.scores.average_precision`."""

    name = "average_precision"
    scores = "probabilities"

    def __call__(self, values: np.ndarray, true: np.ndarray, num_classes: int) -> float:
        return average_precision(values, true, num_classes)
