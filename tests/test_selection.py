"""Task-group selection from an affinity matrix: the objective, the exact DP, the heuristic, input errors.

Z[i, j] = Z_{i→j} (row = source, column = target). Brute forces here are independent of the
module: they enumerate partitions / group sets and score them with a direct implementation.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

from mtlsearch.grouping.selection import GroupSelection, grouping_score, select_groups

# rows: source i, columns: target j
Z4 = np.array(
    [
        [0.0, 1.0, 2.0, 0.0],
        [3.0, 0.0, 4.0, 1.0],
        [5.0, 6.0, 0.0, 2.0],
        [1.0, 1.0, 1.0, 0.0],
    ]
)


def direct_score(z: np.ndarray, groups) -> float:
    """The objective written out loop by loop: mean over tasks of the best group's mean transfer onto it."""
    t = len(z)
    total = 0.0
    for j in range(t):
        best = -np.inf
        for g in groups:
            if j in g:
                others = [i for i in g if i != j]
                v = sum(z[i][j] for i in others) / len(others) if others else 0.0
                best = max(best, v)
        total += best
    return total / t


def set_partitions(items: list[int], k: int):
    """All partitions of ``items`` into exactly k non-empty blocks."""
    if not items:
        if k == 0:
            yield []
        return
    first, rest = items[0], items[1:]
    for p in set_partitions(rest, k - 1):
        yield [[first]] + p
    for p in set_partitions(rest, k):
        for i in range(len(p)):
            yield p[:i] + [[first] + p[i]] + p[i + 1 :]


def stirling2(n: int, k: int) -> int:
    if n == k:
        return 1
    if k == 0 or k > n:
        return 0
    return k * stirling2(n - 1, k) + stirling2(n - 1, k - 1)


def assert_partition(sel: GroupSelection, t: int, k: int) -> None:
    assert len(sel.groups) == k
    assert all(len(g) > 0 for g in sel.groups)
    flat = [i for g in sel.groups for i in g]
    assert sorted(flat) == list(range(t)), "each task in exactly one group"
    assert_canonical(sel)


def assert_canonical(sel: GroupSelection) -> None:
    assert all(g == sorted(g) for g in sel.groups)
    assert sel.groups == sorted(sel.groups)
    assert all(type(i) is int for g in sel.groups for i in g)


# --- the objective, by hand --------------------------------------------------------------


def test_score_of_a_partition_by_hand():
    # {0,1}: v(·,0) = Z[1,0] = 3, v(·,1) = Z[0,1] = 1;  {2,3}: v(·,2) = Z[3,2] = 1, v(·,3) = Z[2,3] = 2
    assert grouping_score(Z4, [[0, 1], [2, 3]]) == pytest.approx(7 / 4)
    # {0,1,2}: v0 = (3+5)/2 = 4, v1 = (1+6)/2 = 3.5, v2 = (2+4)/2 = 3;  singleton {3}: 0
    assert grouping_score(Z4, [[0, 1, 2], [3]]) == pytest.approx(10.5 / 4)
    assert grouping_score(Z4, [[3], [2, 1, 0]]) == pytest.approx(10.5 / 4)  # order does not matter


def test_score_of_an_overlapping_solution_by_hand():
    # task 2 is in both groups: served by {0,1,2} (3) rather than {2,3} (Z[3,2] = 1); task 3 gets Z[2,3] = 2
    assert grouping_score(Z4, [[0, 1, 2], [2, 3]]) == pytest.approx((4 + 3.5 + 3 + 2) / 4)
    # rows are sources: the transpose scores differently (v2 = (5+6)/2, v3 = Z[3,2] = 1)
    assert grouping_score(Z4.T, [[0, 1, 2], [2, 3]]) == pytest.approx((1.5 + 3.5 + 5.5 + 1) / 4)


def test_singletons_score_zero_and_the_diagonal_is_ignored():
    assert grouping_score(Z4, [[0], [1], [2], [3]]) == 0.0
    noisy = Z4.copy()
    np.fill_diagonal(noisy, [100.0, -7.0, np.nan, np.inf])
    assert grouping_score(noisy, [[0, 1, 2], [2, 3]]) == pytest.approx(grouping_score(Z4, [[0, 1, 2], [2, 3]]))
    assert select_groups(noisy, 2) == select_groups(Z4, 2)


