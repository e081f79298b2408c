"""Confirmation with seeds: interval arithmetic by hand, the summary's verdicts, and the stage in a real search."""

from __future__ import annotations

import json
import math

import pytest
from conftest import write_spec

from mtlsearch.metrics.intervals import paired_difference, t_interval
from mtlsearch.report.confirmation import BETTER, NO_INTERVAL, UNDECIDED, WORSE, format_confirmation, summarize
from mtlsearch.store.results import CONFIRMS, SEED


def test_t_interval_against_a_hand_computation():
    # d = 1, 2, 6: mean 3; s² = (4 + 1 + 9) / 2 = 7; se = √(7/3) = 1.527525; t(0.975, 2) = 4.302653 -> half width 6.572417
    iv = t_interval([1.0, 2.0, 6.0])
    assert iv.mean == 3.0 and iv.n == 3
    assert iv.half_width == pytest.approx(4.302653 * math.sqrt(7 / 3), rel=1e-6)
    assert (iv.low, iv.high) == pytest.approx((3 - 6.572417, 3 + 6.572417), abs=1e-5)
    assert not iv.above(0) and not iv.below(0)
    # two seeds: t(0.975, 1) = 12.706205; d = 4, 6: mean 5, s = √2, se = 1 -> 5 ± 12.706205
    two = t_interval([4.0, 6.0])
    assert (two.low, two.high) == pytest.approx((5 - 12.706205, 5 + 12.706205), abs=1e-5)
    # identical values: a zero-width interval; one value or a NaN: no interval
    assert t_interval([2.5, 2.5, 2.5]).low == t_interval([2.5, 2.5, 2.5]).high == 2.5
    assert math.isnan(t_interval([1.0]).low) and t_interval([1.0]).mean == 1.0
    assert math.isnan(t_interval([1.0, math.nan]).mean)


def test_paired_difference_is_the_interval_of_per_seed_differences():
    a, b = [3.0, 5.0, 4.0], [1.0, 2.0, 2.5]  # differences 2, 3, 1.5: mean 13/6, s² = 0.583333
    iv = paired_difference(a, b)
    assert iv.mean == pytest.approx(13 / 6)
    assert iv.half_width == pytest.approx(4.302653 * math.sqrt(0.5833333333 / 3), rel=1e-6)
    assert iv.above(0)  # 13/6 − 1.8973 > 0: told apart, though the unpaired intervals overlap
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference([1.0], [1.0, 2.0])


def _search(trial_id: str, arch: str = "MTL", dm_val: float = 1.0, status: str = "finished") -> dict:
    return {"trial_id": trial_id, "architecture": arch, "dm_val": dm_val, "status": status, "config": {"architecture": arch}}


def _run(confirms: str, seed: int, dm_val: float, dm_test: float, status: str = "finished") -> dict:
    return {
        "trial_id": f"{confirms}-{seed}",
        "config": {CONFIRMS: confirms, SEED: seed},
        "dm_val": dm_val,
        "dm_test": dm_test,
        "status": status,
        "test_macro_f1": 0.5,
        "test_micro_f1": None,
    }


