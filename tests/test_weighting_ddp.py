"""Every loss weighting under real DDP (2 processes, gloo on CPU) follows the 1-worker run on the same global batch.

Per step, the mean over the two ranks of their per-task losses is the global
batch's per-task loss, so the per-step loss curves must agree with the one-worker
run's; so must the final parameters and task weights. GradNorm and PCGrad are
checked on MTL (one shared encoder) and GMTL (one shared encoder per group).
"""

from __future__ import annotations

import os
from dataclasses import asdict

import pytest
import torch

CASES = [
    ("equal", "MTL"),
    ("static", "MTL"),
    ("uncertainty", "MTL"),
    ("dwa", "MTL"),
    ("dtp", "MTL"),
    ("gradnorm", "MTL"),
    ("pcgrad", "MTL"),
    ("gradnorm", "GMTL"),
    ("pcgrad", "GMTL"),
]
EPOCHS = 3


def _job(path: str, name: str, arch: str):
    from mtlsearch.data.canonical import read_info
    from mtlsearch.models.plan import make_plan
    from mtlsearch.train.job import TrainJob

    info = read_info(path)
    weighting = {"name": name}
    if name == "static":
        weighting["weights"] = {info.task_names[0]: 3.0, info.task_names[1]: 0.25}
    if name == "gradnorm":
        weighting["alpha"] = 1.0
    return TrainJob(
        dataset_path=path,
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan(arch, info.task_names, info.planted_groups).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [16, 8]},
        epochs=EPOCHS,
        batch_size=64,
        lr=1e-2,
        seed=0,
        torch_threads=1,
        weighting=weighting,
    )


def _train(path: str, rank: int, world: int) -> dict:
    """Per case: per-step per-task losses of this rank, epoch losses, final parameters and weights."""
    from mtlsearch.train.trainer import MultiTaskTrainer

    out = {}
    for name, arch in CASES:
        trainer = MultiTaskTrainer(_job(path, name, arch), rank=rank, world_size=world)
        steps: list[torch.Tensor] = []
        backward = trainer.weighting.backward

        def recording(losses, backward=backward, steps=steps):
            steps.append(losses.detach().clone())
            return backward(losses)

        trainer.weighting.backward = recording
        epoch_losses = [trainer.train_epoch(e)[0] for e in range(EPOCHS)]
        out[f"{name}/{arch}"] = {
            "steps": torch.stack(steps),
            "epochs": epoch_losses,
            "params": torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()]),
            "weights": trainer.weighting.weights().clone(),
            "training": trainer.train_model is trainer.model,
        }
    return out


def _worker(rank: int, path: str, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.save(_train(path, rank, 2), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import torch.multiprocessing as mp

    from mtlsearch.data.registry import prepare
    from mtlsearch.data.synthetic import SyntheticOptions

    root = tmp_path_factory.mktemp("wddp")
    # 400 samples: 280 train → global batches 64, 64, 64, 64, 24 (32/32/32/32/12 per rank)
    path = str(prepare("synthetic", SyntheticOptions(num_tasks=4, num_groups=2, num_samples=400, multiclass_tasks=1), root / "d"))
    mp.spawn(_worker, args=(path, str(root / "pg_init"), str(root)), nprocs=2, join=True)
    ranks = [torch.load(root / f"rank{r}.pt", weights_only=False) for r in range(2)]
    threads = torch.get_num_threads()
    try:
        one = _train(path, 0, 1)
    finally:
        torch.set_num_threads(threads)
    return one, ranks


@pytest.mark.parametrize("case", [f"{n}/{a}" for n, a in CASES])
def test_two_workers_follow_one_worker(runs, case):
    one, ranks = runs
    ref, r0, r1 = one[case], ranks[0][case], ranks[1][case]
    assert r0["training"] == r1["training"] == (case.split("/")[0] in ("gradnorm", "pcgrad"))  # they bypass DDP's hooks
    # per step and task: the mean of the ranks' half-batch losses is the global batch's loss
    assert ref["steps"].shape == r0["steps"].shape == (EPOCHS * 5, 4)
    torch.testing.assert_close((r0["steps"] + r1["steps"]) / 2, ref["steps"], rtol=2e-4, atol=1e-5)
    assert r0["epochs"] == r1["epochs"]  # the reported epoch loss is all-reduced
    assert r0["epochs"] == pytest.approx(ref["epochs"], rel=2e-4)
    torch.testing.assert_close(r0["params"], r1["params"], rtol=0, atol=0)  # ranks stay identical
    torch.testing.assert_close(r0["params"], ref["params"], rtol=1e-3, atol=2e-5)
    torch.testing.assert_close(r0["weights"], ref["weights"], rtol=1e-3, atol=1e-5)
    if case.split("/")[0] not in ("equal", "static", "pcgrad"):
        assert not torch.allclose(ref["weights"], torch.ones(4))  # the weights did move: the comparison means something
