"""A real search on a real local Ray cluster: Tune trials running Ray Train, Optuna + ASHA, Parquet, TensorBoard.

A relaunch of it on the same store reuses the baselines and runs a grid over ``cross_task_attention`` with
groups from the ``tim`` method: their TIM is read back from the Parquet store.
"""

import json
import math
import re
import textwrap
from pathlib import Path

import pytest
from conftest import plot_has_image, render_in_chromium, write_spec

from mtlsearch.cli import main
from mtlsearch.search.launcher import launch
from mtlsearch.search.tb_hparams import EXPERIMENT_FILE, HPARAM_METRICS
from mtlsearch.spec import load_spec
from mtlsearch.store.results import SECONDARY_TASK_METRICS, ResultsStore

pytestmark = pytest.mark.ray

NUM_TRIALS, EPOCHS, TASKS = 6, 4, 6
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def searched(ray_cluster, tmp_path_factory):
    """One search of 6 trials, shared by the tests of this module."""
    tmp = tmp_path_factory.mktemp("e2e")
    spec = write_spec(tmp / "spec.yaml", tmp / "store", experiment="e2e", num_samples=NUM_TRIALS, epochs=EPOCHS, tasks=TASKS)
    out = tmp / "launch.log"
    with out.open("w") as f:
        name, rows = launch(load_spec(spec), out=f)
    return {
        "spec": spec,
        "store": ResultsStore(str(tmp / "store")),
        "name": name,
        "rows": rows,
        "log": out.read_text(),
        "tmp": tmp,
    }


def test_search_runs_all_trials_and_asha_stops_some(searched):
    store = searched["store"]
    assert searched["name"] == "e2e"
    assert f"training STL baselines for {TASKS} task(s) in one run (one worker, a Ray task)" in searched["log"]
    assert "each trial trains in its own Tune trial (one worker)" in searched["log"]
    status = store.read("e2e", "status").to_pylist()
    assert len(status) == NUM_TRIALS
    assert not [s for s in status if s["status"] == "error"]
    stopped = [s for s in status if s["status"] == "stopped_early"]
    assert stopped, "ASHA stopped no trial"
    assert all(s["epochs_trained"] < EPOCHS for s in stopped)

    trials = store.read("e2e", "trials").to_pylist()
    keys = [(r["trial_id"], r["epoch"]) for r in trials]
    assert len(keys) == len(set(keys))
    by_trial = {}
    for r in trials:
        by_trial.setdefault(r["trial_id"], []).append(r["epoch"])
    for s in status:  # every reported epoch is stored, exactly once
        assert sorted(by_trial[s["trial_id"]]) == list(range(1, s["epochs_trained"] + 1))
    configs = [json.loads(r["config"]) for r in trials]
    assert all("architecture" in c and "lr" in c for c in configs)
    # grouping is sampled only for grouped architectures
    assert all(("grouping" in c) == (c["architecture"] in ("GMHL", "GMTL")) for c in configs)
    # per-task metrics: every primary task on val and test for each stored epoch
    primary_rows = [r for r in store.read("e2e", "task_metrics").to_pylist() if r["metric"] not in SECONDARY_TASK_METRICS]
    assert len(primary_rows) == len(trials) * TASKS * 2


def test_launch_wrote_the_html_report_with_every_plot(searched):

    from mtlsearch.report.html_report import PLOT_IDS

    page = (Path(searched["store"].root) / "experiments" / "e2e" / "report.html").read_text(encoding="utf-8")
    for plot_id in PLOT_IDS:  # the real search's store fills every fixed plot
        assert plot_has_image(page, plot_id), plot_id
        assert f'id="{plot_id}-data"' in page
    assert all(f"{r['trial_id']}" in page for r in searched["rows"])


