"""A trial's training process killed mid-trial: the trial restores from its last checkpoint and the search finishes.

On the in-trial path that process is the Tune trial actor itself (Tune restarts the
trial from ``tune.get_checkpoint()``); on the Ray Train path it is the trial's Ray
Train worker (the worker group restarts from the Train run's checkpoint).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import tune_results, write_spec

from mtlsearch.store.results import ResultsStore

pytestmark = pytest.mark.ray

TRAINING_ACTOR = {"in_trial": "ImplicitFunc", "ray_train": "RayTrainWorker"}
"""The Ray actor class that trains a trial on each path (Tune's function trainable; a Ray Train worker)."""
SAMPLES = {"in_trial": 24000, "ray_train": 6000}
"""Enough data that epochs 3-5 last well over the poll below (an in-trial epoch has no Ray Train report wait)."""


def _training_pids(address: str, executor: str) -> list[int]:
    from ray.util.state import list_actors

    filters = [("class_name", "=", TRAINING_ACTOR[executor]), ("state", "=", "ALIVE")]
    return [a.pid for a in list_actors(address=address, filters=filters, detail=True)]


@pytest.mark.parametrize("executor", ["in_trial", "ray_train"])
def test_killed_training_process_resumes_from_checkpoint(ray_cluster, tmp_path, executor):
    epochs = 5
    spec = write_spec(
        tmp_path / "s.yaml",
        tmp_path / "store",
        "faults",
        num_samples=1,
        epochs=epochs,
        tasks=2,  # two baselines to train before the trial: the kill is what is tested
        samples=SAMPLES[executor],
        extra_train=f"max_failures: 2\nexecutor: {executor}",
        asha="{enabled: false}",
        space="architecture: {choice: [MTL]}",
    )
    store = ResultsStore(str(tmp_path / "store"))
    log = tmp_path / "launch.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtlsearch.cli", "launch", str(spec), "--address", ray_cluster],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.time() + 300
        killed = None
        while killed is None:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.time() < deadline, "the trial did not reach epoch 2 in time"
            trial_dir = tmp_path / "store" / "experiments" / "faults" / "trials"
            epochs_done = len(list(trial_dir.glob("*/epoch=*.parquet"))) if trial_dir.exists() else 0
            pids = _training_pids(ray_cluster, executor) if epochs_done >= 2 else []
            if pids:
                os.kill(pids[0], signal.SIGKILL)  # the process training the trial dies mid-run
                killed = epochs_done
            time.sleep(0.2)
        assert proc.wait(timeout=400) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    status = store.read("faults", "status").to_pylist()
    assert [s["status"] for s in status] == ["finished"]
    rows = store.read("faults", "trials").to_pylist()
    assert sorted(r["epoch"] for r in rows) == list(range(1, epochs + 1))  # every epoch stored exactly once
    resumed = {r["resumed_at_epoch"] for rows in tune_results(tmp_path / "store", "faults").values() for r in rows}
    assert killed >= 2 and max(resumed) >= 1, (resumed, killed)  # restarted from a checkpoint, not from scratch