def test_select_on_the_hand_matrix():
    # the 7 partitions of 4 tasks into 2 groups total 9, 5.5, 3.5, 10.5, 7, 9 and 11 ({0,3}{1,2}: 1 + 0 + 6 + 4)
    sel = select_groups(Z4, 2)
    assert sel == GroupSelection(groups=[[0, 3], [1, 2]], score=pytest.approx(11 / 4), method="exact")
    over = select_groups(Z4, 2, overlapping=True)
    assert over.method == "exact"
    assert over.score >= (4 + 3.5 + 3 + 2) / 4 - 1e-12  # at least the hand-computed overlapping solution
    assert over.score == pytest.approx(direct_score(Z4, over.groups))


def test_grouping_score_matches_the_direct_objective():
    rng = np.random.default_rng(7)
    z = rng.normal(size=(6, 6))
    np.fill_diagonal(z, 0.0)
    for groups in ([[0, 1, 2, 3, 4, 5]], [[0, 5], [1, 2, 3], [4]], [[0, 1, 2], [2, 3, 4, 5], [1, 5], [0]]):
        assert grouping_score(z, groups) == pytest.approx(direct_score(z, groups))


# --- exact search equals brute force -----------------------------------------------------


@pytest.mark.parametrize("t", [1, 2, 3, 4, 5, 6, 7])
def test_exact_partition_equals_brute_force(t):
    rng = np.random.default_rng(100 + t)
    for k in range(1, t + 1):
        for _ in range(2):
            z = rng.normal(size=(t, t))
            partitions = list(set_partitions(list(range(t)), k))
            assert len(partitions) == stirling2(t, k)
            brute = max(direct_score(z, p) for p in partitions)
            sel = select_groups(z, k)
            assert sel.method == "exact"
            assert_partition(sel, t, k)
            assert sel.score == pytest.approx(brute, abs=1e-12)
            assert direct_score(z, sel.groups) == pytest.approx(brute, abs=1e-12)


def brute_force_overlapping(z: np.ndarray, k: int) -> float:
    """Max over every set of k distinct non-empty groups covering all tasks (vectorized over the sets)."""
    t = len(z)
    candidates = [c for r in range(1, t + 1) for c in itertools.combinations(range(t), r)]
    v = np.full((len(candidates), t), -np.inf)
    for n, c in enumerate(candidates):
        for j in c:
            others = [i for i in c if i != j]
            v[n, j] = np.mean([z[i, j] for i in others]) if others else 0.0
    combos = np.array(list(itertools.combinations(range(len(candidates)), k)))
    served = v[combos].max(axis=1)  # (sets, T); -inf where a task is in none of the k groups
    totals = served.sum(axis=1)
    return float(totals[np.isfinite(totals)].max() / t)


@pytest.mark.parametrize("t", [2, 3, 4, 5])
def test_exact_overlapping_equals_brute_force(t):
    rng = np.random.default_rng(200 + t)
    for k in range(1, t + 1):
        for _ in range(2):
            z = rng.normal(size=(t, t))
            brute = brute_force_overlapping(z, k)
            over = select_groups(z, k, overlapping=True)
            assert over.method == "exact"
            assert_canonical(over)
            assert 1 <= len(over.groups) <= k
            assert len({tuple(g) for g in over.groups}) == len(over.groups), "no duplicate groups"
            assert sorted({i for g in over.groups for i in g}) == list(range(t)), "every task covered"
            assert over.score == pytest.approx(brute, abs=1e-12)
            assert direct_score(z, over.groups) == pytest.approx(brute, abs=1e-12)
            assert over.score >= select_groups(z, k).score - 1e-12


def test_overlapping_strictly_beats_partition_when_a_task_helps_two_groups():
    # task 2 transfers strongly onto 0, 1, 3 and 4; {0,1} and {3,4} dislike each other
    z = np.full((5, 5), -1.0)
    z[2, :] = 2.0
    z[0, 1] = z[1, 0] = z[3, 4] = z[4, 3] = 1.0
    over = select_groups(z, 2, overlapping=True)
    part = select_groups(z, 2)
    assert over.groups == [[0, 1, 2], [2, 3, 4]]
    # v0 = (Z[1,0] + Z[2,0]) / 2 = 1.5 = v1 = v3 = v4; task 2 gets (Z[0,2] + Z[1,2]) / 2 = -1 from either group
    assert over.score == pytest.approx((1.5 + 1.5 - 1 + 1.5 + 1.5) / 5)
    # the best partition gives task 2 to one side only: {0,1}{2,3,4} = (1 + 1 - 1 + 1.5 + 1.5) / 5
    assert part.score == pytest.approx(4 / 5)


