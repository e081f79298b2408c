import json
import os

import pyarrow as pa
import pytest

from mtlsearch.store import atomic
from mtlsearch.store.results import ResultsStore


def _epoch(store, trial, epoch, dm):
    store.write_trial_epoch(
        "exp",
        trial,
        epoch,
        {"architecture": "MTL", "grouping": "", "groups": "[]", "config": "{}", "dm_val": dm, "dm_test": dm},
        [{"task": "a", "role": "primary", "metric": "f1", "split": "val", "value": 0.5}],
    )


def test_rewriting_an_epoch_replaces_instead_of_duplicating(tmp_path):
    store = ResultsStore(str(tmp_path))
    _epoch(store, "t1", 1, 1.0)
    _epoch(store, "t1", 2, 2.0)
    _epoch(store, "t1", 2, 2.5)  # a resumed trial reports epoch 2 again
    rows = store.read("exp", "trials").to_pylist()
    assert sorted((r["epoch"], r["dm_val"]) for r in rows) == [(1, 1.0), (2, 2.5)]
    assert store.read("exp", "task_metrics").num_rows == 2


def test_no_partial_file_on_failure(tmp_path, monkeypatch):
    store = ResultsStore(str(tmp_path))
    _epoch(store, "t1", 1, 1.0)

    class FailingMove:
        """The local filesystem, except that the final rename fails (as on a full disk)."""

        def __init__(self, fs):
            self._fs = fs

        def __getattr__(self, name):
            return getattr(self._fs, name)

        def move(self, src, dst):
            raise OSError("disk full")

    real_resolve = atomic.resolve
    monkeypatch.setattr(atomic, "resolve", lambda uri: (FailingMove(real_resolve(uri)[0]), real_resolve(uri)[1]))
    with pytest.raises(OSError):
        _epoch(store, "t1", 1, 9.0)
    # the earlier file is intact, and no temporary file is left behind
    assert store.read("exp", "trials").to_pylist()[0]["dm_val"] == 1.0
    leftovers = [f for _, _, files in os.walk(tmp_path) for f in files if f.startswith(".tmp-")]
    assert leftovers == []


def test_hidden_temporary_files_are_not_read(tmp_path):
    store = ResultsStore(str(tmp_path))
    _epoch(store, "t1", 1, 1.0)
    d = tmp_path / "experiments" / "exp" / "trials" / "t1"
    (d / ".tmp-123-epoch=00002.parquet").write_bytes(b"half a file")
    assert store.read("exp", "trials").num_rows == 1


def test_empty_tables_and_baselines(tmp_path):
    store = ResultsStore(str(tmp_path))
    assert store.read("nothing", "trials").num_rows == 0
    assert store.read_baselines(["abc"]) == {}
    store.write_baseline(
        {
            "fingerprint": "abc",
            "dataset": "d",
            "task": "a",
            "metric": "f1",
            "direction": "max",
            "val": 0.7,
            "test": 0.6,
            "best_epoch": 3,
            "epochs": 4,
            "cost_worker_s": 1.0,
            "config": "{}",
            "trained_by": "exp",
        }
    )
    got = store.read_baselines(["abc", "zzz"])
    assert list(got) == ["abc"] and got["abc"]["val"] == 0.7


def test_experiment_metadata_roundtrip(tmp_path):
    store = ResultsStore(str(tmp_path))
    assert store.read_experiment("e") is None
    store.write_experiment("e", {"x": 1})
    assert store.read_experiment("e") == {"x": 1} and store.experiments() == ["e"]


def test_atomic_table_write(tmp_path):
    path = str(tmp_path / "a" / "b.parquet")
    atomic.atomic_write_table(pa.table({"x": [1, 2]}), path)
    assert atomic.read_bytes(path)[:4] == b"PAR1"
    assert atomic.read_bytes(str(tmp_path / "missing")) is None


# -- secondary metrics: schema evolution, callback rows, leaderboard ----------------

import math  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from mtlsearch.store.results import MULTILABEL_COLUMNS, TASK_METRICS_SCHEMA, TRIALS_SCHEMA  # noqa: E402


