"""CO-TASK auxiliary-task generation (mtlsearch.tasks.cotask): each definition of the paper pinned."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from mtlsearch.data.canonical import DatasetInfo, TaskInfo
from mtlsearch.metrics.delta_m import delta_m
from mtlsearch.tasks.cotask import (
    AuxTask,
    allowed_mappings,
    auxiliary_labels,
    auxiliary_task_info,
    auxiliary_task_infos,
    auxiliary_train_labels,
    downsample_keep_count,
    downsample_mask,
    generate_auxiliary_tasks,
)


def binary(name: str, role: str = "primary") -> TaskInfo:
    return TaskInfo(name, "binary", ("negative", "positive"), role=role, metric="f1")


def random_labels(n: int, t: int, seed: int = 0, missing: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=(n, t)).astype(np.int64)
    y[rng.random((n, t)) < missing] = -1
    return y


TASKS6 = [binary(f"t{k}") for k in range(6)]  # 15 distinct pairs
Y6 = random_labels(400, 6, seed=1, missing=0.1)


# -- pairs and mappings ---------------------------------------------------------------------------


def test_two_binary_tasks_never_get_both_positive_vs_rest():
    assert allowed_mappings(binary("a"), binary("b")) == [(0, 0), (0, 1), (1, 0)]
    seen = set()
    for seed in range(300):
        for min_count in (0, 1):
            for aux in generate_auxiliary_tasks(TASKS6, Y6, m=15, seed=seed, min_class_count=min_count):
                assert aux.classes != (1, 1), (seed, aux)
                seen.add(aux.classes)
    assert seen == {(0, 0), (0, 1), (1, 0)}  # the three allowed mappings all occur


def test_mapping_is_uniform_over_the_allowed_ones():
    counts = {(0, 0): 0, (0, 1): 0, (1, 0): 0}
    draws = 0
    for seed in range(200):
        for aux in generate_auxiliary_tasks(TASKS6, Y6, m=15, seed=seed):
            counts[aux.classes] += 1
            draws += 1
    sd = math.sqrt(draws * (1 / 3) * (2 / 3))
    for c in counts.values():
        assert abs(c - draws / 3) < 5 * sd


def test_multiclass_sources_use_every_class_pair():
    a = TaskInfo("a", "multiclass", ("x", "y", "z"), metric="macro_f1")
    b = binary("b")
    assert allowed_mappings(a, b) == [
        (x, y) for x in range(3) for y in range(2)
    ]  # (2, 1) etc. allowed: only binary×binary loses (1, 1)
    y = np.stack([np.tile([0, 1, 2], 20), np.repeat([0, 1], 30)], axis=1)
    seen = {generate_auxiliary_tasks([a, b], y, m=1, seed=s)[0].classes for s in range(200)}
    assert seen == set(allowed_mappings(a, b))


def test_pairs_are_distinct_and_m_is_bounded_by_the_pair_count():
    for seed in range(50):
        auxs = generate_auxiliary_tasks(TASKS6, Y6, m=15, seed=seed)
        pairs = [frozenset(a.sources) for a in auxs]
        assert len(set(pairs)) == 15  # all 15 pairs, each once
        assert all(len(p) == 2 for p in pairs)
        assert [a.index for a in auxs] == list(range(15))
        # sources follow the order of the task list
        order = [t.name for t in TASKS6]
        assert all(order.index(a.sources[0]) < order.index(a.sources[1]) for a in auxs)
    some = generate_auxiliary_tasks(TASKS6, Y6, m=7, seed=3)
    assert len({frozenset(a.sources) for a in some}) == 7
    with pytest.raises(ValueError, match=r"m=16 .* only 15 distinct pairs of 6 primary tasks"):
        generate_auxiliary_tasks(TASKS6, Y6, m=16, seed=0)
    assert generate_auxiliary_tasks(TASKS6, Y6, m=0, seed=0) == []


def test_only_primary_tasks_are_combined():
    tasks = [binary("a"), binary("b"), binary("meta", role="metadata"), binary("c")]
    y = random_labels(200, 4, seed=2)
    auxs = generate_auxiliary_tasks(tasks, y, m=3, seed=0)
    assert {frozenset(a.sources) for a in auxs} == {frozenset(p) for p in itertools.combinations("abc", 2)}
    with pytest.raises(ValueError, match="only 3 distinct pairs of 3 primary tasks"):
        generate_auxiliary_tasks(tasks, y, m=4, seed=0)


def test_degenerate_mappings_are_skipped_unless_min_class_count_is_0():
    # b is a copy of a: (0, 1) and (1, 0) have no example, so (0, 0) is the only useful mapping
    col = np.array([0, 1] * 50)
    y = np.stack([col, col], axis=1)
    tasks = [binary("a"), binary("b")]
    assert {generate_auxiliary_tasks(tasks, y, 1, s)[0].classes for s in range(100)} == {(0, 0)}
    assert {generate_auxiliary_tasks(tasks, y, 1, s, min_class_count=0)[0].classes for s in range(100)} == {
        (0, 0),
        (0, 1),
        (1, 0),
    }
    # a pair whose only non-constant mapping would be "both positive" is not drawn at all
    y_all_pos = np.ones((50, 2), np.int64)
    with pytest.raises(ValueError, match="of which 0 have a mapping"):
        generate_auxiliary_tasks(tasks, y_all_pos, 1, 0)


# -- major tasks ----------------------------------------------------------------------------------


def test_major_prob_is_the_chance_that_a_pair_contains_a_major_task():
    n = 3000
    with_major = sum(
        "t0" in generate_auxiliary_tasks(TASKS6, Y6, 1, s, major=["t0"], major_prob=0.8)[0].sources for s in range(n)
    )
    uniform = sum("t0" in generate_auxiliary_tasks(TASKS6, Y6, 1, s)[0].sources for s in range(n))
    # uniform: 5 of the 15 pairs contain t0
    assert abs(uniform / n - 1 / 3) < 4 * math.sqrt((1 / 3) * (2 / 3) / n)
    assert abs(with_major / n - 0.8) < 4 * math.sqrt(0.8 * 0.2 / n)
    assert with_major > 2 * uniform


def test_major_prob_one_takes_major_pairs_until_they_run_out():
    for seed in range(20):
        auxs = generate_auxiliary_tasks(TASKS6, Y6, m=7, seed=seed, major=["t0"], major_prob=1.0)
        assert all("t0" in a.sources for a in auxs[:5])  # the 5 pairs containing t0 first
        assert all("t0" not in a.sources for a in auxs[5:])
        none = generate_auxiliary_tasks(TASKS6, Y6, m=10, seed=seed, major=["t0"], major_prob=0.0)
        assert all("t0" not in a.sources for a in none)  # the 10 pairs without t0


def test_unknown_or_non_primary_major_task_is_an_error():
    with pytest.raises(ValueError, match=r"unknown major task\(s\) \['nope'\]"):
        generate_auxiliary_tasks(TASKS6, Y6, 2, 0, major=["t1", "nope"])
    tasks = [*TASKS6[:3], binary("m", role="metadata")]
    with pytest.raises(ValueError, match="must be primary tasks"):
        generate_auxiliary_tasks(tasks, Y6[:, :4], 1, 0, major=["m"])
    with pytest.raises(ValueError, match="major_prob"):
        generate_auxiliary_tasks(TASKS6, Y6, 1, 0, major=["t0"], major_prob=1.5)


def test_generation_is_deterministic_from_the_seed():
    a = generate_auxiliary_tasks(TASKS6, Y6, 6, seed=11, major=["t2"], major_prob=0.7)
    b = generate_auxiliary_tasks(TASKS6, Y6, 6, seed=11, major=["t2"], major_prob=0.7)
    assert a == b
    others = {tuple(generate_auxiliary_tasks(TASKS6, Y6, 6, seed=s)) for s in range(10)}
    assert len(others) > 1


# -- labels ---------------------------------------------------------------------------------------


def test_labels_on_a_hand_made_matrix_with_missing_labels():
    names = ["A", "B", "C"]
    y = np.array(
        [
            # A   B   C
            [1, 0, 0],  # A=1,B=0 -> 1
            [1, 1, 0],  # B differs -> 0
            [0, 0, 1],  # A differs -> 0
            [-1, 0, 1],  # A missing -> -1
            [1, -1, 0],  # B missing -> -1
            [0, 1, -1],  # C missing is irrelevant -> 0
            [1, 0, -1],  # -> 1
        ]
    )
    aux = AuxTask(0, ("A", "B"), (1, 0))
    assert auxiliary_labels(aux, y, names).tolist() == [1, 0, 0, -1, -1, 0, 1]
    assert auxiliary_labels(aux, y, names).dtype == np.int64
    aux_cb = AuxTask(1, ("C", "B"), (0, 0))  # source order need not follow the columns
    assert auxiliary_labels(aux_cb, y, names).tolist() == [1, 0, 0, 0, -1, -1, -1]
    with pytest.raises(ValueError, match=r"source task\(s\) \['D'\]"):
        auxiliary_labels(AuxTask(2, ("A", "D"), (0, 0)), y, names)


def test_generated_labels_match_the_definition():
    names = [t.name for t in TASKS6]
    for aux in generate_auxiliary_tasks(TASKS6, Y6, 15, seed=5):
        i, j = names.index(aux.sources[0]), names.index(aux.sources[1])
        x, z = aux.classes
        got = auxiliary_labels(aux, Y6, names)
        for r in range(Y6.shape[0]):
            a, b = Y6[r, i], Y6[r, j]
            want = -1 if a < 0 or b < 0 else int(a == x and b == z)
            assert got[r] == want


# -- down-sampling --------------------------------------------------------------------------------


def test_downsampling_keeps_exactly_one_nth():
    pair = AuxTask(0, ("a", "b"), (0, 1))
    triple = AuxTask(1, ("a", "b", "c"), (0, 1, 0))
    assert downsample_mask(pair, 1000, seed=0).sum() == 500
    assert downsample_mask(triple, 900, seed=0).sum() == 300
    # not divisible: rounded up (documented), never empties a non-empty pool
    assert downsample_keep_count(7, 2) == 4 and downsample_mask(pair, 7, seed=0).sum() == 4
    assert downsample_keep_count(1, 2) == 1 and downsample_keep_count(0, 2) == 0
    for n_pool in range(0, 60):
        for n in (1, 2, 3, 5):
            k = downsample_keep_count(n_pool, n)
            assert k == math.ceil(n_pool / n) and 0 <= k * n - n_pool < n


def test_downsampling_over_the_labelled_pool():
    pair = AuxTask(3, ("a", "b"), (1, 0))
    labeled = np.zeros(101, bool)
    labeled[::3] = True  # 34 labelled
    mask = downsample_mask(pair, 101, seed=4, labeled=labeled)
    assert mask.sum() == 17 and not np.any(mask & ~labeled)


def test_downsampling_is_deterministic_and_differs_across_tasks_and_seeds():
    a, b = AuxTask(0, ("a", "b"), (0, 1)), AuxTask(1, ("a", "c"), (0, 1))
    assert np.array_equal(downsample_mask(a, 500, 1), downsample_mask(a, 500, 1))
    assert not np.array_equal(downsample_mask(a, 500, 1), downsample_mask(a, 500, 2))
    assert not np.array_equal(downsample_mask(a, 500, 1), downsample_mask(b, 500, 1))


def test_train_labels_are_downsampled_labels():
    names = [t.name for t in TASKS6]
    auxs = generate_auxiliary_tasks(TASKS6, Y6, 4, seed=9)
    train = auxiliary_train_labels(auxs, Y6, names, seed=9)
    assert train.shape == (Y6.shape[0], 4) and train.dtype == np.int64
    for k, aux in enumerate(auxs):
        full = auxiliary_labels(aux, Y6, names)
        kept = train[:, k] >= 0
        assert kept.sum() == math.ceil((full >= 0).sum() / 2)
        assert np.array_equal(train[kept, k], full[kept])
    assert np.array_equal(train, auxiliary_train_labels(auxs, Y6, names, seed=9))


# -- task info ------------------------------------------------------------------------------------


def test_task_info_of_an_auxiliary_task():
    tasks = [binary("C01"), binary("C04")]
    aux = AuxTask(0, ("C01", "C04"), (1, 0))
    info = auxiliary_task_info(aux, tasks)
    assert info.name == "aux_00:C01+C04" and aux.name == info.name
    assert info.role == "auxiliary" and info.kind == "binary" and info.num_outputs == 1
    assert info.metric == "f1" and info.direction == "max"  # scored like a binary primary
    assert info.classes == ("other", "C01 = positive and C04 = negative")
    assert [i.name for i in auxiliary_task_infos([aux, AuxTask(12, ("C04", "C01"), (0, 0))], tasks)] == [
        "aux_00:C01+C04",
        "aux_12:C04+C01",
    ]
    assert AuxTask.from_dict(aux.to_dict()) == aux


def test_auxiliary_tasks_never_count_in_delta_m():
    tasks = [binary("C01"), binary("C04")]
    aux = auxiliary_task_info(AuxTask(0, ("C01", "C04"), (1, 0)), tasks)
    info = DatasetInfo("d", (*tasks, aux), "x", 3, "fp")
    assert [t.name for t in info.primary_tasks()] == ["C01", "C04"]
    baselines = {t.name: 0.5 for t in info.primary_tasks()}
    scores = {"C01": 0.6, "C04": 0.5, aux.name: 0.0}
    assert delta_m(scores, baselines) == pytest.approx(10.0)


def test_aux_task_rejects_bad_definitions():
    with pytest.raises(ValueError):
        AuxTask(0, ("a",), (0,))
    with pytest.raises(ValueError):
        AuxTask(0, ("a", "a"), (0, 1))
    with pytest.raises(ValueError):
        AuxTask(0, ("a", "b"), (0,))


def test_labels_outside_the_task_classes_are_an_error():
    y = Y6.copy()
    y[0, 2] = 2  # t2 is binary
    with pytest.raises(ValueError, match=r"task 't2': training labels must lie in -1..1"):
        generate_auxiliary_tasks(TASKS6, y, 1, 0)
