"""``mtlsearch report``: the HTML report of a store written here (no Ray), read as text and rendered in headless Chromium."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
from pathlib import Path

import pytest
from conftest import plot_has_image, render_in_chromium

from mtlsearch.cli import main
from mtlsearch.report.html_report import ATTENTION_PLOT_ID, PLOT_IDS, build_report, cross_shares
from mtlsearch.report.importance import JOURNAL_FILE
from mtlsearch.report.report_plots import asha_rungs
from mtlsearch.store.results import ResultsStore

EXP = "quickstart"
FINGERPRINT = "fp-test"
TRIALS = {  # trial -> (architecture, grouping, groups, config, Δm(val) per epoch, cost per epoch)
    "t_mtl": ("MTL", "", [], {"architecture": "MTL", "lr": 0.01}, [1.0, 4.0, 3.0], 10.0),
    "t_gmtl": (
        "GMTL",
        "affinity k=2",
        [["a"], ["b"]],
        {"architecture": "GMTL", "grouping": "affinity", "k": 2},
        [2.0, 6.5],
        30.0,
    ),
    "t_cheap": ("MTL", "", [], {"architecture": "MTL", "lr": 0.1}, [0.5], 2.0),
    "t_bad": ("STL", "", [], {"architecture": "STL", "lr": 0.1}, [-1.0, -2.0, -3.0], 40.0),
}
SEEDS = (1, 2, 3)
CONFIRM_DM = {"t_gmtl": [5.0, 6.0, 7.0], "t_mtl": [1.0, 3.0, 2.0]}  # Δm(test) per confirmation seed
AFFINITY = [[0.0, 0.3, -0.1], [0.2, 0.0, 0.05], [-0.4, 0.1, 0.0]]


def _task_rows(epoch: int) -> list[dict]:
    rows = [
        {"task": t, "role": "primary", "metric": "f1", "split": s, "value": 0.5 + 0.01 * epoch + (0.1 if s == "test" else 0)}
        for t in ("a", "b")
        for s in ("val", "test")
    ]
    return rows + [{"task": "a", "role": "primary", "metric": "threshold", "split": "val", "value": 0.35}]


def _write_store(root: Path) -> ResultsStore:
    store = ResultsStore(str(root))
    spec = {
        "experiment": EXP,
        "train": {"epochs": 3},
        "search": {
            "num_samples": 4,
            "confirm": {"seeds": list(SEEDS)},
            "scheduler": {"enabled": True, "grace_period": 1, "reduction_factor": 2.0},
        },
    }
    store.write_experiment(
        EXP,
        {
            "experiment": EXP,
            "spec": spec,
            "dataset": {"name": "toy", "fingerprint": FINGERPRINT, "path": "/nowhere"},
            "primary_tasks": ["a", "b"],
            "baselines": {"a": {"val": 0.5, "test": 0.55}, "b": {"val": 0.4, "test": 0.45}},
            "task_metrics": {"a": "f1", "b": "f1"},
            "computed_groupings": {"affinity/k=2": [["a", "c"], ["b"]]},
            "confirmation": {"seeds": list(SEEDS)},
        },
    )

    def trial(trial_id, arch, grouping, groups, config, dms, cost, dm_test=None, status=None):
        for epoch, dm in enumerate(dms, start=1):
            row = {
                "architecture": arch,
                "grouping": grouping,
                "groups": json.dumps(groups),
                "config": json.dumps(config, sort_keys=True),
                "dm_val": dm,
                "dm_test": dm / 2 if dm_test is None else dm_test,
                "cost_worker_s": cost * epoch,
                "selected_epochs": json.dumps({"a": epoch, "b": epoch}),
            }
            store.write_trial_epoch(EXP, trial_id, epoch, row, _task_rows(epoch))
        store.write_trial_status(EXP, trial_id, status or ("finished" if len(dms) == 3 else "stopped_early"), len(dms), 3)

    for trial_id, (arch, grouping, groups, config, dms, cost) in TRIALS.items():
        trial(trial_id, arch, grouping, groups, config, dms, cost)
    for cand, dms in CONFIRM_DM.items():
        arch, grouping, groups, config, _, cost = TRIALS[cand]
        for seed, dm in zip(SEEDS, dms):
            conf = {**config, "confirms": cand, "seed": seed}
            trial(f"{cand}_s{seed}", arch, grouping, groups, conf, [dm, dm, dm], cost, dm_test=dm, status="finished")
    _write_study(store)
    meta = {"method": "affinity", "dataset": FINGERPRINT, "reliability": None}
    store.groupings.write_matrix("affinity-abc", ["a", "b", "c"], AFFINITY, meta)
    store.groupings.write_matrix("affinity-other", ["a", "b"], [[0, 1], [1, 0]], {"method": "affinity", "dataset": "other"})
    return store


def _write_study(store: ResultsStore) -> None:
    """The experiment's Optuna journal as the search keeps it: Δm(val) driven by lr, not by the architecture."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from mtlsearch.search.study import JOURNAL_FILE as SEARCH_JOURNAL_FILE

    assert SEARCH_JOURNAL_FILE == JOURNAL_FILE
    path = Path(store.experiment_uri(EXP, JOURNAL_FILE))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=EXP, storage=JournalStorage(JournalFileBackend(str(path))), direction="maximize")
    dists = {"lr": FloatDistribution(1e-4, 1e-1, log=True), "architecture": CategoricalDistribution(["MTL", "GMTL"])}
    for i in range(12):
        lr = 10 ** (-4 + 3 * i / 11)
        params = {"lr": lr, "architecture": ["MTL", "GMTL"][i % 2]}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=10 * math.log10(lr)))


