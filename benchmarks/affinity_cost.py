"""Cost of measuring TAG lookahead affinity during all-task training, vs. plain training.

One epoch of all-task training (MTL sharing plan: one shared MLP encoder, one
head per task) with :class:`MultiTaskTrainer.train_epoch`, for T = 8, 23 and 50
tasks, three ways:

* plain: the epoch alone;
* batched: the same epoch with the TAG lookahead affinity of the current batch
  measured every 10 steps by :func:`mtlsearch.grouping.affinity.lookahead_affinity`
  (the default path: the hand-batched MLP computation, Gram form where cheaper);
* naive: the same with :func:`naive_lookahead_affinity` (per task one backward
  and one lookahead forward pass);
* and, for reference, ``impl="func"``: the generic ``torch.func`` batching
  (``vmap`` of the encoder's ``vjp`` and of ``functional_call``).

Setting (mirrors ``search_spaces/ohsumed_grouping.yaml``, the project's real
23-task dataset: 13,929 documents, 1,002 bag-of-words features, MLP [256, 128]
with dropout 0.1, batch 128, Adam lr 1e-3): synthetic data with planted groups,
14,000 samples (9,800 training), input dim 1,000 (G·8 group features + noise
features, G = T/4 rounded), MLP encoder [256, 128] with dropout 0.1, batch 128,
Adam lr 1e-3, one multiclass task, torch threads 1 (what a Ray worker with
< 1 CPU gets). Each variant's epoch is timed ``--repeats`` times (variants
interleaved, each on a fresh trainer after one warm-up epoch); the table shows
the medians.

Run:  .venv/bin/python benchmarks/affinity_cost.py [--tasks 8 23 50] [--repeats 3] [--threads 1]
Target: batched ≤ 1.5× plain at T = 23.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import asdict

import torch

EVERY = 10


def build_job(tasks: int, samples: int, input_dim: int, hidden: list[int], dropout: float, batch: int, threads: int, root: str):
    from mtlsearch.data.canonical import read_info
    from mtlsearch.data.registry import prepare
    from mtlsearch.data.synthetic import SyntheticOptions
    from mtlsearch.models.plan import make_plan
    from mtlsearch.train.job import TrainJob

    groups = max(2, round(tasks / 4))
    opts = SyntheticOptions(num_tasks=tasks, num_groups=groups, num_samples=samples, block_dim=8,
                            noise_dim=max(0, input_dim - 8 * groups), multiclass_tasks=1, seed=0)
    path = prepare("synthetic", opts, root)
    info = read_info(path)
    return TrainJob(dataset_path=str(path), tasks=[asdict(t) for t in info.tasks], plan=make_plan("MTL", info.task_names).to_dict(),
                    encoder={"type": "mlp", "hidden_dims": hidden, "dropout": dropout}, epochs=100, batch_size=batch, lr=1e-3,
                    seed=0, torch_threads=threads)


def make_hook(trainer, variant: str):
    from mtlsearch.grouping.affinity import DEFAULT_LOOKAHEAD_LR, lookahead_affinity, naive_lookahead_affinity

    if variant == "plain":
        return None
    x_all, targets = trainer.data["train"][0], trainer.train_targets

    def hook(step: int, idx: torch.Tensor) -> None:
        if step % EVERY == 0:
            xb, tb = x_all[idx], tuple(t[idx] for t in targets)
            if variant == "naive":
                naive_lookahead_affinity(trainer.model, trainer.loss_fn, xb, tb, DEFAULT_LOOKAHEAD_LR)
            else:
                lookahead_affinity(trainer.model, trainer.loss_fn, xb, tb, DEFAULT_LOOKAHEAD_LR,
                                   impl="auto" if variant == "batched" else "func")

    return hook


def time_epochs(job, variants: list[str], repeats: int) -> dict[str, float]:
    from mtlsearch.train.trainer import MultiTaskTrainer

    trainers = {}
    for v in variants:  # a fresh trainer per variant, warmed up by one epoch of its own kind
        trainers[v] = MultiTaskTrainer(job)
        trainers[v].train_epoch(0, step_hook=make_hook(trainers[v], v))
    times: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(repeats):
        for v in variants:
            t0 = time.perf_counter()
            trainers[v].train_epoch(1 + r, step_hook=make_hook(trainers[v], v))
            times[v].append(time.perf_counter() - t0)
    return {v: statistics.median(ts) for v, ts in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, nargs="+", default=[8, 23, 50])
    p.add_argument("--samples", type=int, default=14000)
    p.add_argument("--input-dim", type=int, default=1000)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 128])
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-naive", action="store_true", help="skip the (slow) naive loop")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    variants = ["plain", "batched", "func"] + ([] if args.no_naive else ["naive"])
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for t in args.tasks:
            job = build_job(t, args.samples, args.input_dim, args.hidden, args.dropout, args.batch_size, args.threads, root)
            rows.append((t, time_epochs(job, variants, args.repeats)))
            print(f"  T={t} done", flush=True)
    n_train = int(args.samples * 0.7)
    print(f"\nTAG lookahead affinity cost: one epoch of {n_train} training samples, input dim {args.input_dim}, MLP {args.hidden} "
          f"(dropout {args.dropout}), batch {args.batch_size}, Adam, torch threads {args.threads}; affinity every {EVERY} steps; "
          f"median of {args.repeats} epochs\n")
    nan = float("nan")
    print(f"{'T':>3}  {'plain s':>8}  {'batched s':>9}  {'naive s':>8}  {'batched/plain':>13}  {'naive/plain':>11}  {'torch.func s':>12}  {'func/plain':>10}")
    for t, r in rows:
        pl, b, n, f = r["plain"], r["batched"], r.get("naive", nan), r["func"]
        print(f"{t:>3}  {pl:>8.3f}  {b:>9.3f}  {n:>8.3f}  {b / pl:>13.2f}  {n / pl:>11.2f}  {f:>12.3f}  {f / pl:>10.2f}")
    at23 = [r for t, r in rows if t == 23]
    if at23:
        ratio = at23[0]["batched"] / at23[0]["plain"]
        print(f"\nbatched ≤ 1.5× plain at T=23: {'met' if ratio <= 1.5 else 'NOT met'} ({ratio:.2f}×)")


if __name__ == "__main__":
    main()
