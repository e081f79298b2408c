"""The affinity run decides its own length and says how reliable its matrix is (mtlsearch/grouping/reliability.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import all_task_job
from sklearn.metrics import adjusted_rand_score

from mtlsearch.data.canonical import read_info
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.grouping.reliability import (
    MIN_MEASUREMENTS,
    SEPARATION_MIN,
    SPLIT_HALF_MIN,
    Calibration,
    best_separation,
    describe,
    interaction,
    mean_transfer,
    reliability_warning,
    running_mean,
    separation,
    split_half,
)

T = 9
BLOCKS = np.repeat([0, 1, 2], 3)


def _block(rng, noise: float) -> np.ndarray:
    return np.where(BLOCKS[:, None] == BLOCKS[None, :], 1.0, -0.5) + noise * rng.standard_normal((T, T))


def test_interaction_removes_row_and_column_effects():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(T), rng.standard_normal(T)
    additive = a[:, None] + b[None, :]
    np.testing.assert_allclose(interaction(additive), 0.0, atol=1e-12)
    assert interaction(additive).shape == (T * (T - 1),)


def test_split_half_is_high_for_a_consistent_structure_and_blind_to_row_and_column_effects():
    rng = np.random.default_rng(1)
    assert split_half([_block(rng, 0.3) for _ in range(8)]) > 0.9
    # a strong task effect (some tasks help every other) shared by all steps, plus noise: no pair structure
    a, b = 3 * rng.standard_normal(T), 3 * rng.standard_normal(T)
    effects = [a[:, None] + b[None, :] + rng.standard_normal((T, T)) for _ in range(8)]
    raw = np.corrcoef(*(running_mean(effects[i::2])[~np.eye(T, dtype=bool)] for i in (0, 1)))[0, 1]
    assert raw > 0.9 and abs(split_half(effects)) < 0.5
    assert math.isnan(split_half([_block(rng, 0.3)]))  # one measurement: no halves


def test_running_mean_skips_undefined_entries():
    a = np.array([[1.0, np.nan], [2.0, 3.0]])
    b = np.array([[3.0, np.nan], [np.nan, 5.0]])
    np.testing.assert_array_equal(running_mean([a, b]), [[2.0, 0.0], [2.0, 4.0]])


def test_calibration_stops_when_the_mean_transfer_turns_negative_and_keeps_its_most_reliable_check():
    rng = np.random.default_rng(2)
    cal = Calibration(ks=[3])  # three equal blocks: at k=2 which two merge is up to the noise
    steps = [_block(rng, 0.2) - 1.0 for _ in range(2)]  # epoch 1: negative mean transfer, which never stops a run
    assert mean_transfer(running_mean(steps)) < 0 and not cal.check(steps, 1)
    for epoch in (2, 3, 4):  # transferring epochs, noisier and noisier
        steps += [_block(rng, 0.2 * (epoch - 1) ** 2) + 0.5 for _ in range(2)]
        assert not cal.check(steps, epoch)
    kept = list(steps)
    steps += [_block(rng, 0.2) - 2.0 for _ in range(2)]  # epoch 5: steps hurt the other tasks on average
    assert cal.check(steps, 5) and cal.ended == "negative transfer"
    report = cal.report(steps, epochs_cap=10)
    best = max(range(2, 5), key=lambda e: split_half(kept[: 2 * e]))
    assert report["ended"] == "negative transfer" and report["epochs_run"] == 5 and report["matrix_epoch"] == best
    np.testing.assert_array_equal(cal.matrix(steps)[0], running_mean(kept[: 2 * best]))  # epoch 5 is left out
    assert report["checks"][-1]["left_out"] and report["checks"][-1]["transfer"] < 0
    assert report["split_half"] >= SPLIT_HALF_MIN and report["separation"]["3"] >= SEPARATION_MIN
    assert report["grouping_agreement"]["3"] == 1.0 and reliability_warning("affinity", report) is None
    assert f"stopped after 5 of 10 epochs, when the mean transfer turned negative; the matrix of epoch {best}" in describe(report)

    noise = Calibration(ks=[2, 3])
    pure = [rng.standard_normal((T, T)) + 1.0 for _ in range(12)]  # transferring, but no pair structure
    assert not any(noise.check(pure[: 2 * e], e) for e in range(1, 7))
    warning = reliability_warning("affinity", noise.report(pure, epochs_cap=6))
    assert "not reliable" in warning and "ran to its cap (6 epochs)" in warning
    assert "grouping_methods.affinity.epochs" in warning and "embedding" in warning and "manual groups" in warning


def test_separation_measures_how_far_within_group_affinity_stands_above_between_group():
    m = np.where(BLOCKS[:, None] == BLOCKS[None, :], 1.0, 0.0)
    off = ~np.eye(T, dtype=bool)
    expected = (1.0 - 0.0) / m[off].std()  # 18 of the 72 off-diagonal entries are within-group
    assert separation(m, [[0, 1, 2], [3, 4, 5], [6, 7, 8]]) == pytest.approx(expected)
    assert separation(m, [[0, 3, 6], [1, 4, 7], [2, 5, 8]]) < 0  # the wrong groups: within below between
    assert math.isnan(separation(m, [list(range(T))]))  # one group: no between-group pair
    asym = m.copy()
    asym[0, 1], asym[1, 0] = 2.0, 0.0  # only the symmetric part counts
    assert separation(asym, [[0, 1, 2], [3, 4, 5], [6, 7, 8]]) == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_planted_grouping_is_found_by_a_run_that_stops_itself(tmp_path, seed):
    """length: calibrated with a cap of 25 epochs, every 10 steps, task names shuffled across the groups: reliable, ARI ≥ 0.9.

    On this data the mean transfer stays positive for 12-25 epochs, while the groups fade after about 10: the
    result is the running mean of the most reliable check, not the one at the stop."""
    from mtlsearch.grouping.affinity import compute_affinity
    from mtlsearch.grouping.selection import select_groups

    path = prepare(
        "synthetic",
        SyntheticOptions(num_tasks=12, num_groups=3, num_samples=3000, multiclass_tasks=1, shuffle_groups=True, seed=seed),
        tmp_path,
    )
    info = read_info(path)
    result = compute_affinity(all_task_job(path), kind="lookahead", epochs=25, calibrate=True)
    rel = result.reliability
    assert rel["split_half"] >= SPLIT_HALF_MIN and rel["epochs_cap"] == 25 and reliability_warning("affinity", rel) is None
    assert rel["ended"] in ("negative transfer", "cap") and rel["matrix_epoch"] < rel["epochs_run"]
    kept = [c for c in rel["checks"] if not c.get("left_out")]
    assert rel["split_half"] == max(c["split_half"] for c in kept if c["measurements"] >= MIN_MEASUREMENTS)
    assert result.steps_measured >= MIN_MEASUREMENTS and [c["epoch"] for c in rel["checks"]] == list(
        range(1, rel["epochs_run"] + 1)
    )
    planted = [next(g for g, grp in enumerate(info.planted_groups) if n in grp) for n in result.task_names]
    found = select_groups(result.matrix, 3).groups
    labels = [next(g for g, grp in enumerate(found) if i in grp) for i in range(12)]
    assert adjusted_rand_score(planted, labels) >= 0.9


def test_tasks_without_group_structure_get_a_low_reliability_and_the_warning(tmp_path):
    """12 independent tasks (each on its own features): the mean transfer turns negative within a few epochs, the
    groups are not separated, and the run says so."""
    from mtlsearch.grouping.affinity import compute_affinity

    path = prepare(
        "synthetic",
        SyntheticOptions(num_tasks=12, num_groups=12, block_dim=4, num_samples=3000, multiclass_tasks=0, seed=0),
        tmp_path,
    )
    result = compute_affinity(all_task_job(path), kind="lookahead", epochs=25, calibrate=True)
    rel = result.reliability
    assert rel["ended"] == "negative transfer" and rel["epochs_run"] < 10
    assert rel["split_half"] < SPLIT_HALF_MIN or best_separation(rel) < SEPARATION_MIN
    assert "not reliable" in reliability_warning("affinity", rel)


def test_a_fixed_length_run_reports_its_reliability_too(tmp_path):
    """length: fixed (the default) runs all its epochs, averages them all, and still measures how reliable that is."""
    from mtlsearch.grouping.affinity import compute_affinity

    path = prepare(
        "synthetic", SyntheticOptions(num_tasks=12, num_groups=3, num_samples=3000, multiclass_tasks=0, seed=0), tmp_path
    )
    one = compute_affinity(all_task_job(path), kind="lookahead")  # the default: one epoch, 2 measurements
    assert one.reliability["epochs_run"] == 1 and one.steps_measured == 2 and one.reliability["ended"] == "fixed length"
    assert one.reliability["length"] == "fixed" and "length: calibrated" in reliability_warning("affinity", one.reliability)
    ten = compute_affinity(all_task_job(path), kind="lookahead", epochs=10)
    assert ten.reliability["epochs_run"] == 10 and ten.steps_measured == 17
    np.testing.assert_array_equal(ten.matrix, compute_affinity(all_task_job(path), kind="lookahead", epochs=10).matrix)
