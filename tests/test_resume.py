"""An interrupted search continues with `launch --resume`: no stored row lost, none duplicated, no extra trial."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import write_spec

from mtlsearch.search.launcher import launch
from mtlsearch.spec import load_spec
from mtlsearch.store.results import ABANDONED, ResultsStore

pytestmark = pytest.mark.ray

TRIALS, EPOCHS, SAMPLES = 3, 6, 12000  # long enough that the kill lands while trials still run


def test_resume_after_interrupt(ray_cluster, tmp_path, sig=signal.SIGKILL):
    """The driver process killed outright (no chance to save anything): ``--resume`` finishes the search.

    (SIGKILL is the harder case: Ctrl-C lets Tune save its state first. Both passed here; only this one
    stays in the suite, which must run in 15 minutes.)"""
    # a discrete space of 4 configurations: the restored search also restores which ones have run (no repeat)
    spec = write_spec(
        tmp_path / "spec.yaml",
        tmp_path / "store",
        experiment="res",
        num_samples=TRIALS,
        epochs=EPOCHS,
        tasks=4,
        samples=SAMPLES,
        asha="{enabled: false}",
        space="architecture: {choice: [STL, MTL, GMTL]}\n    grouping: {choice: [planted, mixed]}",
    )
    store = ResultsStore(str(tmp_path / "store"))
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtlsearch.cli", "launch", str(spec), "--address", ray_cluster],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.time() + 300
        while len(store.read("res", "status")) < 1:  # interrupt once the first trial has ended
            assert proc.poll() is None, (tmp_path / "first.log").read_text()
            assert time.time() < deadline, "no trial finished in time"
            time.sleep(0.2)
        proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    ended_before = set(store.read("res", "status").column("trial_id").to_pylist())
    done_before = len(ended_before)
    assert done_before < TRIALS, "the search finished before it could be interrupted"

    with open(tmp_path / "resume.log", "w") as f:
        name, rows = launch(load_spec(spec), resume=True, out=f)
    assert name == "res"
    everything = store.read("res", "status").to_pylist()
    # a trial that reported after Tune last saved its state is unknown to the restored search: it is marked
    # abandoned (its rows kept, not ranked) and the searcher ran another one in its place
    abandoned = {s["trial_id"] for s in everything if s["status"] == ABANDONED}
    status = [s for s in everything if s["status"] != ABANDONED]
    assert len(status) == TRIALS and {s["trial_id"] for s in status} == {r["trial_id"] for r in rows}
    assert all(s["status"] == "finished" for s in status)
    trials = [r for r in store.read("res", "trials").to_pylist() if r["trial_id"] not in abandoned]
    keys = sorted((r["trial_id"], r["epoch"]) for r in trials)
    assert keys == sorted((s["trial_id"], e) for s in status for e in range(1, EPOCHS + 1))
    assert "reusing 4 stored STL baselines" in (tmp_path / "resume.log").read_text()
    configs = [r["config"] for r in trials if r["epoch"] == 1]
    assert len(set(configs)) == TRIALS  # no configuration ran twice across the interruption
    _assert_one_study_continued(store, status, ended_before)


def _assert_one_study_continued(store: ResultsStore, status: list[dict], ended_before: set[str]) -> None:
    """The resumed search told the same Optuna study: the trials that ended before the kill are in it, no study
    was added, and nothing is left running."""
    import optuna
    from optuna.trial import TrialState

    from mtlsearch.search import study

    storage = study.journal_storage(store.root, "res")
    assert optuna.get_all_study_names(storage) == ["res"]
    trials = optuna.load_study(study_name="res", storage=storage).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    by_tune = {t.user_attrs[study.TUNE_TRIAL_ID]: t for t in trials if study.TUNE_TRIAL_ID in t.user_attrs}
    assert ended_before <= set(by_tune) and {s["trial_id"] for s in status} <= set(by_tune)
    last = {r["trial_id"]: r["dm_val"] for r in store.read("res", "trials").to_pylist() if r["epoch"] == EPOCHS}
    for s in status:
        assert by_tune[s["trial_id"]].state == TrialState.COMPLETE
        assert by_tune[s["trial_id"]].value == pytest.approx(last[s["trial_id"]])
