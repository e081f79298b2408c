"""CO-TASK's task-aware imbalance sampler (mtlsearch.train.sampler): weights, distribution, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtlsearch.train.sampler import (
    SINGLETON_WEIGHT,
    TaskAwareSampler,
    class_probabilities,
    class_weight,
    class_weights,
    major_task_probs,
)


def test_weight_function():
    assert class_weight(0) == 0.0
    assert class_weight(1) == SINGLETON_WEIGHT == math.log(2) / 2  # documented choice for n_c = 1
    for n in (2, 3, 10, 1000, 10**6):
        assert class_weight(n) == pytest.approx(math.log(n) / n, rel=1e-15)
    # the class total g(n) = n·w(n) increases strictly with n (paper: larger classes get a slightly higher total)
    totals = [n * class_weight(n) for n in range(0, 2000)]
    assert all(a < b for a, b in zip(totals, totals[1:]))
    assert class_weights([0, 1, 2, 100]).tolist() == [0.0, math.log(2) / 2, math.log(2) / 2, math.log(100) / 100]
    with pytest.raises(ValueError):
        class_weights([3, -1])
    with pytest.raises(ValueError):
        class_probabilities([0, 0])


# A hand-made training set: task A (3 classes) has counts 90 / 9 / 1 and 10 missing labels,
# task B (binary) 40 / 60 and 10 missing, task E has no label at all.
def hand_made() -> np.ndarray:
    n = 110
    a = np.array([0] * 90 + [1] * 9 + [2] * 1 + [-1] * 10)
    b = np.array([1] * 60 + [0] * 40 + [-1] * 10)
    rng = np.random.default_rng(0)
    perm = rng.permutation(n)
    y = np.stack([a[perm], b[rng.permutation(n)], np.full(n, -1)], axis=1).astype(np.int64)
    return y


def test_class_probabilities_of_a_hand_made_count_table():
    y = hand_made()
    s = TaskAwareSampler(y, ["A", "B", "E"], batch_size=8, seed=0, task_probs={"A": 1, "B": 1})
    assert s.class_counts("A").tolist() == [90, 9, 1]
    assert s.class_counts("B").tolist() == [40, 60]
    # analytically: class c gets n_c·w(n_c) = log n_c (log(2)/2 for the singleton), normalised
    mass_a = np.array([math.log(90), math.log(9), math.log(2) / 2])
    np.testing.assert_allclose(s.class_probabilities("A"), mass_a / mass_a.sum(), rtol=1e-14)
    mass_b = np.array([math.log(40), math.log(60)])
    np.testing.assert_allclose(s.class_probabilities(1), mass_b / mass_b.sum(), rtol=1e-14)
    # per example: w(n_c) / Σ_i w(n_{c_i}); missing labels 0
    w = {0: math.log(90) / 90, 1: math.log(9) / 9, 2: math.log(2) / 2}
    raw = np.array([w[int(c)] if c >= 0 else 0.0 for c in y[:, 0]])
    p = s.sample_probabilities("A")
    np.testing.assert_allclose(p, raw / raw.sum(), rtol=1e-14)
    assert p.sum() == pytest.approx(1.0) and np.all(p[y[:, 0] < 0] == 0)
    # per example, smaller classes weigh more (w(90) < w(9) < w(1) = log(2)/2); per class, larger ones get more in total
    assert p[y[:, 0] == 0][0] < p[y[:, 0] == 1][0] < p[y[:, 0] == 2][0]
    assert s.class_probabilities("A")[2] < s.class_probabilities("A")[1] < s.class_probabilities("A")[0]


def test_empirical_draws_follow_the_distribution():
    y = hand_made()
    s = TaskAwareSampler(y, ["A", "B", "E"], batch_size=1000, seed=3, task_probs={"A": 1})
    draws = np.concatenate([s.draw(0, step)[1] for step in range(200)])  # 200 000 draws
    n = draws.size
    expected = s.sample_probabilities("A")
    freq = np.bincount(draws, minlength=y.shape[0]) / n
    # every example within 5 standard deviations of its probability
    sd = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(freq - expected) <= 5 * sd + 1e-12)
    cls = np.bincount(y[draws, 0], minlength=3) / n
    p_cls = s.class_probabilities("A")
    assert np.all(np.abs(cls - p_cls) <= 5 * np.sqrt(p_cls * (1 - p_cls) / n))


def test_missing_labels_are_never_drawn():
    y = hand_made()
    s = TaskAwareSampler(y, ["A", "B", "E"], batch_size=8, seed=1, task_probs=[1, 1, 0])
    seen = {0: 0, 1: 0}
    for epoch in range(3):
        for t, idx in s.epoch(epoch):
            assert t in (0, 1)
            assert np.all(y[idx, t] >= 0)
            seen[t] += 1
    assert seen[0] > 0 and seen[1] > 0


def test_a_task_without_labels_needs_probability_zero():
    y = hand_made()
    with pytest.raises(ValueError, match="'E' has no labelled training example"):
        TaskAwareSampler(y, ["A", "B", "E"], batch_size=4, seed=0)  # uniform gives E 1/3
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['Z'\]"):
        TaskAwareSampler(y, ["A", "B", "E"], batch_size=4, seed=0, task_probs={"Z": 1})
    with pytest.raises(ValueError, match="one entry per task"):
        TaskAwareSampler(y, ["A", "B", "E"], batch_size=4, seed=0, task_probs=[1, 1])
    with pytest.raises(ValueError, match="columns"):
        TaskAwareSampler(y, ["A", "B"], batch_size=4, seed=0)


def test_draws_are_a_pure_function_of_seed_epoch_step():
    y = hand_made()
    a = TaskAwareSampler(y, ["A", "B", "E"], batch_size=32, seed=7, task_probs=[1, 1, 0])
    b = TaskAwareSampler(y, ["A", "B", "E"], batch_size=32, seed=7, task_probs=[1, 1, 0])
    late = b.draw(2, 3)  # drawn first, out of order
    all_a = [[a.draw(e, k) for k in range(a.steps_per_epoch)] for e in range(3)]
    assert all_a[2][3][0] == late[0] and np.array_equal(all_a[2][3][1], late[1])
    for e in range(3):
        for k, (t, idx) in enumerate(b.epoch(e)):
            assert t == all_a[e][k][0] and np.array_equal(idx, all_a[e][k][1])
    assert not np.array_equal(all_a[0][0][1], all_a[0][1][1])
    assert not np.array_equal(all_a[0][0][1], all_a[1][0][1])
    other = TaskAwareSampler(y, ["A", "B", "E"], batch_size=32, seed=8, task_probs=[1, 1, 0])
    assert not np.array_equal(other.draw(0, 0)[1], all_a[0][0][1])


def test_steps_per_epoch_and_batch_shape():
    y = np.zeros((103, 1), np.int64)
    y[::2] = 1
    s = TaskAwareSampler(y, ["t"], batch_size=10, seed=0)
    assert s.steps_per_epoch == 11 == math.ceil(103 / 10)
    batches = list(s.epoch(0))
    assert len(batches) == 11
    assert all(t == 0 and idx.shape == (10,) and idx.dtype == np.int64 for t, idx in batches)
    assert TaskAwareSampler(y, ["t"], batch_size=103, seed=0).steps_per_epoch == 1


def test_rank_shares_split_the_global_batch():
    y = hand_made()
    s = TaskAwareSampler(y, ["A", "B", "E"], batch_size=10, seed=0, task_probs=[1, 0, 0])
    _, idx = s.draw(0, 0)
    r0, r1 = s.rank_share(idx, 0, 2), s.rank_share(idx, 1, 2)
    assert np.array_equal(r0, idx[0::2]) and np.array_equal(r1, idx[1::2])
    merged = np.empty_like(idx)
    merged[0::2], merged[1::2] = r0, r1
    assert np.array_equal(merged, idx)
    with pytest.raises(ValueError):
        s.rank_share(idx, 2, 2)


def test_task_picking_uniform_and_towards_major_tasks():
    names = ["m", "a", "b", "c"]
    p = major_task_probs(names, ["m"], 0.7)
    np.testing.assert_allclose(p, [0.7, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(major_task_probs(names), [0.25] * 4)
    np.testing.assert_allclose(major_task_probs(names, names, 0.9), [0.25] * 4)
    with pytest.raises(ValueError, match="unknown major task"):
        major_task_probs(names, ["x"])
    y = np.random.default_rng(0).integers(0, 2, size=(50, 4))
    n = 4000
    for probs, want in ((None, [0.25] * 4), (p, p)):
        s = TaskAwareSampler(y, names, batch_size=1, seed=2, task_probs=probs)
        freq = np.bincount([s.draw(0, k)[0] for k in range(n)], minlength=4) / n
        want = np.asarray(want)
        assert np.all(np.abs(freq - want) <= 5 * np.sqrt(want * (1 - want) / n))


def test_works_on_primary_tasks_alone_with_multiclass_labels():
    y = np.array([[0], [0], [0], [0], [1], [1], [2]], np.int64)
    s = TaskAwareSampler(y, ["primary"], batch_size=4, seed=0)
    mass = np.array([math.log(4), math.log(2), math.log(2) / 2])
    np.testing.assert_allclose(s.class_probabilities(0), mass / mass.sum())
