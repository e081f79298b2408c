"""Scaling: the same search with 1 and with 2 trials running at once, on this machine.

Runs one small synthetic search (a fixed grid of candidates, ASHA off, the same
seed) on one local Ray cluster (2 CPUs) with ``search.max_concurrent_trials``
1 and 2, alternating over ``--pairs`` rounds (default 6; benchmarks/pairs.py):
each round runs both as fresh experiments, 1 then 2, reversed every other
round. The STL baselines are trained once before all rounds (a 1-trial warm-up
search into the shared store), so the rounds time only the searches. Prints
the median wall time and trials/hour of each, and the speed-up (trials/hour
of 2 at once / of 1 at once, within each round): median, min–max and, with
``--target``, a verdict.

    .venv/bin/python benchmarks/scaling.py [--pairs 6] [--trials 8] [--epochs 6] [--samples 4000] [--target 1.2]

Defaults: 8 trials × 6 epochs, 4,000 samples, as before. In-trial, a search
this small takes seconds (4 trials × 4 epochs: about 5 s), so 6 rounds, the
warm-up and Ray's start take about 2–4 minutes on 2 cores.

With one worker a trial trains inside its Tune trial (``train.executor: auto``
→ in-trial) and holds ``train.cpus_per_worker`` = 1 CPU (``driver_cpus`` only
counts for the ``ray_train`` executor), so two trials fill 2 cores. What
2-at-once buys depends on how much of a trial is start-up and waiting versus
compute, which two trials share.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from itertools import count
from pathlib import Path

from pairs import Target, alternate, print_table, ratio

SPEC = """\
experiment: {name}
seed: 0
storage: {storage}
dataset:
  loader: synthetic
  options: {{num_tasks: 8, num_groups: 2, num_samples: {samples}, seed: 0}}
model:
  encoder: {{type: mlp, hidden_dims: [64, 32]}}
train:
  epochs: {epochs}
  batch_size: 64
  lr: 0.003
  workers: 1
  executor: auto
  cpus_per_worker: 1
  driver_cpus: 0.5
  torch_threads: 1
search:
  num_samples: {trials}
  max_concurrent_trials: {concurrent}
  searcher: grid
  scheduler: {{enabled: false}}
  space:
    architecture: {{choice: [MTL, GMHL, GMTL]}}
    grouping: {{choice: [planted]}}
    lr: {{choice: [0.001, 0.003, 0.01]}}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=6, help="rounds, each running the search once each way (>= 5 to decide)")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--target", type=float, default=None, help="decide speed-up >= TARGET (default: no target)")
    args = ap.parse_args()

    import ray

    from mtlsearch.search.launcher import launch
    from mtlsearch.search.ray_env import runtime_env
    from mtlsearch.spec import load_spec

    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        runs = count()

        def search(concurrent: int, trials: int) -> dict[str, float]:
            """Wall seconds and trials of one fresh search (its own experiment in the shared store)."""
            label = f"c{concurrent}-{next(runs)}"
            spec = root / f"{label}.yaml"
            spec.write_text(
                SPEC.format(
                    name=f"scaling-{label}",
                    storage=root / "store",
                    samples=args.samples,
                    epochs=args.epochs,
                    trials=trials,
                    concurrent=concurrent,
                )
            )
            t0 = time.perf_counter()
            _, board = launch(load_spec(spec), out=io.StringIO())
            wall = time.perf_counter() - t0
            return {
                f"wall {concurrent}": wall,
                f"trials {concurrent}": float(len(board)),
                f"trials/h {concurrent}": 3600 * len(board) / wall,
            }

        ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False, runtime_env=runtime_env())
        try:
            print("warm-up (STL baselines, 1 trial)", file=sys.stderr, flush=True)
            search(1, 1)
            rows = alternate({"one": lambda: search(1, args.trials), "two": lambda: search(2, args.trials)}, args.pairs)
        finally:
            ray.shutdown()
    print(
        f"\nsame search ({args.trials} trials × {args.epochs} epochs, {args.samples} samples, 8 tasks), 2 CPU cores, "
        f"{args.pairs} alternating rounds, {time.perf_counter() - t_start:.0f} s in all:"
    )
    print(f"{'trials at once':>14}  {'trials':>6}  {'median wall (s)':>15}  {'min–max (s)':>13}  {'trials/hour':>11}")
    for c in (1, 2):
        walls, trials = [r[f"wall {c}"] for r in rows], sorted({int(r[f"trials {c}"]) for r in rows})
        tph = statistics.median(r[f"trials/h {c}"] for r in rows)
        print(
            f"{c:>14}  {'/'.join(map(str, trials)):>6}  {statistics.median(walls):>15.1f}  "
            f"{f'{min(walls):.1f}–{max(walls):.1f}':>13}  {tph:>11.1f}"
        )
    print()
    print_table(
        [
            ratio(
                rows,
                "speed-up: trials/h 2 / trials/h 1",
                "trials/h 2",
                "trials/h 1",
                None if args.target is None else Target(args.target, ">="),
            )
        ]
    )


if __name__ == "__main__":
    main()