def _old_trials_file(store, trial, epoch, dm):
    """An epoch file as written before the multi-label columns existed."""
    old_schema = pa.schema([f for f in TRIALS_SCHEMA if f.name not in MULTILABEL_COLUMNS])
    row = {
        "experiment": "exp",
        "trial_id": trial,
        "epoch": epoch,
        "architecture": "MTL",
        "grouping": "",
        "groups": "[]",
        "config": "{}",
        "dm_val": dm,
        "dm_test": dm,
        "train_loss": 0.1,
        "cost_worker_s": 1.0,
        "samples_per_s": 1.0,
        "reported_at": 0.0,
    }
    atomic.atomic_write_table(
        pa.Table.from_pylist([row], schema=old_schema), store.experiment_uri("exp", "trials", trial, f"epoch={epoch:05d}.parquet")
    )
    task = {"experiment": "exp", "trial_id": trial, "epoch": epoch, "task": "a", "role": "primary", "metric": "f1"}
    rows = [{**task, "split": s, "value": 0.5} for s in ("val", "test")]
    atomic.atomic_write_table(
        pa.Table.from_pylist(rows, schema=TASK_METRICS_SCHEMA),
        store.experiment_uri("exp", "task_metrics", trial, f"epoch={epoch:05d}.parquet"),
    )


def test_older_experiments_without_the_new_columns_still_read(tmp_path):
    store = ResultsStore(str(tmp_path))
    _old_trials_file(store, "old", 1, 1.0)
    only_old = store.read("exp", "trials")
    assert only_old.schema == TRIALS_SCHEMA and only_old.num_rows == 1
    assert all(only_old.column(c).to_pylist() == [None] for c in MULTILABEL_COLUMNS)
    store.write_trial_epoch(
        "exp",
        "new",
        1,
        {
            "architecture": "MTL",
            "grouping": "",
            "groups": "[]",
            "config": "{}",
            "dm_val": 2.0,
            "dm_test": 2.0,
            "test_macro_f1": 0.6,
            "test_micro_f1": 0.7,
            "test_subset_acc": 0.4,
        },
        [],
    )
    rows = {r["trial_id"]: r for r in store.read("exp", "trials").to_pylist()}
    assert rows["old"]["test_macro_f1"] is None and rows["old"]["dm_val"] == 1.0
    assert (
        rows["new"]["test_macro_f1"],
        rows["new"]["test_micro_f1"],
        rows["new"]["test_subset_acc"],
        rows["new"]["val_macro_f1"],
    ) == (0.6, 0.7, 0.4, None)


class _Info:
    tasks = {
        "a": SimpleNamespace(role="primary", metric="f1"),
        "b": SimpleNamespace(role="primary", metric="f1"),
        "lung": SimpleNamespace(role="primary", metric="icbhi_score"),
    }

    def task(self, name):
        return self.tasks[name]


def _store_callback(tmp_path):
    from mtlsearch.search.callbacks import StoreCallback

    context = SimpleNamespace(
        experiment="exp",
        info=_Info(),
        spec=SimpleNamespace(train=SimpleNamespace(epochs=4), seed=0),
        describe=lambda config: {"architecture": "MTL", "grouping": "", "groups": []},
    )
    return StoreCallback(str(tmp_path), context)


def _result(epoch, dm_val, f1=0.5):
    r = {
        "epoch": epoch,
        "dm_val": dm_val,
        "dm_test": dm_val / 2,
        "train_loss": 0.3,
        "cost_worker_s": 2.0 * epoch,
        "samples_per_s": 9.0,
    }
    for split in ("val", "test"):
        r.update({f"{split}/a": f1, f"{split}/b": f1 + 0.1, f"{split}/lung": 0.4})
        r.update({f"{split}_extra/auroc/a": 0.8, f"{split}_extra/auroc/b": 0.9, f"{split}_extra/auroc/lung": math.nan})
        r.update({f"{split}_extra/sp/lung": 0.6, f"{split}_extra/se/lung": 0.2})
        r.update(
            {
                f"{split}_extra/ml_macro_f1": f1 + 0.05,
                f"{split}_extra/ml_micro_f1": f1 + 0.01,
                f"{split}_extra/ml_subset_acc": 0.3,
            }
        )
    return r


