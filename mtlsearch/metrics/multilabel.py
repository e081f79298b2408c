"""Scores over a set of binary tasks read as one multi-label problem.

The set is a dataset's primary binary tasks (e.g. the MeSH categories of a
document, the findings of a chest X-ray): example ``i`` has the label vector
``Y[i, :]`` with ``Y[i, l] ∈ {0, 1}`` and the model predicts ``P[i, l] ∈ {0, 1}``
(a probability above 0.5; thresholds are not tuned). A missing label is ``-1``
in ``Y``.

Missing labels: F1 masks per label (cell ``(i, l)`` counts only where
``Y[i, l]`` is known), so the macro-F1 is exactly the mean of the tasks' own
binary F1; subset accuracy needs the whole vector, so it counts only the
examples labelled for every task of the set. With complete labels both rules
use every example.

With ``TP_l``, ``FP_l``, ``FN_l`` the counts of label ``l`` over its labelled
examples and ``F1 = 2TP / (2TP + FP + FN)`` (0 when that denominator is 0, as in
:func:`mtlsearch.metrics.scores.binary_f1`):

* macro-F1 = ``1/L · Σ_l F1(TP_l, FP_l, FN_l)``
* micro-F1 = ``F1(Σ_l TP_l, Σ_l FP_l, Σ_l FN_l)``
* subset accuracy = ``1/|R| · Σ_{i ∈ R} [P[i, :] == Y[i, :]]`` over the set ``R``
  of fully labelled examples (NaN when ``R`` is empty).
"""

from __future__ import annotations

import math

import numpy as np


def _counts(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-label TP, FP, FN over the labelled cells of ``(n, L)`` arrays."""
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.shape != true.shape or pred.ndim != 2:
        raise ValueError(f"pred and true must be (n, L) arrays of the same shape, got {pred.shape} and {true.shape}")
    known = true >= 0
    p, t = (pred == 1) & known, (true == 1) & known
    tp = (p & t).sum(axis=0).astype(float)
    fp = (p & ~t & known).sum(axis=0).astype(float)
    fn = (~p & t).sum(axis=0).astype(float)
    return tp, fp, fn


def _f1(tp, fp, fn):
    tp, fp, fn = np.asarray(tp, float), np.asarray(fp, float), np.asarray(fn, float)
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def multilabel_macro_f1(pred: np.ndarray, true: np.ndarray) -> float:
    """``1/L · Σ_l 2TP_l / (2TP_l + FP_l + FN_l)``, per-label masking of missing labels (NaN when L = 0)."""
    tp, fp, fn = _counts(pred, true)
    return float(_f1(tp, fp, fn).mean()) if tp.size else math.nan


def multilabel_micro_f1(pred: np.ndarray, true: np.ndarray) -> float:
    """``2ΣTP / (2ΣTP + ΣFP + ΣFN)``, counts pooled over all labelled (example, label) cells."""
    tp, fp, fn = _counts(pred, true)
    return float(_f1(tp.sum(), fp.sum(), fn.sum())) if tp.size else math.nan


def subset_accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    """Share of fully labelled examples whose whole predicted label vector is right (NaN when there is none)."""
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.shape != true.shape or pred.ndim != 2:
        raise ValueError(f"pred and true must be (n, L) arrays of the same shape, got {pred.shape} and {true.shape}")
    full = (true >= 0).all(axis=1)
    if true.shape[1] == 0 or not full.any():
        return math.nan
    return float((pred[full] == true[full]).all(axis=1).mean())


def multilabel_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """``{"macro_f1", "micro_f1", "subset_acc"}`` of ``(n, L)`` predictions against labels (``-1`` = missing)."""
    return {
        "macro_f1": multilabel_macro_f1(pred, true),
        "micro_f1": multilabel_micro_f1(pred, true),
        "subset_acc": subset_accuracy(pred, true),
    }
