"""Steady-state throughput of the mtlsearch trainer (Ray Train, 1 worker) vs a plain PyTorch loop.

Same data (synthetic, 8 tasks), same model (the MTL sharing plan's
MultiTaskModel), same batch size, optimiser and thread count. Steady state =
epochs 2..E (the first epoch and all start-up are excluded). The trainer runs
on the ``ray_train`` executor's path (a TorchTrainer whose worker runs
:func:`mtlsearch.train.runner.train_loop_per_worker`, i.e. the shared loop
:func:`mtlsearch.train.loop.run_training`); a 1-worker search trial trains
in-trial by default, through the same loop.

* mtlsearch end-to-end: samples / wall second over whole epochs as the worker
  lives them: training, val+test evaluation, checkpoint, and ray.train.report.
* mtlsearch train phase: samples / second inside the training pass only.
* plain loop: shuffle, slice batches, forward, summed task losses, backward,
  step; once with nothing else (compared with the train phase), once also
  scoring every task on val and test each epoch (compared end-to-end: the
  work is then the same, and the ratio is the trainer's own overhead).

Paired rounds (benchmarks/pairs.py): each round measures all three afresh (a
new model, a new Ray Train run) in the order plain, plain + scoring, trainer,
reversed every other round, and the ratios are formed within each round; the
table shows their median and min–max over ``--pairs`` rounds (default 6, as
many in each order) and decides the target only when the whole spread is on
one side of it. One local
Ray cluster (2 CPUs) is up for all rounds, so both loops run beside the same
idle Ray processes and Ray's start-up is in no round.

Defaults: 40,000 samples (28,000 training), 8 epochs, batch 128, as before; a
round takes about 25 s on 2 cores (most of it the Ray Train run's start-up),
so 6 rounds about 3 minutes.

Run:  .venv/bin/python benchmarks/trainer_overhead.py [--pairs 6] [--samples 40000] [--epochs 8]
Target: both ratios >= 0.9.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import asdict
from itertools import count

import torch
from pairs import Target, alternate, print_table, ratio


def build_job(samples: int, epochs: int, batch: int, threads: int, root: str):
    from mtlsearch.data.canonical import read_info
    from mtlsearch.data.registry import prepare
    from mtlsearch.data.synthetic import SyntheticOptions
    from mtlsearch.models.plan import make_plan
    from mtlsearch.train.job import TrainJob

    path = prepare("synthetic", SyntheticOptions(num_tasks=8, num_groups=2, num_samples=samples, seed=0), root)
    info = read_info(path)
    return TrainJob(
        dataset_path=str(path),
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan("MTL", info.task_names).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [256, 128]},
        epochs=epochs,
        batch_size=batch,
        lr=1e-3,
        seed=0,
        torch_threads=threads,
    )


def plain_loop(job, epochs: int, evaluate: bool) -> float:
    """Training samples per wall second of a hand-written loop over epochs 2..E.

    With ``evaluate``, each epoch also scores every task on val and test, as
    any loop that selects on validation must (the trainer does it every epoch).
    """
    import torch.nn.functional as F

    from mtlsearch.data.canonical import read_splits
    from mtlsearch.metrics.task_metrics import METRICS
    from mtlsearch.models.multitask import MultiTaskModel

    torch.manual_seed(job.seed)
    torch.set_num_threads(job.torch_threads)
    tasks = list(job.tasks)
    splits = {
        k: (torch.from_numpy(v.x.copy()), torch.from_numpy(v.y))
        for k, v in read_splits(job.dataset_path, [t.name for t in tasks]).items()
    }
    x, y = splits["train"]
    model = MultiTaskModel(job.plan, tasks, job.encoder, x.shape[1], job.seed)
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
                F.binary_cross_entropy_with_logits(out[t.name][:, 0], yb[:, j].float())
                if t.kind == "binary"
                else F.cross_entropy(out[t.name], yb[:, j])
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


def mtlsearch_trainer(job, store: str, name: str) -> dict[str, float]:
    """End-to-end and train-phase samples/s, and the worker's threads, over epochs 2..E of a fresh Ray Train run.

    Needs a running Ray cluster (``ray.init``); the run is named ``name`` under ``store``.
    """
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from mtlsearch.train.runner import train_loop_per_worker

    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=job.to_config(),
        scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": 1}),
        run_config=RunConfig(name=name, storage_path=store, checkpoint_config=CheckpointConfig(num_to_keep=None)),
    )
    df = trainer.fit().metrics_dataframe.sort_values("epoch")
    steady = df[df["epoch"] >= 2]
    first, last = df[df["epoch"] == 1].iloc[0], df.iloc[-1]
    samples = steady["samples_per_s"] * steady["train_seconds"]
    return {
        "trainer e2e": samples.sum() / (last["elapsed_s"] - first["elapsed_s"]),
        "trainer train": samples.sum() / steady["train_seconds"].sum(),
        "worker threads": float(last["torch_threads"]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=6, help="rounds, each measuring every contender once (>= 5 to decide)")
    p.add_argument("--samples", type=int, default=40000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if args.epochs < 2:
        p.error("--epochs must be at least 2 (epoch 1 is excluded as warm-up)")

    import ray

    from mtlsearch.search.ray_env import runtime_env

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        job = build_job(args.samples, args.epochs, args.batch_size, args.threads, root)
        runs = count()
        ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False, runtime_env=runtime_env())
        try:
            rows = alternate(
                {
                    "plain": lambda: plain_loop(job, args.epochs, evaluate=False),
                    "plain+scoring": lambda: plain_loop(job, args.epochs, evaluate=True),
                    "trainer": lambda: mtlsearch_trainer(job, f"{root}/ray", f"bench-{next(runs)}"),
                },
                args.pairs,
            )
        finally:
            ray.shutdown()
    n_train = int(args.samples * 0.7)
    threads = sorted({int(r["worker threads"]) for r in rows})
    print(
        f"\ntrainer overhead: {n_train} training samples, 8 tasks, MTL MLP [256, 128], batch {args.batch_size}, "
        f"{args.epochs} epochs (steady state = epochs 2..{args.epochs}), torch threads {args.threads} (worker: {threads}); "
        f"{args.pairs} alternating rounds, {time.perf_counter() - t0:.0f} s\n"
    )
    print(
        "samples/s, median over rounds: "
        + ", ".join(
            f"{k} {statistics.median(r[k] for r in rows):.0f}" for k in ("plain", "trainer train", "plain+scoring", "trainer e2e")
        )
        + "\n"
    )
    print_table(
        [
            ratio(rows, "train phase: trainer train / plain", "trainer train", "plain", Target(0.9, ">=")),
            ratio(rows, "end-to-end: trainer e2e / plain+scoring", "trainer e2e", "plain+scoring", Target(0.9, ">=")),
        ]
    )


if __name__ == "__main__":
    main()
