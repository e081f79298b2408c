import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from mtlsearch.metrics.multilabel import multilabel_macro_f1, multilabel_micro_f1, multilabel_scores, subset_accuracy
from mtlsearch.metrics.scores import binary_f1

Y = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 0]])
P = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 1, 0]])
# label 0: TP2 FP0 FN0 -> F1 1 ; label 1: TP1 FP1 FN1 -> 1/2 ; label 2: TP1 FP0 FN1 -> 2/3
# pooled: TP4 FP1 FN2 -> 8/11 ; exact rows: only row 1 -> 1/4


def test_hand_computed_complete_labels():
    assert multilabel_macro_f1(P, Y) == pytest.approx((1 + 1 / 2 + 2 / 3) / 3)
    assert multilabel_micro_f1(P, Y) == pytest.approx(8 / 11)
    assert subset_accuracy(P, Y) == pytest.approx(1 / 4)
    assert multilabel_scores(P, Y) == pytest.approx({"macro_f1": 13 / 18, "micro_f1": 8 / 11, "subset_acc": 0.25})


def test_matches_sklearn_on_complete_labels():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 2, (100, 5)), rng.integers(0, 2, (100, 5))
    assert multilabel_macro_f1(p, y) == pytest.approx(f1_score(y, p, average="macro"))
    assert multilabel_micro_f1(p, y) == pytest.approx(f1_score(y, p, average="micro"))
    assert subset_accuracy(p, y) == pytest.approx(accuracy_score(y, p))


def test_missing_labels_masked_per_label_and_subset_needs_full_rows():
    y = np.vstack([Y, [1, -1, 0]])
    p = np.vstack([P, [1, 1, 1]])
    # the new row adds a TP to label 0 and an FP to label 2 (label 1 is unknown there):
    # label 0: F1 1 ; label 1: 1/2 ; label 2: TP1 FP1 FN1 -> 1/2 ; pooled TP5 FP2 FN2 -> 10/14
    assert multilabel_macro_f1(p, y) == pytest.approx((1 + 1 / 2 + 1 / 2) / 3)
    assert multilabel_micro_f1(p, y) == pytest.approx(10 / 14)
    assert subset_accuracy(p, y) == pytest.approx(1 / 4)  # the partly labelled row is left out
    # macro-F1 is the mean of the tasks' own binary F1 over their labelled examples
    per_task = [binary_f1(p[y[:, j] >= 0, j], y[y[:, j] >= 0, j]) for j in range(3)]
    assert multilabel_macro_f1(p, y) == pytest.approx(np.mean(per_task))


def test_edge_cases():
    assert math.isnan(subset_accuracy(np.array([[1, 0]]), np.array([[1, -1]])))
    assert multilabel_macro_f1(np.zeros((3, 2), int), np.zeros((3, 2), int)) == 0.0  # no positives anywhere: F1 0
    with pytest.raises(ValueError):
        multilabel_micro_f1(np.zeros((3, 2)), np.zeros((3, 3)))
