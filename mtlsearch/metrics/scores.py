"""Per-task classification scores computed from predicted and true class indices.

Each metric takes integer arrays ``pred`` and ``true`` (missing labels already
removed) and the number of classes; all are in [0, 1], higher is better.
:func:`auroc` and :func:`average_precision` are the exception: they rank class
probabilities instead of predicted classes (no decision threshold);
``evaluation.metric`` can make either the primary metric of every primary task.
The metrics are chosen by name through :data:`mtlsearch.metrics.task_metrics.METRICS`,
whose plugin classes call these formulas; :func:`binary_f1_from_counts` and
:func:`icbhi_score_from_counts` are the same scores of a binary task from counts,
for every candidate threshold at once (:mod:`mtlsearch.metrics.thresholds`).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def confusion(pred: np.ndarray, true: np.ndarray, num_classes: int) -> np.ndarray:
    """``C[i, j]`` = number of examples of true class ``i`` predicted as ``j``."""
    return np.bincount(true * num_classes + pred, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _f1_per_class(cm: np.ndarray) -> np.ndarray:
    tp = np.diag(cm).astype(float)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    denom = 2 * tp + fp + fn
    # F1 = 2TP / (2TP + FP + FN); a class never predicted nor present scores 0.
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def binary_f1(pred: np.ndarray, true: np.ndarray, num_classes: int = 2) -> float:
    """F1 of the positive class (label 1): 2TP / (2TP + FP + FN)."""
    return float(_f1_per_class(confusion(pred, true, 2))[1])


def macro_f1(pred: np.ndarray, true: np.ndarray, num_classes: int) -> float:
    """Unweighted mean of per-class F1 over all ``num_classes`` classes."""
    return float(_f1_per_class(confusion(pred, true, num_classes)).mean())


def accuracy(pred: np.ndarray, true: np.ndarray, num_classes: int) -> float:
    """Fraction of exact matches."""
    return float((pred == true).mean()) if len(true) else 0.0


def icbhi_specificity(pred: np.ndarray, true: np.ndarray, num_classes: int = 0) -> float:
    """ICBHI 2017 specificity ``Sp = (#normal predicted normal) / #normal``, class 0 being normal.

    NaN when there is no normal (class-0) example.
    """
    pred, true = np.asarray(pred), np.asarray(true)
    normal = true == 0
    return float((pred[normal] == 0).mean()) if normal.any() else math.nan


def icbhi_sensitivity(pred: np.ndarray, true: np.ndarray, num_classes: int = 0) -> float:
    """ICBHI 2017 sensitivity ``Se = (#abnormal predicted as exactly their class) / #abnormal``.

    Abnormal means any class other than 0 (normal); an abnormal example predicted
    as a different abnormal class counts as missed (the official definition, e.g.
    a crackle predicted as a wheeze). NaN when there is no abnormal example.
    """
    pred, true = np.asarray(pred), np.asarray(true)
    abnormal = true != 0
    return float((pred[abnormal] == true[abnormal]).mean()) if abnormal.any() else math.nan


def icbhi_score(pred: np.ndarray, true: np.ndarray, num_classes: int) -> float:
    """The official ICBHI 2017 challenge score ``(Sp + Se) / 2`` with class 0 as the normal class
    (Rocha et al., 2019; the score Tri-MTL reports).

    ``Sp``: share of class-0 examples predicted 0; ``Se``: share of the other
    examples predicted as exactly their class. A side with no examples is left
    out of the mean (0 when there are none at all).
    """
    pred, true = np.asarray(pred), np.asarray(true)
    normal = true == 0
    parts = []
    if normal.any():
        parts.append(float((pred[normal] == 0).mean()))
    if (~normal).any():
        parts.append(float((pred[~normal] == true[~normal]).mean()))
    return float(np.mean(parts)) if parts else 0.0


def _binary_auroc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney form: ``(Σ ranks of positives − n₊(n₊+1)/2) / (n₊ n₋)``, tied scores sharing their mean rank."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based mean rank of each distinct score
    ranks = mean_rank[inverse]
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auroc(scores: np.ndarray, true: np.ndarray, num_classes: int) -> float:
    """Area under the ROC curve from class probabilities (equal to scikit-learn's ``roc_auc_score``).

    Binary (``num_classes == 2``): ``scores`` is the positive-class (label 1)
    probability per example, shape ``(n,)`` (``(n, 1)`` and ``(n, 2)``, whose
    column 1 is used, are accepted too); AUROC = P(score of a random positive >
    score of a random negative), ties counting 1/2, computed from ranks
    (Mann-Whitney U): sklearn's input validation costs more than the whole
    computation, and the trainer scores every task every epoch.

    Multiclass: ``scores`` has shape ``(n, C)`` (softmax probabilities) and the
    result is the one-vs-rest macro average ``1/C · Σ_c AUROC(true == c, scores[:, c])``.

    NaN when a class is absent from ``true`` (binary: only one class present;
    multiclass: any of the ``C`` classes absent), since a one-vs-rest AUROC
    needs both positives and negatives of every class.
    """
    return _ranking_metric(_binary_auroc, scores, true, num_classes)


def _ranking_metric(
    binary: Callable[[np.ndarray, np.ndarray], float], scores: np.ndarray, true: np.ndarray, num_classes: int
) -> float:
    """``binary(positive, scores)`` of a binary task, or its one-vs-rest macro average over a multiclass task's classes;
    NaN when a class is absent from ``true``."""
    true = np.asarray(true)
    scores = np.asarray(scores, dtype=np.float64)
    if len(true) == 0 or len(np.unique(true)) < num_classes:
        return math.nan
    if num_classes == 2:
        if scores.ndim == 2:
            scores = scores[:, 1] if scores.shape[1] == 2 else scores[:, 0]
        return binary(true == 1, scores)
    return float(np.mean([binary(true == c, scores[:, c]) for c in range(num_classes)]))


def _binary_average_precision(positive: np.ndarray, scores: np.ndarray) -> float:
    """``AP = Σ_k (R_k − R_{k−1}) · P_k`` over the distinct scores as thresholds, highest first (no interpolation)."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], positive[order]
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # the last example of each run of tied scores
    tp = np.cumsum(y)[last].astype(np.float64)
    predicted = (last + 1).astype(np.float64)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * (tp / predicted)))


def average_precision(scores: np.ndarray, true: np.ndarray, num_classes: int) -> float:
    """Average precision from class probabilities (equal to scikit-learn's ``average_precision_score``).

    Binary: ``AP = Σ_k (R_k − R_{k−1}) · P_k``, the precision ``P_k`` and recall
    ``R_k`` of predicting positive at ``score ≥ s_k`` for each distinct score
    ``s_k`` from the highest down (a step-wise area under the precision-recall
    curve, no interpolation; tied scores enter together). ``scores`` as in
    :func:`auroc`. Multiclass: the one-vs-rest macro average over the ``C``
    classes. NaN when a class is absent from ``true`` (as :func:`auroc`).
    """
    return _ranking_metric(_binary_average_precision, scores, true, num_classes)


def binary_f1_from_counts(tp: np.ndarray, fp: np.ndarray, pos: int) -> np.ndarray:
    """:func:`binary_f1` from true and false positive counts (arrays, one entry per candidate) and ``P`` positives."""
    denom = tp + fp + pos  # 2TP + FP + FN = TP + FP + P
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def icbhi_score_from_counts(tp: np.ndarray, fp: np.ndarray, pos: int, neg: int) -> np.ndarray:
    """:func:`icbhi_score` of a binary task from counts: ``(Sp + Se) / 2``, ``Sp = (N − FP) / N``, ``Se = TP / P``;
    a side without examples is left out of the mean."""
    parts = []
    if neg:
        parts.append((neg - fp) / neg)
    if pos:
        parts.append(tp / pos)
    return np.mean(parts, axis=0) if parts else np.zeros_like(tp)
