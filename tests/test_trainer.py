"""The training core without Ray: learning, checkpoint resume, and DDP batch sharding."""

from dataclasses import asdict

import pytest
import torch

from mtlsearch.data.canonical import read_info
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.models.plan import make_plan
from mtlsearch.train.job import TrainJob
from mtlsearch.train.trainer import MultiTaskTrainer


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = prepare("synthetic", SyntheticOptions(num_tasks=4, num_groups=2, num_samples=800, multiclass_tasks=1), tmp_path_factory.mktemp("d"))
    return str(path), read_info(path)


def _job(dataset, arch="MTL", epochs=4, **kw):
    path, info = dataset
    return TrainJob(dataset_path=path, tasks=[asdict(t) for t in info.tasks], plan=make_plan(arch, info.task_names, info.planted_groups).to_dict(),
                    encoder={"type": "mlp", "hidden_dims": [32]}, epochs=epochs, batch_size=32, lr=3e-3, seed=0, **kw)


def test_learns_and_reports_delta_m(dataset):
    job = _job(dataset, baselines={"task_00": {"val": 0.5, "test": 0.5}})
    trainer = MultiTaskTrainer(job)
    first = trainer.run_epoch(0)
    for e in range(1, 4):
        last = trainer.run_epoch(e)
    assert last.train_loss < first.train_loss
    m = trainer.metrics(last)
    assert m["epoch"] == 4 and set(k for k in m if k.startswith("val/")) == {f"val/task_0{i}" for i in range(4)}
    assert m["dm_val"] == pytest.approx(100 * (m["val/task_00"] - 0.5) / 0.5)
    assert all(0.0 <= m[f"best_val/task_0{i}"] <= 1.0 for i in range(4))


def test_resume_from_state_continues_identically(dataset):
    job = _job(dataset, arch="GMTL")
    straight = MultiTaskTrainer(job)
    for e in range(4):
        s = straight.run_epoch(e)
    interrupted = MultiTaskTrainer(job)
    for e in range(2):
        interrupted.run_epoch(e)
    state = interrupted.state_dict(1)
    resumed = MultiTaskTrainer(job)
    resumed.load_state_dict(state)
    assert resumed.start_epoch == 2
    for e in range(2, 4):
        r = resumed.run_epoch(e)
    assert r.train_loss == pytest.approx(s.train_loss, rel=1e-5)
    assert r.val == pytest.approx(s.val)


def test_ddp_shards_cover_exactly_the_one_worker_batches(dataset):
    job = _job(dataset)
    one = MultiTaskTrainer(job)._shard(epoch=3)
    ranks = []
    for r in range(2):
        t = MultiTaskTrainer.__new__(MultiTaskTrainer)
        t.job, t.rank, t.world_size, t.device, t.data = job, r, 2, torch.device("cpu"), {"train": (torch.zeros(len(one), 1), None)}
        ranks.append(t._shard(epoch=3))
    # global batch k of size B = 2·b: ranks' k-th local batches together are one-worker batch k
    b = 16
    for k in range(len(one) // (2 * b)):
        together = torch.cat([ranks[0][k * b:(k + 1) * b], ranks[1][k * b:(k + 1) * b]])
        assert sorted(together.tolist()) == sorted(one[k * 2 * b:(k + 1) * 2 * b].tolist())