def test_leaderboard_has_finite_delta_m_and_is_printed(searched):
    rows = searched["rows"]
    assert len(rows) == NUM_TRIALS
    assert any(math.isfinite(r["dm_val"]) and math.isfinite(r["dm_test"]) for r in rows)
    assert [r["dm_val"] for r in rows] == sorted((r["dm_val"] for r in rows), reverse=True)
    log = searched["log"]
    assert "Δm val" in log and "per-task scores of the top candidates" in log
    assert "stopped by ASHA" in log and "best Δm(val)" in log
    assert "tensorboard --logdir" in log


def test_tensorboard_event_files_per_trial(searched):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import metadata as hp_metadata

    store = searched["store"]
    status = store.read("e2e", "status").to_pylist()
    configs = {r["trial_id"]: json.loads(r["config"]) for r in store.read("e2e", "trials").to_pylist()}
    for s in status:
        logdir = Path(store.experiment_uri("e2e", "tensorboard", s["trial_id"]))
        assert list(logdir.glob("events.out.tfevents.*")), f"no event file for {s['trial_id']}"
        acc = EventAccumulator(str(logdir))
        acc.Reload()
        assert len(acc.Scalars("dm/val")) == s["epochs_trained"]
        assert "val/task_00" in acc.Tags()["scalars"]
        # the HParams session (mtlsearch.search.tb_hparams): the trial's stored config, and that it ended
        hp_tags = acc.PluginTagToContent(hp_metadata.PLUGIN_NAME)
        start = hp_metadata.parse_session_start_info_plugin_data(hp_tags[hp_metadata.SESSION_START_INFO_TAG])
        assert start.group_name == s["trial_id"]
        assert start.hparams["architecture"].string_value == configs[s["trial_id"]]["architecture"]
        assert start.hparams["lr"].number_value == pytest.approx(configs[s["trial_id"]]["lr"])
        end = hp_metadata.parse_session_end_info_plugin_data(hp_tags[hp_metadata.SESSION_END_INFO_TAG])
        assert end.status == api_pb2.STATUS_SUCCESS
    # the experiment summary written at the end: every stored config key, the three metrics
    root = EventAccumulator(store.experiment_uri("e2e", "tensorboard", EXPERIMENT_FILE))
    root.Reload()
    experiment = hp_metadata.parse_experiment_plugin_data(
        root.PluginTagToContent(hp_metadata.PLUGIN_NAME)[hp_metadata.EXPERIMENT_TAG]
    )
    assert [m.name.tag for m in experiment.metric_infos] == list(HPARAM_METRICS)
    assert {h.name for h in experiment.hparam_infos} == {k for c in configs.values() for k in c}


def test_the_optuna_study_holds_every_finished_trial(searched):
    """The study optuna-dashboard opens: every trial of the store, with its Δm(val), parameters and learning curve."""
    import optuna
    from ray.tune.utils.util import flatten_dict

    from mtlsearch.search import study

    store = searched["store"]
    path = study.local_journal_path(store.root, "e2e")
    assert path == store.experiment_uri("e2e", study.JOURNAL_FILE)
    assert f"optuna-dashboard {path}" in searched["log"]
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    assert optuna.get_all_study_names(storage) == ["e2e"]
    loaded = optuna.load_study(study_name="e2e", storage=storage)
    assert len(loaded.trials) == NUM_TRIALS
    by_tune = {t.user_attrs[study.TUNE_TRIAL_ID]: t for t in loaded.trials}
    status = {s["trial_id"]: s for s in store.read("e2e", "status").to_pylist()}
    assert set(by_tune) == set(status)
    dm_val = {(r["trial_id"], r["epoch"]): r for r in store.read("e2e", "trials").to_pylist()}
    for trial_id, t in by_tune.items():
        row = dm_val[trial_id, status[trial_id]["epochs_trained"]]  # its last epoch
        assert t.params == flatten_dict(json.loads(row["config"]), delimiter="/")
        # the learning curve: Tune hands the searcher each epoch's result but the one ASHA stops it at
        assert set(t.intermediate_values) <= set(range(1, status[trial_id]["epochs_trained"] + 1))
        for epoch, value in t.intermediate_values.items():
            assert value == pytest.approx(dm_val[trial_id, epoch]["dm_val"], nan_ok=True)
        if math.isfinite(row["dm_val"]):
            assert t.state == optuna.trial.TrialState.COMPLETE and t.value == pytest.approx(row["dm_val"])
        else:  # Optuna refuses a NaN objective: the trial is failed
            assert t.state == optuna.trial.TrialState.FAIL
    assert any(t.state == optuna.trial.TrialState.COMPLETE for t in loaded.trials)
    assert any(t.intermediate_values for t in loaded.trials)


