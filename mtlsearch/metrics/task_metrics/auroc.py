"""``auroc``: area under the ROC curve of the class probabilities (threshold-free)."""

from __future__ import annotations

import numpy as np

from mtlsearch.metrics.scores import auroc
from mtlsearch.metrics.task_metrics import METRICS, Metric


@METRICS.register
class AUROC(Metric):
    """``auroc``: ``P(score of a random positive > score of a random negative)``, ties counting 1/2 — the
    Mann-Whitney U statistic over ``n₊ n₋`` (Hanley & McNeil, Radiology 143(1), 1982); one-vs-rest macro average for
    multiclass tasks, NaN when a class is absent; :func:`~mtlsearch.metrics.scores.auroc`."""

    name = "auroc"
    scores = "probabilities"

    def __call__(self, values: np.ndarray, true: np.ndarray, num_classes: int) -> float:
        return auroc(values, true, num_classes)