def test_overlapping_merges_identical_groups():
    # every group of two or more tasks serves every member equally: the optimum for k = 3 needs only 2 groups
    z = np.ones((3, 3))
    over = select_groups(z, 3, overlapping=True)
    assert over.score == pytest.approx(1.0)
    assert len(over.groups) < 3
    assert len({tuple(g) for g in over.groups}) == len(over.groups)


# --- planted blocks ------------------------------------------------------------------------


def planted(seed: int = 0) -> tuple[np.ndarray, list[list[int]]]:
    rng = np.random.default_rng(seed)
    blocks = [[0, 4, 8, 9], [1, 2, 6, 11], [3, 5, 7, 10]]  # interleaved indices: not found by index order
    label = np.empty(12, dtype=int)
    for b, block in enumerate(blocks):
        label[block] = b
    same = label[:, None] == label[None, :]
    z = np.where(same, 0.5, -0.3) + rng.normal(scale=0.1, size=(12, 12))
    return z, blocks


def test_planted_blocks_are_found_exactly_and_by_the_heuristic():
    z, blocks = planted()
    exact = select_groups(z, 3)
    heuristic = select_groups(z, 3, exact_max_tasks=0)
    assert exact.method == "exact" and heuristic.method == "local_search"
    assert exact.groups == blocks
    assert heuristic.groups == blocks
    assert heuristic.score == pytest.approx(exact.score, abs=1e-12)
    assert select_groups(z, 3, overlapping=True, exact_max_tasks=0).score >= exact.score - 1e-12


# --- heuristic ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", range(6))
def test_heuristic_reaches_the_exact_optimum(case):
    rng = np.random.default_rng(300 + case)
    t = 10 + case % 3
    k = 2 + case % 5
    z = rng.normal(size=(t, t))
    if case % 2:  # mostly positive transfer with small differences
        z = 0.1 * np.abs(z) + rng.normal(scale=0.02, size=(t, t))
    exact = select_groups(z, k)
    heuristic = select_groups(z, k, exact_max_tasks=0, seed=case)
    assert heuristic.method == "local_search"
    assert_partition(heuristic, t, k)
    assert heuristic.score == pytest.approx(exact.score, abs=1e-9)