def test_results_command_json(searched, capsys):
    store = searched["store"]
    assert main(["results", "e2e", "--storage", store.root, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == NUM_TRIALS
    for r in rows:
        assert {"config", "tasks", "dm_val", "dm_test", "epochs_trained", "stopped_early", "cost_worker_s"} <= set(r)
        assert set(r["tasks"]) == {f"task_{i:02d}" for i in range(TASKS)}
        assert r["cost_worker_s"] > 0
    assert any(r["stopped_early"] for r in rows)
    assert main(["results", "nosuch", "--storage", store.root]) == 1


@pytest.fixture(scope="module")
def relaunched(searched, ray_cluster):
    """The same spec launched again on the same store (its baselines reused), as a grid: GMHL grouped by the
    ``tim`` method (k = 2), without and with cross-task attention."""
    spec = write_spec(
        searched["tmp"] / "relaunch.yaml",
        searched["tmp"] / "store",
        experiment="e2e",
        num_samples=2,
        epochs=EPOCHS,
        tasks=TASKS,
        search_extra="searcher: grid",
        space=textwrap.dedent(
            """\
            architecture: {choice: [GMHL]}
                grouping:
                  method: {choice: [tim]}
                  k: {choice: [2]}
                cross_task_attention: {choice: [false, true]}"""
        ),
        extra="grouping_methods:\n  tim: {epochs: 1}",
    )
    out = searched["tmp"] / "relaunch.log"
    with out.open("w") as f:
        name, rows = launch(load_spec(spec), out=f)
    return {"name": name, "rows": rows, "log": out.read_text()}


def test_relaunch_reuses_baselines(searched, relaunched):
    log = relaunched["log"]
    assert f"reusing {TASKS} stored STL baselines" in log and "training STL" not in log
    assert relaunched["name"] == "e2e-2" and len(relaunched["rows"]) == 2
    runs = Path(searched["store"].uri("baselines", "runs"))
    assert len([p for p in runs.iterdir() if p.is_dir()]) == 1  # still the single STL run of the first launch
    # the first experiment is untouched
    assert len(searched["store"].read("e2e", "status")) == NUM_TRIALS


def test_tim_grouping_and_cross_task_attention_in_the_store(searched, relaunched):
    store, name = searched["store"], relaunched["name"]
    tasks = [f"task_{i:02d}" for i in range(TASKS)]
    assert "grouping: tim reliability:" in relaunched["log"]

    # the TIM artifact: its matrix (as TAG affinity Z_{s→t}, diagonal 0) and heatmap under groupings/tim-<fingerprint>/
    (artifact,) = [p for p in Path(store.uri("groupings")).iterdir() if p.name.startswith("tim-")]
    assert (artifact / "heatmap.png").read_bytes()[:8] == PNG
    names, rows, meta = store.groupings.read_matrix(artifact.name)
    assert sorted(names) == tasks and len(rows) == TASKS and all(len(r) == TASKS for r in rows)
    assert all(rows[i][i] == 0.0 for i in range(TASKS))
    assert all(0.0 < rows[i][j] < 1.0 for i in range(TASKS) for j in range(TASKS) if i != j)
    assert meta["method"] == "tim" and meta["settings"]["epochs"] == 1 and meta["reliability"]
    assert (Path(store.experiment_uri(name, "artifacts")) / "tim-heatmap.png").read_bytes()[:8] == PNG
    tim_groups = sorted(map(sorted, store.read_experiment(name)["computed_groupings"]["tim/k=2"]))

    trials = store.read(name, "trials").to_pylist()
    configs = {r["trial_id"]: json.loads(r["config"]) for r in trials}
    assert sorted(c["cross_task_attention"] for c in configs.values()) == [False, True]
    for r in trials:  # every stored epoch
        config = configs[r["trial_id"]]
        assert config["architecture"] == "GMHL" and sorted(map(sorted, json.loads(r["groups"]))) == tim_groups
        if not config["cross_task_attention"]:
            assert r["tim"] is None, f"{config}: a trial without attention has a TIM"
            continue
        # GMHL: one attention over all tasks on the shared encoder, whatever the head groups
        tim = json.loads(r["tim"])
        assert sorted(tim["tasks"]) == tasks
        matrix = tim["matrix"]
        assert len(matrix) == TASKS and all(len(row) == TASKS for row in matrix)
        for a, row in enumerate(matrix):
            assert row[a] is None  # the diagonal: the self share, not stored
            cross = row[:a] + row[a + 1 :]
            assert all(v is not None and 0.0 < v < 1.0 for v in cross), (config, tim["tasks"][a], row)
            assert sum(cross) < 1.0  # a row of A sums to 1 with the self share
    assert all(r["tim"] is None for r in store.read("e2e", "trials").to_pylist())  # the first search: no attention

    # the report shows the attention trial's TIM: its heatmap and each task's cross share (each row's sum, below 1)
    from mtlsearch.report.html_report import ATTENTION_PLOT_ID, build_report

    page = build_report(store, name)
    assert plot_has_image(page, ATTENTION_PLOT_ID) and "1 of 2 ranked trial(s) had cross-task attention" in page
    table = page[page.index("<table id='attention-table'>") :].split("</table>")[0]
    shares = dict(re.findall(r"<tr><td>(task_\d+)</td><td>([0-9.]+)</td>", table))
    assert sorted(shares) == tasks and all(0.0 < float(v) < 1.0 for v in shares.values())


def test_optuna_dashboard_serves_the_stored_study(searched):
    """The command ``launch`` prints, run for real: optuna-dashboard's own API lists the study and its trials."""
    import shutil
    import socket
    import subprocess
    import time
    import urllib.request

    from mtlsearch.search import study

    exe = shutil.which("optuna-dashboard") or str(Path(__import__("sys").executable).parent / "optuna-dashboard")
    if not Path(exe).exists():
        pytest.skip("optuna-dashboard is optional: pip install 'mtlsearch[dashboard]' to run this")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = study.local_journal_path(searched["store"].root, "e2e")
    proc = subprocess.Popen(
        [exe, path, "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline, summaries = time.monotonic() + 60, None
        while summaries is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    summaries = json.load(r)["study_summaries"]
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "optuna-dashboard did not answer within 60 s"
                time.sleep(0.3)
        assert [s["study_name"] for s in summaries] == ["e2e"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{summaries[0]['study_id']}", timeout=10) as r:
            detail = json.load(r)
        assert len(detail["trials"]) == NUM_TRIALS
        finished = [t for t in detail["trials"] if t["state"] == "Complete"]
        assert finished and all(len(t["values"]) == 1 and t["params"] for t in finished)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


MO_TRIALS = 4


@pytest.fixture(scope="module")
def multiobjective(searched, ray_cluster):
    """A multi-objective search (Δm(val) against cost, NSGA-II, ASHA on Δm(val)) on the same store and dataset:
    the baselines are reused; its confirmation retrains one candidate, from the Pareto set."""
    spec = write_spec(
        searched["tmp"] / "multiobjective.yaml",
        searched["tmp"] / "store",
        experiment="e2e-mo",
        num_samples=MO_TRIALS,
        epochs=EPOCHS,
        tasks=TASKS,
        search_extra="objectives: [dm_val, cost]\nsearcher: nsga2\nconfirm: {top: 1, seeds: 2}",
    )
    out = searched["tmp"] / "multiobjective.log"
    with out.open("w") as f:
        name, rows = launch(load_spec(spec), out=f)
    return {"name": name, "rows": rows, "log": out.read_text()}


def test_a_multi_objective_search_stores_its_pareto_set(searched, multiobjective, capsys):
    """The study has two objectives; ASHA's stops are pruned in it; its Pareto front is the leaderboard's, the
    CSV's and the report's Pareto set."""
    import csv
    import io
    import re

    import optuna

    from mtlsearch.metrics.result_keys import COST, DM_VAL
    from mtlsearch.search import study

    store, name, rows = searched["store"], multiobjective["name"], multiobjective["rows"]
    assert name == "e2e-mo" and len(rows) == MO_TRIALS
    log = multiobjective["log"]
    assert f"reusing {TASKS} stored STL baselines" in log
    loaded = optuna.load_study(study_name=name, storage=study.journal_storage(store.root, name))
    assert [d.name for d in loaded.directions] == ["MAXIMIZE", "MINIMIZE"] and loaded.metric_names == ["dm_val", "cost"]
    assert "searcher nsga2, objectives ['dm_val', 'cost']" in log
    by_tune = {t.user_attrs[study.TUNE_TRIAL_ID]: t for t in loaded.trials}
    searched_ids = {r["trial_id"] for r in store.read(name, "trials").to_pylist() if r["confirms"] is None}
    status = {s["trial_id"]: s for s in store.read(name, "status").to_pylist() if s["trial_id"] in searched_ids}
    assert set(by_tune) == set(status)  # the study holds the search's trials (the confirmation runs are not its)
    last = {(r["trial_id"], r["epoch"]): r for r in store.read(name, "trials").to_pylist()}
    for trial_id, t in by_tune.items():
        s = status[trial_id]
        if s["status"] == "stopped_early":  # told as pruned: a partial budget's cost is not the candidate's
            assert t.state == optuna.trial.TrialState.PRUNED and t.user_attrs[study.STOPPED_AT_ATTR] == s["epochs_trained"]
        else:
            assert s["status"] == "finished" and t.state == optuna.trial.TrialState.COMPLETE
            row = last[trial_id, EPOCHS]
            assert t.values == [pytest.approx(row[DM_VAL]), pytest.approx(row[COST])]
    front = {t.user_attrs[study.TUNE_TRIAL_ID] for t in loaded.best_trials}
    assert front and {r["trial_id"] for r in rows if r["pareto"]} == front
    [confirmed] = [r for r in rows if r["confirmation"]]  # confirm {top: 1}: the Pareto set's best by Δm(val)
    assert confirmed["trial_id"] == max((r for r in rows if r["pareto"]), key=lambda r: r["dm_val"])["trial_id"]

    assert "Pareto set of the multi-objective search" in log
    printed = log[log.index("Pareto set of the multi-objective search") :]
    assert all(t in printed for t in front)
    assert main(["results", name, "--storage", store.root, "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["trial_id"] for r in table if r["pareto"] == "True"} == front
    report = Path(store.root) / "experiments" / name / "report.html"
    page = report.read_text(encoding="utf-8")
    pareto = re.search(r"<table id='pareto-set'>(.*?)</table>", page).group(1)
    assert set(re.findall(r"<tr><td>([^<]+)</td>", pareto)) == front
    assert "a multi-objective Optuna study" in page
    # as a browser shows it: the cost plot with its front, and the Pareto-set table (skips where no Chromium)
    dom = render_in_chromium(report, searched["tmp"], "multiobjective_report_screenshot.png")
    assert plot_has_image(dom, "plot-cost")
    shown = re.search(r'<table id="pareto-set">(.*?)</table>', dom, re.S).group(1)
    assert set(re.findall(r"<tr><td>([^<]+)</td>", shown)) == front
