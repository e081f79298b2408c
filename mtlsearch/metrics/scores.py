"""Per-task classification scores computed from predicted and true class indices.

Each metric takes integer arrays ``pred`` and ``true`` (missing labels already
removed) and the number of classes; all are in [0, 1], higher is better.
"""

from __future__ import annotations

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


METRICS: dict[str, Callable[[np.ndarray, np.ndarray, int], float]] = {
    "f1": binary_f1,
    "macro_f1": macro_f1,
    "accuracy": accuracy,
    "icbhi_score": icbhi_score,
}