def test_store_callback_writes_secondary_metrics(tmp_path):
    cb = _store_callback(tmp_path)
    trial = SimpleNamespace(trial_id="t1", config={"architecture": "MTL"})
    cb.on_trial_result(0, [trial], trial, _result(1, 3.0))
    row = cb.store.read("exp", "trials").to_pylist()[0]
    assert (
        row["val_macro_f1"] == pytest.approx(0.55)
        and row["test_micro_f1"] == pytest.approx(0.51)
        and row["test_subset_acc"] == 0.3
    )
    tm = cb.store.read("exp", "task_metrics").to_pylist()
    by = {(r["task"], r["metric"], r["split"]): r["value"] for r in tm}
    assert len(tm) == len(by) == 2 * (3 + 3 + 2)  # per split: 3 primary, 3 AUROC, ICBHI Sp and Se
    assert by[("a", "f1", "test")] == 0.5 and by[("b", "auroc", "val")] == 0.9 and math.isnan(by[("lung", "auroc", "test")])
    assert (
        by[("lung", "icbhi_score", "val")] == 0.4
        and by[("lung", "specificity", "val")] == 0.6
        and by[("lung", "sensitivity", "test")] == 0.2
    )


def test_leaderboard_shows_multilabel_f1_at_the_selected_epoch(tmp_path):
    from mtlsearch.report.leaderboard import format_leaderboard, leaderboard

    cb = _store_callback(tmp_path)
    cb.store.write_experiment("exp", {"task_metrics": {"a": "f1", "b": "f1", "lung": "icbhi_score"}, "baselines": {}})
    trial = SimpleNamespace(trial_id="t1", config={})
    cb.on_trial_result(0, [trial], trial, _result(1, 1.0, f1=0.2))
    cb.on_trial_result(0, [trial], trial, _result(2, 5.0, f1=0.4))  # the selected epoch (best Δm val)
    cb.on_trial_result(0, [trial], trial, _result(3, 2.0, f1=0.7))
    [row] = leaderboard(cb.store, "exp")
    assert row["selected_epoch"] == 2
    assert (
        row["test_macro_f1"] == pytest.approx(0.45)
        and row["test_micro_f1"] == pytest.approx(0.41)
        and row["test_subset_acc"] == 0.3
    )
    assert row["tasks"] == {
        "a": {"val": 0.4, "test": 0.4},
        "b": pytest.approx({"val": 0.5, "test": 0.5}),
        "lung": {"val": 0.4, "test": 0.4},
    }
    assert row["task_extra"]["a"] == {"auroc": {"val": 0.8, "test": 0.8}}
    assert row["task_extra"]["lung"]["specificity"] == {"val": 0.6, "test": 0.6}
    text = format_leaderboard([row], cb.store.read_experiment("exp"))
    header, _, line = text.splitlines()[:3]
    assert "Δm test  F1-macro test  F1-micro test" in header and "0.4500" in line and "0.4100" in line
    json.dumps(row)  # the --format json output


def test_leaderboard_without_multilabel_columns_and_older_experiments(tmp_path):
    from mtlsearch.report.leaderboard import format_leaderboard, leaderboard

    store = ResultsStore(str(tmp_path))
    store.write_experiment("exp", {"baselines": {}})
    _old_trials_file(store, "old", 1, 1.0)
    [row] = leaderboard(store, "exp")
    assert row["test_macro_f1"] is None and row["task_extra"] == {} and row["tasks"] == {"a": {"val": 0.5, "test": 0.5}}
    assert "F1-macro" not in format_leaderboard([row], store.read_experiment("exp"))


def test_trials_the_search_does_not_know_are_marked_abandoned_and_not_ranked(tmp_path):
    """A trial stored by a search killed before Tune saved its state: the resumed search marks it, keeps its rows."""
    from mtlsearch.report.leaderboard import leaderboard
    from mtlsearch.store.results import ABANDONED

    cb = _store_callback(tmp_path)
    cb.store.write_experiment("exp", {"baselines": {}})
    known, done, lost = (
        SimpleNamespace(trial_id=t, config={"architecture": "MTL"}, last_result={"epoch": 4}) for t in ("known", "done", "lost")
    )
    for trial, epochs in ((known, 4), (done, 4), (lost, 2)):
        for e in range(1, epochs + 1):
            cb.on_trial_result(0, [], trial, _result(e, float(e)))
    cb.on_trial_complete(0, [], done)  # ended (and recorded) before the interruption
    cb.on_experiment_end(trials=[known])  # the restored search knows only `known` (and `done` has its status)
    status = {s["trial_id"]: s for s in cb.store.read("exp", "status").to_pylist()}
    assert set(status) == {"done", "lost"}  # `known` is still Tune's to end
    assert status["lost"]["status"] == ABANDONED and status["lost"]["epochs_trained"] == 2
    assert len([r for r in cb.store.read("exp", "trials").to_pylist() if r["trial_id"] == "lost"]) == 2  # rows kept
    assert {r["trial_id"] for r in leaderboard(cb.store, "exp")} == {"known", "done"}