ATTENTION_TIM = {"tasks": ["a", "b", "c"], "matrix": [[None, 0.3, 0.1], [0.6, None, None], [None, None, None]]}
"""t_attn's TIM (rows t, columns s): c in another encoder group than b and alone with no attention of its own."""


def _add_attention_trial(store: ResultsStore, dm_val: float = 3.5) -> None:
    """A finished MTL trial with cross-task attention and its TIM, ranked between t_gmtl and t_mtl by Δm(val)."""
    for epoch in (1, 2, 3):
        row = {
            "architecture": "MTL",
            "grouping": "",
            "groups": "[]",
            "config": json.dumps({"architecture": "MTL", "cross_task_attention": True}),
            "dm_val": dm_val if epoch == 2 else dm_val - 1,
            "dm_test": 1.0,
            "cost_worker_s": 5.0 * epoch,
            "selected_epochs": json.dumps({"a": epoch, "b": epoch}),
            "tim": json.dumps(ATTENTION_TIM if epoch == 2 else {"tasks": ["a", "b"], "matrix": [[None, 0.9], [0.9, None]]}),
        }
        store.write_trial_epoch(EXP, "t_attn", epoch, row, _task_rows(epoch))
    store.write_trial_status(EXP, "t_attn", "finished", 3, 3)


def _csv_link(page: str, plot_id: str) -> list[dict]:
    m = re.search(rf'id="{plot_id}-data" download="[^"]+" href="data:text/csv;base64,([^"]*)"', page)
    assert m, f"no data link for {plot_id}"
    return list(csv.DictReader(io.StringIO(base64.b64decode(m.group(1)).decode("utf-8"))))


def _img_png(page: str, plot_id: str) -> bytes:
    m = re.search(rf'<img id="{plot_id}" alt="[^"]*" src="data:image/png;base64,([^"]*)"', page)
    assert m, f"no image {plot_id}"
    return base64.b64decode(m.group(1))


def test_asha_rungs_as_ray_places_them():
    on = {"enabled": True, "grace_period": 1, "reduction_factor": 2.0}
    assert asha_rungs(on, 4) == [1, 2, 4] and asha_rungs(on, 3) == [1, 2]
    assert asha_rungs({**on, "grace_period": 2, "reduction_factor": 3}, 20) == [2, 6, 18]
    assert asha_rungs({**on, "enabled": False}, 4) == [] and asha_rungs(None, 4) == []


