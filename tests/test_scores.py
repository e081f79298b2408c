import numpy as np
import pytest

from mtlsearch.metrics.scores import accuracy, binary_f1, confusion, macro_f1


def test_binary_f1_hand_computed():
    true = np.array([1, 1, 1, 0, 0, 0, 0])
    pred = np.array([1, 1, 0, 1, 0, 0, 0])
    # TP=2 FP=1 FN=1 -> F1 = 4/6
    assert binary_f1(pred, true) == pytest.approx(4 / 6)


def test_binary_f1_without_positives_is_zero():
    assert binary_f1(np.zeros(4, int), np.zeros(4, int)) == 0.0


def test_macro_f1_hand_computed():
    true = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    # class0: TP1 FP1 FN1 -> .5 ; class1: TP2 FP1 FN0 -> .8 ; class2: TP1 FP0 FN1 -> 2/3
    assert macro_f1(pred, true, 3) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert accuracy(pred, true, 3) == pytest.approx(4 / 6)


def test_confusion_layout():
    cm = confusion(np.array([1, 0, 1]), np.array([0, 0, 1]), 2)
    assert cm.tolist() == [[1, 1], [0, 1]]
