import os

import pyarrow as pa
import pytest

from mtlsearch.store import atomic
from mtlsearch.store.results import ResultsStore


def _epoch(store, trial, epoch, dm):
    store.write_trial_epoch("exp", trial, epoch, {"architecture": "MTL", "grouping": "", "groups": "[]", "config": "{}", "dm_val": dm, "dm_test": dm},
                            [{"task": "a", "role": "primary", "metric": "f1", "split": "val", "value": 0.5}])


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
    store.write_baseline({"fingerprint": "abc", "dataset": "d", "task": "a", "metric": "f1", "direction": "max", "val": 0.7, "test": 0.6,
                          "best_epoch": 3, "epochs": 4, "cost_worker_s": 1.0, "config": "{}", "trained_by": "exp"})
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
