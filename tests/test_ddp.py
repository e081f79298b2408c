"""Two Ray Train workers run real DDP (gloo on CPU) and follow the one-worker run on the same global batch.

The one-worker run is the shared loop in this process (what an in-trial trial runs); the two-worker run
is the same loop in a Ray Train worker group."""

from dataclasses import asdict

import pytest
import torch

from mtlsearch.data.canonical import read_info
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.models.plan import make_plan
from mtlsearch.spec import TrainSpec
from mtlsearch.train.job import TrainJob
from mtlsearch.train.loop import run_training
from mtlsearch.train.runner import make_trainer
from mtlsearch.train.sessions import StoreSession

pytestmark = pytest.mark.ray


def test_two_workers_match_one_worker(ray_cluster, tmp_path):
    path = prepare("synthetic", SyntheticOptions(num_tasks=4, num_groups=2, num_samples=600, multiclass_tasks=0), tmp_path / "d")
    info = read_info(path)
    job = TrainJob(
        dataset_path=str(path),
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan("GMTL", info.task_names, info.planted_groups).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [16]},
        epochs=3,
        batch_size=64,
        lr=3e-3,
        seed=0,
        torch_threads=1,
    )
    one = StoreSession(str(tmp_path / "one"))
    threads = torch.get_num_threads()
    try:
        run_training(job.to_config(), one)
    finally:
        torch.set_num_threads(threads)  # the trainer sets the job's threads process-wide
    results = {
        1: one.reports[-1],
        2: make_trainer(job, TrainSpec(workers=2, cpus_per_worker=0.5), "ddp2", str(tmp_path / "runs")).fit().metrics,
    }
    assert results[1]["world_size"] == 1 and results[2]["world_size"] == 2
    assert results[2]["train_loss"] == pytest.approx(results[1]["train_loss"], rel=1e-4)
    for t in info.task_names:
        assert results[2][f"val/{t}"] == pytest.approx(results[1][f"val/{t}"], abs=0.01)
