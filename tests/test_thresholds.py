"""Decision thresholds chosen on validation: the metric-maximising cut between distinct probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from mtlsearch.metrics.task_metrics import METRICS
from mtlsearch.metrics.thresholds import decide, tune_threshold


def test_f1_threshold_on_a_hand_made_table():
    # sorted by probability: 0.9 (1), 0.8 (0), 0.7 (1), 0.7 (1), 0.4 (0), 0.2 (1), 0.1 (0); P = 4
    probs = np.array([0.2, 0.9, 0.7, 0.1, 0.8, 0.4, 0.7])
    true = np.array([1, 1, 1, 0, 0, 0, 1])
    # top k positive (ties kept together): k=1 F1=2/5, k=2 2/6, k=4 6/8, k=5 6/9, k=6 8/10, k=7 8/11
    assert tune_threshold(probs, true, "f1") == 0.2  # k = 6: F1 0.8
    assert METRICS["f1"](decide(probs, 0.2), true, 2) == pytest.approx(0.8)


def test_ties_keep_the_largest_threshold_and_none_positive_is_a_candidate():
    probs = np.array([0.9, 0.6, 0.3])
    assert tune_threshold(probs, np.array([1, 0, 1]), "f1") == 0.3  # k=1: 2/3, k=3: 4/5 -> all positive
    assert tune_threshold(probs, np.array([1, 1, 0]), "f1") == 0.6  # k=2: F1 1
    # F1 ties between k=1 (TP 1, FP 0, P 2: 2/3) and k=4 (TP 2, FP 2: 4/6): the fewest positives win
    assert tune_threshold(np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 0, 1]), "f1") == 0.9
    none = tune_threshold(np.array([0.9, 0.6]), np.array([0, 0]), "icbhi_score")  # no positive: Sp alone, k=0 best
    assert decide(np.array([0.9, 0.6]), none).tolist() == [0, 0]


@pytest.mark.parametrize("metric", ["f1", "icbhi_score"])
def test_the_chosen_threshold_is_best_among_every_cut(metric):
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        probs = np.round(rng.random(n), 1)  # many ties
        true = (rng.random(n) < 0.4).astype(int)
        tau = tune_threshold(probs, true, metric)
        best = METRICS[metric](decide(probs, tau), true, 2)
        candidates = [*np.unique(probs), np.inf]
        assert best == pytest.approx(max(METRICS[metric](decide(probs, c), true, 2) for c in candidates), abs=1e-12)


def test_unknown_metric_and_empty_split():
    with pytest.raises(ValueError, match="no decision threshold"):
        tune_threshold(np.array([0.5]), np.array([1]), "macro_f1")
    assert tune_threshold(np.array([]), np.array([]), "f1") == 0.5


def test_a_baseline_of_zero_is_named_with_what_to_do():
    from mtlsearch.search.baselines import undefined_baselines

    lines = undefined_baselines(
        {"C03": {"val": 0.0, "test": 0.2}, "C04": {"val": 0.5, "test": float("nan")}, "C05": {"val": 0.4, "test": 0.3}},
        {"C03": "f1", "C04": "f1", "C05": "f1"},
    )
    assert len(lines) == 2
    assert "task 'C03' (f1) is left out of Δm: its STL baseline is 0 on val" in lines[0]
    assert "evaluation.thresholds" not in lines[0] and "evaluation.metric" in lines[0]  # already val-tuned
    fixed = undefined_baselines({"C03": {"val": 0.0, "test": 0.2}}, {"C03": "f1"}, thresholds="fixed")
    assert "use evaluation.thresholds: val_tuned" in fixed[0]
    assert "task 'C04'" in lines[1] and "NaN on test" in lines[1]


def test_delta_m_leaves_out_the_tasks_a_baseline_of_zero_cannot_anchor_for_every_seed():
    from mtlsearch.metrics.delta_m import anchored_baselines, delta_m

    seed1 = {"a": {"val": 0.5, "test": 0.4}, "b": {"val": 0.2, "test": 0.0}, "c": {"val": 0.3, "test": 0.3}}
    seed2 = {"a": {"val": 0.5, "test": 0.5}, "b": {"val": 0.2, "test": 0.1}, "c": {"val": float("nan"), "test": 0.3}}
    kept, left_out = anchored_baselines(seed1)
    assert set(kept) == {"a", "c"} and left_out == {"b": "its STL baseline is 0 on test"}
    kept, left_out = anchored_baselines(seed2, seed1)  # one task set for all seeds
    assert kept == {"a": {"val": 0.5, "test": 0.5}} and set(left_out) == {"b", "c"} and "NaN on val" in left_out["c"]
    # Δm over the kept tasks: finite, where the full set would give NaN
    import math

    assert math.isnan(delta_m({"a": 0.6, "b": 0.3, "c": 0.3}, {t: b["test"] for t, b in seed1.items()}))
    assert delta_m({"a": 0.6}, {"a": 0.4}) == pytest.approx(50.0)


def test_the_leaderboard_names_the_tasks_left_out_of_delta_m():
    from mtlsearch.report.leaderboard import format_leaderboard

    row = {
        "trial_id": "t1",
        "architecture": "MTL",
        "grouping": "",
        "groups": [],
        "config": {},
        "dm_val": 1.0,
        "dm_test": 2.0,
        "epochs_trained": 3,
        "stopped_early": False,
        "status": "finished",
        "cost_worker_s": 1.0,
        "tasks": {"a": {"val": 0.5, "test": 0.5}},
        "metadata": {},
    }
    text = format_leaderboard(
        [row], {"primary_tasks": ["a", "b"], "baselines": {}, "dm_left_out": {"b": "its STL baseline is 0 on test"}}
    )
    assert "Δm is over 1 of 2 primary tasks: b is left out (its STL baseline is 0 on test)" in text


def test_baselines_are_keyed_by_the_evaluation_protocol(tmp_path):
    """A baseline scored with fixed thresholds or by another primary metric is never reused as a val-tuned F1 one."""
    from conftest import write_spec

    from mtlsearch.search.baselines import baseline_config, baseline_fingerprint
    from mtlsearch.spec import load_spec

    fps = set()
    for evaluation in ("{}", "{thresholds: fixed}", "{metric: auroc}", "{metric: average_precision}"):
        spec = load_spec(write_spec(tmp_path / "s.yaml", tmp_path / "store", extra=f"evaluation: {evaluation}")).spec
        fps.add(baseline_fingerprint("data", "task_00", baseline_config(spec)))
    assert len(fps) == 4


def test_unknown_evaluation_metric_is_a_spec_error_naming_the_field(tmp_path):
    from conftest import write_spec

    from mtlsearch.errors import SpecError
    from mtlsearch.spec import load_spec

    with pytest.raises(SpecError, match=r"s\.yaml:\d+: field 'evaluation\.metric'.*auroc"):
        load_spec(write_spec(tmp_path / "s.yaml", tmp_path / "store", extra="evaluation: {metric: roc}"))
