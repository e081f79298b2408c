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


# -- AUROC and the ICBHI parts --------------------------------------------------

import math  # noqa: E402

from sklearn.metrics import roc_auc_score  # noqa: E402

from mtlsearch.metrics.scores import auroc, average_precision, icbhi_score, icbhi_sensitivity, icbhi_specificity  # noqa: E402


def test_auroc_binary_hand_computed():
    true = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    # (pos, neg) pairs ranked right: 0.35>0.1, 0.8>0.1, 0.8>0.4; wrong: 0.35<0.4 -> 3/4
    assert auroc(scores, true, 2) == pytest.approx(0.75)
    assert auroc(np.array([0.5, 0.5]), np.array([0, 1]), 2) == pytest.approx(0.5)  # a tie counts 1/2
    assert auroc(np.stack([1 - scores, scores], axis=1), true, 2) == pytest.approx(0.75)


def test_auroc_multiclass_hand_computed_one_vs_rest_macro():
    true = np.array([0, 1, 2, 2])
    scores = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    # class 0: 0.6 beats 0.2, 0.1, 0.5 -> 1; class 1: 0.5 beats 0.3, 0.2, 0.25 -> 1;
    # class 2: positives 0.7, 0.25 against negatives 0.1, 0.3 -> 3 of 4 pairs -> 0.75
    assert auroc(scores, true, 3) == pytest.approx((1 + 1 + 0.75) / 3)


def test_auroc_matches_sklearn():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 2, 200)
    p = np.clip(true * 0.3 + rng.random(200) * 0.7, 0, 1)
    assert auroc(p, true, 2) == pytest.approx(roc_auc_score(true, p))
    true4 = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + np.eye(4)[true4]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = np.mean([roc_auc_score(true4 == c, probs[:, c]) for c in range(4)])
    assert auroc(probs, true4, 4) == pytest.approx(expected)
    assert auroc(probs.astype(np.float32), true4, 4) == pytest.approx(expected, abs=1e-6)


def test_average_precision_hand_computed():
    # scores high to low: +, -, +, - ; P at each positive: 1/1, 2/3; recall steps 1/2 each -> AP = (1 + 2/3) / 2
    true = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    assert average_precision(scores, true, 2) == pytest.approx((1 + 2 / 3) / 2)
    # a tie enters at once: top two tied (+, -) -> P = 1/2 at recall 1/2, then + at 0.7 -> P 2/3 at recall 1
    assert average_precision(np.array([0.9, 0.9, 0.7, 0.1]), true, 2) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_average_precision_matches_sklearn_with_ties_and_multiclass():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(1)
    true = rng.integers(0, 2, 300)
    p = np.round(np.clip(true * 0.3 + rng.random(300) * 0.7, 0, 1), 1)  # many ties
    assert average_precision(p, true, 2) == pytest.approx(average_precision_score(true, p))
    true3 = rng.integers(0, 3, 200)
    probs = rng.dirichlet([1, 1, 1], 200)
    assert average_precision(probs, true3, 3) == pytest.approx(average_precision_score(np.eye(3)[true3], probs, average="macro"))
    assert math.isnan(average_precision(np.array([0.2, 0.7]), np.array([0, 0]), 2))


def test_auroc_nan_when_a_class_is_absent():
    assert math.isnan(auroc(np.array([0.2, 0.7]), np.array([1, 1]), 2))
    assert math.isnan(auroc(np.full((3, 3), 1 / 3), np.array([0, 1, 1]), 3))
    assert math.isnan(auroc(np.zeros(0), np.zeros(0, int), 2))


def test_icbhi_specificity_sensitivity_and_score():
    true = np.array([0, 0, 0, 1, 2, 3])
    pred = np.array([0, 1, 0, 1, 3, 0])
    # Sp: 2 of 3 normals predicted normal; Se: 1 of 3 abnormal predicted as exactly their class
    assert icbhi_specificity(pred, true, 4) == pytest.approx(2 / 3)
    assert icbhi_sensitivity(pred, true, 4) == pytest.approx(1 / 3)
    assert icbhi_score(pred, true, 4) == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert math.isnan(icbhi_specificity(np.array([1]), np.array([1]), 4))
    assert math.isnan(icbhi_sensitivity(np.array([1]), np.array([0]), 4))


def test_auroc_with_ties_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    for _ in range(20):
        true = rng.integers(0, 2, 200)
        p = np.round(rng.random(200), 1)  # many tied scores
        assert auroc(p, true, 2) == pytest.approx(roc_auc_score(true, p), abs=1e-12)
        true3 = rng.integers(0, 3, 300)
        probs = rng.dirichlet(np.ones(3), 300).round(2)
        probs = probs / probs.sum(axis=1, keepdims=True)
        assert auroc(probs, true3, 3) == pytest.approx(roc_auc_score(true3, probs, multi_class="ovr", average="macro"), abs=1e-12)