def test_summary_verdicts_ranking_and_the_next_candidate():
    search = [_search("a"), _search("b", "GMTL"), _search("c", "STL"), _search("d")]
    runs = (
        [_run("a", s, 2.0, t) for s, t in ((1, 3.0), (2, 4.0), (3, 5.0))]  # test 4 ± 2.48: better
        + [_run("b", s, 3.0, t) for s, t in ((1, -1.0), (2, 2.0), (3, 1.0))]  # contains 0
        + [_run("c", s, 0.0, t) for s, t in ((1, -2.0), (2, -3.0), (3, -2.5))]  # below 0
        + [_run("d", 1, 9.0, 9.0), _run("d", 2, 9.0, 9.0, status="error")]
    )  # one finished seed
    rows = summarize(search, runs, label=lambda r: r["architecture"])
    assert [r["trial_id"] for r in rows] == ["d", "b", "a", "c"]  # by mean Δm(val) over the seeds
    by = {r["trial_id"]: r for r in rows}
    assert by["a"]["verdict"] == BETTER and by["b"]["verdict"] == UNDECIDED and by["c"]["verdict"] == WORSE
    assert by["d"]["verdict"] == NO_INTERVAL and by["d"]["seeds"] == [1]
    assert by["a"]["dm_test_low"] == pytest.approx(4 - 4.302653 * 1 / math.sqrt(3), rel=1e-6)
    assert by["a"]["runs"] == ["a-1", "a-2", "a-3"] and by["a"]["test_macro_f1_mean"] == 0.5
    assert by["a"]["test_micro_f1_mean"] is None
    # b − a per seed: −4, −2, −4 -> mean −10/3; a − c: 5, 7, 7.5
    assert by["b"]["next_trial_id"] == "a" and by["b"]["diff_next_mean"] == pytest.approx(-10 / 3)
    assert by["a"]["next_trial_id"] == "c" and by["a"]["diff_next_low"] > 0
    assert by["c"]["next_trial_id"] is None
    text = format_confirmation(rows, [1, 2, 3])
    assert "seeds 1, 2, 3" in text and "#1 vs #2" in text and "no interval (fewer than 2 shared seeds)" in text
    assert "b" not in {r["trial_id"] for r in summarize(search, [], label=str)}


def test_picked_candidates_are_the_top_distinct_trials_and_the_best_of_each_architecture():
    from mtlsearch.search.confirm import confirmation_configs, pick_candidates
    from mtlsearch.spec import ConfirmSpec

    rows = [
        _search("e", dm_val=9.0, status="error"),
        _search("a", dm_val=5.0),
        {**_search("a2", dm_val=5.0)},
        _search("n", dm_val=math.nan),
        _search("g", "GMTL", 3.0),
        _search("s", "STL", -1.0),
    ]
    assert [r["trial_id"] for r in pick_candidates(rows, ConfirmSpec(top=2, seeds=2))] == ["a", "g"]  # a2 repeats a
    both = pick_candidates(rows, ConfirmSpec(top=1, seeds=2, each_architecture=True))
    assert [r["trial_id"] for r in both] == ["a", "s", "g"]
    configs = confirmation_configs(both[:1], [1, 2])
    assert configs == [{"architecture": "MTL", CONFIRMS: "a", SEED: 1}, {"architecture": "MTL", CONFIRMS: "a", SEED: 2}]


def test_a_multi_objective_search_confirms_its_pareto_set_first():
    from mtlsearch.report.pareto import PARETO
    from mtlsearch.search.confirm import pick_candidates
    from mtlsearch.spec import ConfirmSpec

    # sorted by Δm(val); g and s are the Pareto set (a: stopped by ASHA, so off the set; m: dominated)
    rows = [
        {**_search("a", dm_val=5.0, status="stopped_early"), PARETO: False},
        {**_search("g", "GMTL", 3.0), PARETO: True},
        {**_search("m", "GMHL", 2.0), PARETO: False},
        {**_search("s", "STL", -1.0), PARETO: True},
    ]
    assert [r["trial_id"] for r in pick_candidates(rows, ConfirmSpec(top=3, seeds=2), pareto_first=True)] == ["g", "s", "a"]
    assert [r["trial_id"] for r in pick_candidates(rows, ConfirmSpec(top=3, seeds=2))] == ["a", "g", "m"]  # one objective


def test_confirm_needs_two_seeds(tmp_path):
    from mtlsearch.errors import SpecError
    from mtlsearch.spec import load_spec

    with pytest.raises(SpecError, match=r"field 'search\.confirm\.seeds'.*greater than or equal to 2"):
        load_spec(write_spec(tmp_path / "s.yaml", tmp_path / "store", search_extra="confirm: {top: 2, seeds: 1}"))


