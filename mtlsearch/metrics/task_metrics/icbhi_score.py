"""``icbhi_score``: the official ICBHI 2017 challenge score (decisions; threshold tunable for binary tasks)."""

from __future__ import annotations

import numpy as np

from mtlsearch.metrics.scores import icbhi_score, icbhi_score_from_counts
from mtlsearch.metrics.task_metrics import METRICS, Metric


@METRICS.register
class ICBHIScore(Metric):
    """``icbhi_score``: ``(Sp + Se) / 2`` with class 0 the normal class, the score of the ICBHI 2017 respiratory
    sound challenge (Rocha et al., "An open access database for the evaluation of respiratory sound classification
    algorithms", Physiological Measurement 40(3), 2019). ``Sp``: share of class-0 examples predicted 0; ``Se``:
    share of the others predicted as exactly their class; a side with no examples is left out of the mean;
    :func:`~mtlsearch.metrics.scores.icbhi_score`."""

    name = "icbhi_score"
    scores = "decisions"
    tunable_threshold = True

    def __call__(self, values: np.ndarray, true: np.ndarray, num_classes: int) -> float:
        return icbhi_score(values, true, num_classes)

    def threshold_scores(self, tp: np.ndarray, fp: np.ndarray, pos: int, neg: int) -> np.ndarray:
        return icbhi_score_from_counts(tp, fp, pos, neg)
