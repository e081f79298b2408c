"""``mtlsearch results --format csv`` on a store written here (no Ray), and the README's direct reads of the store."""

import csv
import io
import json
import math

import pytest

from mtlsearch.cli import main
from mtlsearch.report.leaderboard_csv import COLUMNS
from mtlsearch.store.results import ResultsStore

EXP = "quickstart"
TRIALS = {  # trial -> (architecture, grouping, groups, config, Δm(val) per epoch)
    "t_mtl": ("MTL", "", [], {"architecture": "MTL", "lr": 0.01, "sharing": "hard"}, [1.0, 4.0, 3.0]),
    "t_gmtl": (
        "GMTL",
        "affinity k=2",
        [["a"], ["b"]],
        {"architecture": "GMTL", "grouping": "affinity", "k": 2, "lr": 0.001},
        [2.0, 6.5],
    ),
    "t_stl": ("STL", "", [], {"architecture": "STL", "lr": 0.1}, [-1.0, math.nan]),
}


def _write_store(root) -> ResultsStore:
    store = ResultsStore(str(root))
    store.write_experiment(EXP, {"baselines": {}, "task_metrics": {"a": "f1", "b": "f1"}})
    for trial, (arch, grouping, groups, config, dms) in TRIALS.items():
        for epoch, dm in enumerate(dms, start=1):
            row = {
                "architecture": arch,
                "grouping": grouping,
                "groups": json.dumps(groups),
                "config": json.dumps(config, sort_keys=True),
                "dm_val": dm,
                "dm_test": dm / 2,
                "cost_worker_s": 10.0 * epoch,
                "test_macro_f1": 0.1 * epoch,
                "selected_epochs": json.dumps({"a": epoch, "b": epoch}),
            }
            tasks = [
                {
                    "task": t,
                    "role": "primary",
                    "metric": "f1",
                    "split": s,
                    "value": 0.5 + 0.01 * epoch + (0.1 if s == "test" else 0),
                }
                for t in ("a", "b")
                for s in ("val", "test")
            ]
            store.write_trial_epoch(EXP, trial, epoch, row, tasks)
        status = "finished" if len(dms) == 3 else "stopped_early"
        store.write_trial_status(EXP, trial, status, len(dms), 3)
    return store


def _csv(out: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(out)))


def test_results_csv_to_stdout_parses_back(tmp_path, capsys):
    store = _write_store(tmp_path / "store")
    assert main(["results", EXP, "--storage", store.root, "--format", "csv"]) == 0
    out = capsys.readouterr().out
    rows = _csv(out)
    header = next(csv.reader(io.StringIO(out)))
    assert header == [*COLUMNS, "val/a", "val/b", "test/a", "test/b"]
    assert [(r["rank"], r["trial_id"]) for r in rows] == [("1", "t_gmtl"), ("2", "t_mtl"), ("3", "t_stl")]
    g, m, s = rows
    assert g["candidate"] == "GMTL[affinity k=2]" and g["architecture"] == "GMTL" and g["grouping"] == "affinity k=2"
    assert json.loads(g["groups"]) == [["a"], ["b"]]
    assert json.loads(g["config"]) == TRIALS["t_gmtl"][3]
    assert float(g["dm_val"]) == 6.5 and float(g["dm_test"]) == 3.25 and g["status"] == "stopped_early"
    # the MTL trial's selection is epoch 2 (best Δm val), not its last epoch
    assert float(m["dm_val"]) == 4.0 and m["selected_epoch"] == "2" and m["epochs_trained"] == "3"
    assert float(m["test_macro_f1"]) == pytest.approx(0.2) and m["val_macro_f1"] == ""  # never written: empty
    assert float(m["test/a"]) == pytest.approx(0.62) and float(m["val/b"]) == pytest.approx(0.52)
    assert float(m["cost_worker_s"]) == 30.0 and m["stopped_early"] == "False"
    assert json.loads(m["selected_epochs"]) == {"a": 2, "b": 2}
    assert m["confirmed_dm_test_mean"] == "" and m["confirmed_verdict"] == ""
    assert float(s["dm_val"]) == -1.0  # its NaN epoch is not its selection


def test_results_csv_out_file_and_the_text_format_unchanged(tmp_path, capsys):
    store = _write_store(tmp_path / "store")
    target = tmp_path / "board.csv"
    assert main(["results", EXP, "--storage", store.root, "--format", "csv", "--out", str(target)]) == 0
    assert capsys.readouterr().out == ""
    with target.open(newline="", encoding="utf-8") as f:
        assert [r["trial_id"] for r in csv.DictReader(f)] == ["t_gmtl", "t_mtl", "t_stl"]
    assert main(["results", EXP, "--storage", store.root]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("rank  trial") and "GMTL[affinity k=2]" in text and "," not in text.splitlines()[2]
    assert main(["results", EXP, "--storage", store.root, "--format", "csv", "--out", str(tmp_path / "no" / "dir.csv")]) == 2
    assert "--out" in capsys.readouterr().err
