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
Adam lr 1e-3, one multiclass task, torch threads 1 (what a worker of
``train.cpus_per_worker: 1``, the default, gets).

Paired rounds (benchmarks/pairs.py): for each T, every variant has its own
trainer, warmed up by one epoch of its own kind; then each of ``--pairs``
rounds (default 6, as many in each order) times one fresh epoch of every variant, in the order plain,
batched, naive, torch.func, reversed every other round. The ratios are formed
within each round; the table shows their median and min–max, and decides the
target only when the whole spread is on one side of it.

Run:  .venv/bin/python benchmarks/affinity_cost.py [--pairs 6] [--tasks 8 23 50] [--threads 1] [--no-naive] [--no-func]
Target: batched ≤ 1.5× plain at T = 23.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import asdict

import torch
from pairs import Target, alternate, print_table, ratio

EVERY = 10


def build_job(tasks: int, samples: int, input_dim: int, hidden: list[int], dropout: float, batch: int, threads: int, root: str):
    from mtlsearch.data.canonical import read_info
    from mtlsearch.data.registry import prepare
    from mtlsearch.data.synthetic import SyntheticOptions
    from mtlsearch.models.plan import make_plan
    from mtlsearch.train.job import TrainJob

    groups = max(2, round(tasks / 4))
    opts = SyntheticOptions(
        num_tasks=tasks,
        num_groups=groups,
        num_samples=samples,
        block_dim=8,
        noise_dim=max(0, input_dim - 8 * groups),
        multiclass_tasks=1,
        seed=0,
    )
    path = prepare("synthetic", opts, root)
    info = read_info(path)
    return TrainJob(
        dataset_path=str(path),
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan("MTL", info.task_names).to_dict(),
        encoder={"type": "mlp", "hidden_dims": hidden, "dropout": dropout},
        epochs=100,
        batch_size=batch,
        lr=1e-3,
        seed=0,
        torch_threads=threads,
    )


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
                lookahead_affinity(
                    trainer.model, trainer.loss_fn, xb, tb, DEFAULT_LOOKAHEAD_LR, impl="auto" if variant == "batched" else "func"
                )

    return hook


def time_epochs(job, variants: list[str], pairs: int) -> list[dict[str, float]]:
    """Per round, the seconds of one epoch of every variant (alternating order, :func:`pairs.alternate`)."""
    from mtlsearch.train.trainer import MultiTaskTrainer

    trainers, hooks, epochs = {}, {}, {}
    for v in variants:  # a fresh trainer per variant, warmed up by one epoch of its own kind
        trainers[v] = MultiTaskTrainer(job)
        hooks[v] = make_hook(trainers[v], v)
        trainers[v].train_epoch(0, step_hook=hooks[v])
        epochs[v] = 1

    def epoch(v: str) -> float:
        t0 = time.perf_counter()
        trainers[v].train_epoch(epochs[v], step_hook=hooks[v])
        epochs[v] += 1
        return time.perf_counter() - t0

    return alternate({v: (lambda v=v: epoch(v)) for v in variants}, pairs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=6, help="rounds, each timing one epoch of every variant (>= 5 to decide)")
    p.add_argument("--tasks", type=int, nargs="+", default=[8, 23, 50])
    p.add_argument("--samples", type=int, default=14000)
    p.add_argument("--input-dim", type=int, default=1000)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 128])
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-naive", action="store_true", help="skip the (slow) naive loop")
    p.add_argument("--no-func", action="store_true", help="skip the torch.func reference")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    variants = ["plain", "batched"] + ([] if args.no_naive else ["naive"]) + ([] if args.no_func else ["func"])
    t0 = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory() as root:
        for t in args.tasks:
            print(f"T={t}:", file=sys.stderr, flush=True)
            job = build_job(t, args.samples, args.input_dim, args.hidden, args.dropout, args.batch_size, args.threads, root)
            results.append((t, time_epochs(job, variants, args.pairs)))
    n_train = int(args.samples * 0.7)
    print(
        f"\nTAG lookahead affinity cost: one epoch of {n_train} training samples, input dim {args.input_dim}, MLP {args.hidden} "
        f"(dropout {args.dropout}), batch {args.batch_size}, Adam, torch threads {args.threads}; affinity every {EVERY} steps; "
        f"{args.pairs} alternating rounds per T, {time.perf_counter() - t0:.0f} s\n"
    )
    print("epoch seconds, median over rounds:")
    for t, rows in results:
        print(f"  T={t:<3} " + ", ".join(f"{v} {statistics.median(r[v] for r in rows):.3f}" for v in variants))
    print()
    summaries = []
    for t, rows in results:
        for v in variants[1:]:
            target = Target(1.5, "<=") if (t, v) == (23, "batched") else None
            summaries.append(ratio(rows, f"T={t} {v} / plain", v, "plain", target))
    print_table(summaries)


if __name__ == "__main__":
    main()
