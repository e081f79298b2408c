"""Decision thresholds of binary tasks, chosen on validation (``evaluation.thresholds``).

A binary task scored by a threshold metric (one with ``tunable_threshold`` in
:data:`mtlsearch.metrics.task_metrics.METRICS`: F1 of the positive class, or the
ICBHI score ``(Sp + Se) / 2``) predicts positive when its probability ``p ≥ τ``.

* ``val_tuned`` (default): per task and epoch, ``τ`` maximises the task's metric
  on the validation split's predicted probabilities, and is applied unchanged
  to test. Candidates are the cuts between distinct probabilities (all examples
  with one probability fall on the same side), from "none positive"
  (``τ`` just above the largest probability) to "all positive"; on a tie the largest ``τ`` (fewest positives)
  wins. With the examples sorted by probability, predicting the top ``k``
  positive gives ``TP(k)`` and ``FP(k)`` as running sums, so every candidate is
  scored from counts in one pass, O(n log n):
  ``F1 = 2TP / (2TP + FP + FN)``, ``Se = TP / P``, ``Sp = (N − FP) / N``.
* ``fixed``: ``p > 0.5`` (logit > 0), nothing tuned.

Multiclass tasks take the argmax either way.
"""

from __future__ import annotations

import numpy as np

from mtlsearch.metrics.task_metrics import METRICS, threshold_metrics

VAL_TUNED = "val_tuned"
"""The default protocol (``evaluation.thresholds`` lists both names; ``fixed`` needs no code here)."""


def tune_threshold(probs: np.ndarray, true: np.ndarray, metric: str) -> float:
    """The threshold ``τ`` (predict positive when ``p ≥ τ``) that maximises ``metric`` on these labelled examples."""
    if metric not in METRICS or not METRICS.get(metric).tunable_threshold:
        raise ValueError(f"metric {metric!r} has no decision threshold; expected one of {sorted(threshold_metrics())}")
    probs, true = np.asarray(probs, dtype=np.float64), np.asarray(true)
    if len(probs) == 0:
        return 0.5
    order = np.argsort(-probs, kind="stable")
    p, y = probs[order], true[order] == 1
    cuts = np.flatnonzero(np.r_[p[1:] != p[:-1], True]) + 1  # k positives: the top k, never splitting a tie
    tp_all, fp_all = np.cumsum(y), np.cumsum(~y)
    k = np.r_[0, cuts]
    tp = np.r_[0, tp_all[cuts - 1]].astype(np.float64)
    fp = np.r_[0, fp_all[cuts - 1]].astype(np.float64)
    pos = int(y.sum())
    scores = METRICS[metric].threshold_scores(tp, fp, pos, len(y) - pos)
    best = int(np.argmax(scores))  # the first maximum: the fewest positives, the largest τ
    return float(np.nextafter(p[0], np.inf)) if k[best] == 0 else float(p[k[best] - 1])


def decide(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Class indices (0/1) of binary probabilities at ``threshold``: positive when ``p ≥ τ``."""
    return (np.asarray(probs) >= threshold).astype(np.int64)