@pytest.mark.parametrize(("t", "k"), [(23, 4), (50, 7), (100, 10)])
def test_heuristic_on_large_instances_returns_valid_partitions(t, k):
    rng = np.random.default_rng(t)
    z = rng.normal(scale=0.1, size=(t, t))
    start = time.perf_counter()
    sel = select_groups(z, k)
    elapsed = time.perf_counter() - start
    assert sel.method == "local_search"
    assert_partition(sel, t, k)
    assert sel.score == pytest.approx(direct_score(z, sel.groups))
    assert elapsed < 10.0
    # no single-task move or pairwise swap improves the returned partition
    assign = np.empty(t, dtype=int)
    for g, group in enumerate(sel.groups):
        assign[group] = g
    for task in range(0, t, max(1, t // 12)):
        for g in range(k):
            if g != assign[task] and len(sel.groups[assign[task]]) > 1:
                moved = [[i for i in grp if i != task] + ([task] if h == g else []) for h, grp in enumerate(sel.groups)]
                assert grouping_score(z, moved) <= sel.score + 1e-9


@pytest.mark.parametrize(("t", "k"), [(23, 4), (50, 7)])
def test_heuristic_overlapping_on_large_instances(t, k):
    rng = np.random.default_rng(t + 1)
    z = rng.normal(scale=0.1, size=(t, t))
    part = select_groups(z, k)
    over = select_groups(z, k, overlapping=True)
    assert over.method == "local_search"
    assert_canonical(over)
    assert 1 <= len(over.groups) <= k
    assert sorted({i for g in over.groups for i in g}) == list(range(t))
    assert over.score == pytest.approx(direct_score(z, over.groups))
    assert over.score >= part.score - 1e-12


def test_heuristic_overlapping_is_close_to_exact_on_small_instances():
    rng = np.random.default_rng(11)
    gaps = []
    for case in range(4):
        t, k = 9 + case % 2, 3 + case % 2
        z = rng.normal(size=(t, t))
        exact = select_groups(z, k, overlapping=True)
        heuristic = select_groups(z, k, overlapping=True, exact_max_tasks=0, seed=case)
        assert heuristic.score <= exact.score + 1e-9
        gaps.append((exact.score - heuristic.score) / abs(exact.score))
    assert max(gaps) < 0.05


def test_heuristic_is_deterministic_given_the_seed():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(30, 30))
    for overlapping in (False, True):
        a = select_groups(z, 5, overlapping=overlapping, seed=3, restarts=4)
        b = select_groups(z, 5, overlapping=overlapping, seed=3, restarts=4)
        assert a == b


@pytest.mark.parametrize("overlapping", [False, True])
@pytest.mark.parametrize(("t", "k"), [(1, 1), (2, 1), (2, 2), (3, 3), (5, 1), (5, 5)])
def test_edge_sizes_exact_and_heuristic_agree(t, k, overlapping):
    z = np.random.default_rng(t * 10 + k).normal(size=(t, t))
    exact = select_groups(z, k, overlapping=overlapping)
    heuristic = select_groups(z, k, overlapping=overlapping, exact_max_tasks=0, restarts=2)
    assert heuristic.score == pytest.approx(exact.score, abs=1e-12)
    if not overlapping:
        assert_partition(exact, t, k)
        assert_partition(heuristic, t, k)


def test_selection_is_frozen():
    sel = select_groups(Z4, 2)
    with pytest.raises(FrozenInstanceError):
        sel.score = 0.0  # type: ignore[misc]


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("affinity", "message"),
    [
        (np.zeros((3, 4)), "square"),
        (np.zeros(4), "square"),
        (np.zeros((2, 2, 2)), "square"),
        (np.zeros((0, 0)), "at least one task"),
        ([["a", "b"], ["c", "d"]], "numeric"),
    ],
)
def test_bad_matrices_are_rejected(affinity, message):
    with pytest.raises(ValueError, match=message):
        select_groups(affinity, 1)
    with pytest.raises(ValueError, match=message):
        grouping_score(affinity, [[0]])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_affinities_are_rejected(bad):
    z = Z4.copy()
    z[1, 3] = bad
    with pytest.raises(ValueError, match=r"finite.*\[1, 3\]"):
        select_groups(z, 2)
    with pytest.raises(ValueError, match="finite"):
        grouping_score(z, [[0, 1, 2, 3]])


@pytest.mark.parametrize("k", [0, -1, 5])
def test_k_out_of_range(k):
    with pytest.raises(ValueError, match=rf"k must be between 1 and the number of tasks \(4\), got {k}"):
        select_groups(Z4, k)


@pytest.mark.parametrize("k", [2.5, "2", True])
def test_k_must_be_an_integer(k):
    with pytest.raises(ValueError, match="k must be an integer"):
        select_groups(Z4, k)


def test_bad_options():
    assert select_groups(Z4, np.int64(2)).groups == [[0, 3], [1, 2]]
    with pytest.raises(ValueError, match="exact_max_tasks must be between 0 and 16"):
        select_groups(Z4, 2, exact_max_tasks=17)
    with pytest.raises(ValueError, match="exact_max_tasks must be between 0 and 16"):
        select_groups(Z4, 2, exact_max_tasks=-1)
    with pytest.raises(ValueError, match="restarts must be at least 1"):
        select_groups(Z4, 2, exact_max_tasks=0, restarts=0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        select_groups(Z4, 2, seed=1.5)


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([], "at least one group"),
        ([[0, 1], []], r"groups\[1\] is empty"),
        ([[0, 1, 2, 4]], r"task index 4, outside 0\.\.3"),
        ([[0, -1, 1, 2, 3]], r"task index -1"),
        ([[0, 1, 1], [2, 3]], "repeats a task"),
        ([[0, 1], [3]], r"not covered: \[2\]"),
        ([[0, 1.5], [2, 3]], "must be an integer"),
    ],
)
def test_bad_groups_are_rejected(groups, message):
    with pytest.raises(ValueError, match=message):
        grouping_score(Z4, groups)