def test_report_sections_and_data_tables(tmp_path):
    store = _write_store(tmp_path / "store")
    page = build_report(store, EXP)
    sections = ("leaderboard", "cost", "curves", "tasks", "importance", "groupings", "about", "dataset", "spec")
    order = [page.index(f"id='{s}'") for s in sections]
    assert order == sorted(order)
    assert "http://" not in page and "https://" not in page and "<script" not in page  # nothing fetched
    for plot_id in (*PLOT_IDS, "plot-grouping-0"):
        assert _img_png(page, plot_id).startswith(b"\x89PNG")
    assert "plot-grouping-1" not in page  # the other dataset's matrix is not this experiment's

    board = _csv_link(page, "plot-leaderboard")  # the confirmation, best mean Δm(val) first
    assert [r["trial_id"] for r in board] == ["t_gmtl", "t_mtl"]
    assert float(board[0]["dm_test_mean"]) == pytest.approx(6.0) and float(board[0]["dm_test_low"]) < 6.0
    assert board[0]["seeds"] == "3"

    cost = {r["trial_id"]: r for r in _csv_link(page, "plot-cost")}
    assert set(cost) == set(TRIALS)  # confirmation runs are not candidates
    # the Pareto set is of full-budget trials: t_gmtl and t_cheap (ASHA-stopped) would dominate t_mtl on a
    # partial budget's cost; of the finished ones t_mtl (Δm 4, cost 30) dominates t_bad (Δm -1, cost 120)
    assert {t for t, r in cost.items() if r["pareto"] == "True"} == {"t_mtl"}
    assert {t: r["status"] for t, r in cost.items()}["t_cheap"] == "stopped_early"
    assert float(cost["t_mtl"]["cost_worker_s"]) == 30.0
    pareto = re.search(r"<table id='pareto-set'>(.*?)</table>", page).group(1)
    assert re.findall(r"<tr><td>([^<]+)</td>", pareto) == ["t_mtl"]
    assert "The search optimized Δm(val) alone" in page

    curves = _csv_link(page, "plot-curves")
    assert len(curves) == sum(len(v[4]) for v in TRIALS.values())
    assert {r["trial_id"] for r in curves if r["stopped_early"] == "True"} == {"t_gmtl", "t_cheap"}
    assert [float(r["dm_val"]) for r in curves if r["trial_id"] == "t_mtl"] == [1.0, 4.0, 3.0]
    assert "ASHA rungs at epoch(s) 1, 2 (dotted)" in page

    tasks = _csv_link(page, "plot-tasks")
    assert [r["task"] for r in tasks] == ["a", "b"]
    assert float(tasks[0]["stl_test"]) == 0.55 and float(tasks[0]["top1_threshold"]) == 0.35 and tasks[1]["top1_threshold"] == ""
    assert float(tasks[0]["top1_test"]) == pytest.approx(0.62)  # t_gmtl at its selected epoch 2
    table = page[page.index("id='per-task-table'") : page.index("id='importance'")]
    assert "<th>#1 t_gmtl val</th>" in table and "<td>0.35</td>" in table and "<td>0.6200</td>" in table

    importance = {r["parameter"]: float(r["importance"]) for r in _csv_link(page, "plot-importance")}
    assert set(importance) == {"lr", "architecture"} and importance["lr"] > 0.8
    assert sum(importance.values()) == pytest.approx(1.0)

    matrix = _csv_link(page, "plot-grouping-0")
    assert [r["task"] for r in matrix] == ["a", "b", "c"] and float(matrix[2]["a"]) == -0.4
    assert "affinity/k=2: a, c | b" in page
    assert "select" in page and "num_samples: 4" in page and "toy" in page
    assert "/nowhere) is not on this machine: sizes and class counts are left out" in page
    assert "id='attention'" not in page and ATTENTION_PLOT_ID not in page  # no trial had cross-task attention


def test_cross_shares_sum_each_row_over_the_other_tasks():
    shares = {c["task"]: c for c in cross_shares(ATTENTION_TIM)}
    assert shares["a"]["cross_share"] == pytest.approx(0.4) and (shares["a"]["top_source"], shares["a"]["top_tim"]) == ("b", 0.3)
    assert shares["b"]["cross_share"] == pytest.approx(0.6) and shares["b"]["top_source"] == "a"
    assert shares["c"] == {"task": "c", "cross_share": 0, "top_source": None, "top_tim": None}


