"""Two Ray Train workers run real DDP (gloo on CPU) and follow the one-worker run on the same global batch."""

from dataclasses import asdict

import pytest

from mtlsearch.data.canonical import read_info
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.models.plan import make_plan
from mtlsearch.spec import TrainSpec
from mtlsearch.train.job import TrainJob
from mtlsearch.train.runner import make_trainer

pytestmark = pytest.mark.ray


def test_two_workers_match_one_worker(ray_cluster, tmp_path):
    path = prepare("synthetic", SyntheticOptions(num_tasks=4, num_groups=2, num_samples=600, multiclass_tasks=0), tmp_path / "d")
    info = read_info(path)
    job = TrainJob(dataset_path=str(path), tasks=[asdict(t) for t in info.tasks], plan=make_plan("GMTL", info.task_names, info.planted_groups).to_dict(),
                   encoder={"type": "mlp", "hidden_dims": [16]}, epochs=3, batch_size=64, lr=3e-3, seed=0, torch_threads=1)
    results = {}
    for workers in (1, 2):
        train = TrainSpec(workers=workers, cpus_per_worker=0.5)
        results[workers] = make_trainer(job, train, f"ddp{workers}", str(tmp_path / "runs")).fit().metrics
    assert results[1]["world_size"] == 1 and results[2]["world_size"] == 2
    assert results[2]["train_loss"] == pytest.approx(results[1]["train_loss"], rel=1e-4)
    for t in info.task_names:
        assert results[2][f"val/{t}"] == pytest.approx(results[1][f"val/{t}"], abs=0.01)
