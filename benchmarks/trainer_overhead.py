"""Steady-state throughput of the mtlsearch trainer (Ray Train, 1 worker) vs a plain PyTorch loop.

Same data (synthetic, 8 tasks), same model (the MTL sharing plan's
MultiTaskModel), same batch size, optimiser and thread count. Steady state =
epochs 2..E (the first epoch and all start-up are excluded).

* mtlsearch end-to-end: samples / wall second over whole epochs as the worker
  lives them: training, val+test evaluation, checkpoint, and ray.train.report.
* mtlsearch train phase: samples / second inside the training pass only.
* plain loop: shuffle, slice batches, forward, summed task losses, backward,
  step; once with nothing else (compared with the train phase), once also
  scoring every task on val and test each epoch (compared end-to-end: the
  work is then the same, and the ratio is the trainer's own overhead).

Run:  .venv/bin/python benchmarks/trainer_overhead.py [--samples 40000] [--epochs 8]
Target: both ratios >= 0.9.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import asdict

import torch


def build_job(samples: int, epochs: int, batch: int, threads: int, root: str):
    from mtlsearch.data.canonical import read_info
    from mtlsearch.data.registry import prepare
    from mtlsearch.data.synthetic import SyntheticOptions
    from mtlsearch.models.plan import make_plan
    from mtlsearch.train.job import TrainJob

    path = prepare("synthetic", SyntheticOptions(num_tasks=8, num_groups=2, num_samples=samples, seed=0), root)
    info = read_info(path)
    return TrainJob(
        dataset_path=str(path), tasks=[asdict(t) for t in info.tasks], plan=make_plan("MTL", info.task_names).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [256, 128]}, epochs=epochs, batch_size=batch, lr=1e-3, seed=0, torch_threads=threads,
    )


def plain_loop(job, epochs: int, evaluate: bool) -> float:
    """Training samples per wall second of a hand-written loop over epochs 2..E.

    With ``evaluate``, each epoch also scores every task on val and test, as
    any loop that selects on validation must (the trainer does it every epoch).
    """
    import torch.nn.functional as F

    from mtlsearch.data.canonical import read_splits
    from mtlsearch.metrics.scores import METRICS
    from mtlsearch.models.multitask import MultiTaskModel

    torch.manual_seed(job.seed)
    torch.set_num_threads(job.torch_threads)
    tasks = job.task_infos()
    splits = {k: (torch.from_numpy(v.x.copy()), torch.from_numpy(v.y)) for k, v in read_splits(job.dataset_path, [t.name for t in tasks]).items()}
    x, y = splits["train"]
    model = MultiTaskModel(job.sharing_plan(), tasks, job.encoder, x.shape[1], job.seed)
    opt = torch.optim.Adam(model.parameters(), lr=job.lr)
    t_first = None
    for epoch in range(epochs):
        if epoch == 1:
            t_first = time.perf_counter()
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), job.batch_size):
            idx = perm[i : i + job.batch_size]
            out = model(x[idx])
            yb = y[idx]
            loss = sum(
                F.binary_cross_entropy_with_logits(out[t.name][:, 0], yb[:, j].float()) if t.kind == "binary" else F.cross_entropy(out[t.name], yb[:, j])
                for j, t in enumerate(tasks)
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if evaluate:
            model.eval()
            with torch.no_grad():
                for split in ("val", "test"):
                    xs, ys = splits[split]
                    out = model(xs)
                    for j, t in enumerate(tasks):
                        pred = (out[t.name][:, 0] > 0).long() if t.kind == "binary" else out[t.name].argmax(1)
                        METRICS[t.metric](pred.numpy(), ys[:, j].numpy(), len(t.classes))
    return len(x) * (epochs - 1) / (time.perf_counter() - t_first)


def mtlsearch_trainer(job, store: str) -> tuple[float, float, int]:
    """(end-to-end samples/s, train-phase samples/s, worker threads) over epochs 2..E of a real Ray Train run."""
    import ray
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from mtlsearch.search.ray_env import runtime_env
    from mtlsearch.train.loop import train_loop_per_worker

    ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False, runtime_env=runtime_env())
    try:
        trainer = TorchTrainer(
            train_loop_per_worker,
            train_loop_config=job.to_config(),
            scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": 1}),
            run_config=RunConfig(name="bench", storage_path=store, checkpoint_config=CheckpointConfig(num_to_keep=None)),
        )
        df = trainer.fit().metrics_dataframe.sort_values("epoch")
    finally:
        ray.shutdown()
    steady = df[df["epoch"] >= 2]
    first, last = df[df["epoch"] == 1].iloc[0], df.iloc[-1]
    samples = steady["samples_per_s"] * steady["train_seconds"]
    end_to_end = samples.sum() / (last["elapsed_s"] - first["elapsed_s"])
    train_phase = samples.sum() / steady["train_seconds"].sum()
    return end_to_end, train_phase, int(last["torch_threads"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=40000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as root:
        job = build_job(args.samples, args.epochs, args.batch_size, args.threads, root)
        plain = plain_loop(job, args.epochs, evaluate=False)
        plain_eval = plain_loop(job, args.epochs, evaluate=True)
        e2e, train_phase, threads = mtlsearch_trainer(job, f"{root}/ray")
    n_train = int(args.samples * 0.7)
    print(f"\ntrainer overhead: {n_train} training samples, 8 tasks, MTL MLP [256, 128], batch {args.batch_size}, "
          f"{args.epochs} epochs (steady state = epochs 2..{args.epochs}), torch threads {args.threads} (worker: {threads})\n")
    rows = [
        ("plain PyTorch loop, train only", plain, 1.0),
        ("mtlsearch trainer, train phase  (vs plain train only)", train_phase, train_phase / plain),
        ("plain PyTorch loop, train + val/test scoring per epoch", plain_eval, 1.0),
        ("mtlsearch trainer, end-to-end  (vs plain train + scoring)", e2e, e2e / plain_eval),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'loop':<{w}}  {'samples/s':>10}  {'ratio':>6}")
    for name, sps, ratio in rows:
        print(f"{name:<{w}}  {sps:>10.0f}  {ratio:>6.3f}")
    for what, ratio in (("train phase", train_phase / plain), ("end-to-end", e2e / plain_eval)):
        print(f"target: {what} ratio >= 0.9 -> {'met' if ratio >= 0.9 else 'NOT met'}")


if __name__ == "__main__":
    main()