@pytest.mark.ray
def test_a_search_confirms_its_best_candidates_with_paired_seeds(ray_cluster, tmp_path, capsys):
    """A real search with confirm {top: 2, seeds: 2}: STL baselines per seed, 4 ordinary confirmation trials, paired Δm
    (the STL candidate, the baselines' own configuration, scores exactly 0 on every seed), intervals in Parquet and JSON."""
    import pyarrow.parquet as pq

    from mtlsearch.cli import main
    from mtlsearch.metrics.delta_m import delta_m
    from mtlsearch.search.launcher import launch
    from mtlsearch.spec import load_spec
    from mtlsearch.store.results import ResultsStore

    spec = write_spec(
        tmp_path / "s.yaml",
        tmp_path / "store",
        "confirm",
        num_samples=2,
        epochs=3,
        tasks=4,
        samples=900,
        asha="{enabled: false}",
        search_extra="searcher: grid\nconfirm: {top: 2, seeds: 2}",
        space="architecture: {choice: [STL, GMTL]}\n    grouping: {choice: [planted]}",
    )
    with open(tmp_path / "launch.log", "w") as f:
        _, rows = launch(load_spec(spec), out=f)
    log = (tmp_path / "launch.log").read_text()
    assert "confirmation: retraining 2 candidate(s)" in log and "seeds 1, 2" in log
    assert "confirm · " in log and "(confirms " in log  # the progress lines name the stage and what each run confirms
    assert "#1 vs #2" in log

    store = ResultsStore(str(tmp_path / "store"))
    meta = store.read_experiment("confirm")
    assert meta["confirmation"]["seeds"] == [1, 2]
    trials = store.read("confirm", "trials").to_pylist()
    runs = {r["trial_id"]: r for r in trials if r["confirms"] is not None}
    assert len(runs) == 4 and {r["seed"] for r in runs.values()} == {1, 2}
    assert {r["seed"] for r in trials if r["confirms"] is None} == {0}
    status = {r["trial_id"]: r["status"] for r in store.read("confirm", "status").to_pylist()}
    assert all(status[t] == "finished" for t in runs)

    confirmed = {r["trial_id"]: r["confirmation"] for r in rows if r["confirmation"]}
    assert len(confirmed) == 2
    stl = next(r for r in rows if r["architecture"] == "STL")["confirmation"]
    assert stl["dm_test_seeds"] == [0.0, 0.0] and stl["dm_val_seeds"] == [0.0, 0.0] and stl["verdict"] == UNDECIDED

    # paired: each run's Δm(test) is over the baselines trained with its own seed
    from mtlsearch.report.leaderboard import _trial_rows

    every = {r["trial_id"]: r for r in _trial_rows(store, "confirm")}
    for c in confirmed.values():
        for seed, run_id, dm in zip(c["seeds"], c["runs"], c["dm_test_seeds"]):
            base = meta["confirmation"]["baselines"][str(seed)]
            scores = {t: every[run_id]["tasks"][t]["test"] for t in base}
            assert dm == pytest.approx(delta_m(scores, {t: b["test"] for t, b in base.items()}), abs=1e-9)
        iv = t_interval(c["dm_test_seeds"])
        assert (c["dm_test_low"], c["dm_test_high"]) == pytest.approx((iv.low, iv.high))

    table = pq.read_table(tmp_path / "store" / "experiments" / "confirm" / "confirmation.parquet").to_pylist()
    assert sorted(r["trial_id"] for r in table) == sorted(confirmed) and all(len(r["dm_test_seeds"]) == 2 for r in table)
    stored_seed_baselines = store.read_baselines(
        [b["fingerprint"] for s in ("1", "2") for b in meta["confirmation"]["baselines"][s].values()]
    )
    assert len(stored_seed_baselines) == 8  # 4 tasks × 2 seeds, reusable by later searches

    capsys.readouterr()
    assert main(["results", "confirm", "--storage", str(tmp_path / "store"), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["trial_id"]: r["confirmation"]["dm_test_high"] for r in out if r["confirmation"]} == pytest.approx(
        {t: c["dm_test_high"] for t, c in confirmed.items()}
    )

    # --resume after the end: the confirmation stage is restored, not run again
    with open(tmp_path / "resume.log", "w") as f:
        launch(load_spec(spec), resume=True, out=f)
    assert "confirmation: resuming from" in (tmp_path / "resume.log").read_text()
    assert sum(r["confirms"] is not None for r in store.read("confirm", "trials").to_pylist()) == len(
        [r for r in trials if r["confirms"] is not None]
    )