def test_report_shows_the_tim_of_the_best_trial_with_attention(tmp_path):
    store = _write_store(tmp_path / "store")
    _add_attention_trial(store)
    page = build_report(store, EXP)
    order = [page.index(f"id='{s}'") for s in ("tasks", "attention", "importance")]
    assert order == sorted(order)
    assert _img_png(page, ATTENTION_PLOT_ID).startswith(b"\x89PNG")
    data = {r["task"]: r for r in _csv_link(page, ATTENTION_PLOT_ID)}  # rows t, columns s, at the selected epoch 2
    assert list(data) == ["a", "b", "c"] and float(data["a"]["b"]) == 0.3 and data["a"]["a"] == "" and data["b"]["c"] == ""
    table = re.search(r"<table id='attention-table'>(.*?)</table>", page).group(1)
    cells = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", table)
    assert cells == [("a", "0.400", "b", "0.300"), ("b", "0.600", "a", "0.600"), ("c", "0.000", "-", "-")]
    note = page[page.index("id='attention-table'") : page.index("id='importance'")]
    assert "1 of 5 ranked trial(s) had cross-task attention" in note and "t_attn (MTL +attn, Δm(val) +3.50)" in note
    assert "The best trial without attention, t_gmtl" in note and "+6.50" in note


def test_report_without_a_study_says_why(tmp_path):
    store = _write_store(tmp_path / "store")
    Path(store.experiment_uri(EXP, JOURNAL_FILE)).unlink()
    page = build_report(store, EXP)
    assert "plot-importance" not in page and "no Optuna study is stored for this experiment" in page


def test_report_counts_the_prepared_dataset(tmp_path):
    from conftest import write_spec

    from mtlsearch.search.launcher import prepare_dataset
    from mtlsearch.spec import load_spec

    store = _write_store(tmp_path / "store")
    loaded = load_spec(write_spec(tmp_path / "spec.yaml", tmp_path / "store", experiment=EXP, tasks=3))
    path = prepare_dataset(loaded, store)
    meta = store.read_experiment(EXP)
    store.write_experiment(EXP, {**meta, "dataset": {**meta["dataset"], "path": path}})
    page = build_report(store, EXP)
    counts = page[page.index("id='dataset-counts'") : page.index("id='spec'")]
    sizes = dict(re.findall(r"<tr><td>(train|val|test)</td><td>(\d+)</td></tr>", counts))
    assert set(sizes) == {"train", "val", "test"} and all(int(n) > 0 for n in sizes.values())
    rows = re.findall(
        r"<tr><td>(task_\w+)</td><td>\w+</td><td>\w+</td><td>\w+</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>",
        counts,
    )
    assert len(rows) == 3
    for _, *cells in rows:  # each split's class counts (and missing labels) add up to its size
        totals = [sum(int(n) for n in re.findall(r" (\d+)(?:;|$)", cell)) for cell in cells]
        assert totals == [int(sizes[s]) for s in ("train", "val", "test")]


def test_report_cli_and_unknown_experiment(tmp_path, capsys):
    store = _write_store(tmp_path / "store")
    out = tmp_path / "r" / "report.html"
    assert main(["report", EXP, "--storage", store.root, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out) and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert main(["report", "nope", "--storage", store.root, "--out", str(tmp_path / "x.html")]) != 0
    err = capsys.readouterr().err
    assert "'nope'" in err and EXP in err and not (tmp_path / "x.html").exists()


def test_report_renders_in_headless_chromium(tmp_path):
    store = _write_store(tmp_path / "store")
    _add_attention_trial(store)
    report = tmp_path / "report.html"
    assert main(["report", EXP, "--storage", store.root, "--out", str(report)]) == 0
    dom = render_in_chromium(report, tmp_path, "report_screenshot.png")
    for plot_id in (*PLOT_IDS, "plot-grouping-0", ATTENTION_PLOT_ID):  # every plot is in the rendered page, with its image
        assert plot_has_image(dom, plot_id), plot_id
    assert re.search(r"<table id=\"attention-table\">.*?<td>0\.400</td>", dom, re.S)  # as the browser built the table


def test_launch_writes_the_report_and_a_failure_only_warns(tmp_path, caplog):
    from mtlsearch.search.launcher import write_final_report

    store = _write_store(tmp_path / "store")
    path = write_final_report(store, EXP)
    assert path == str(Path(store.root) / "experiments" / EXP / "report.html")
    assert "id='leaderboard'" in Path(path).read_text(encoding="utf-8")
    with caplog.at_level("WARNING"):
        assert write_final_report(store, "missing") is None
    assert "could not write the HTML report" in caplog.text and "'missing'" in caplog.text
