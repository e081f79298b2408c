"""Scaling: the same search with 1 and with 2 trials running at once, on this machine.

Runs one small synthetic search (a fixed grid of candidates, ASHA off, the same
seed) twice on one local Ray cluster: with ``search.max_concurrent_trials`` 1,
then 2. The STL baselines are trained once before both (a shared store), so
the two rows time only the searches. Prints wall time, trials/hour and the
speed-up of 2 over 1 as a table.

    .venv/bin/python benchmarks/scaling.py [--trials 8] [--epochs 6] [--samples 4000]

Each trial holds ``driver_cpus + workers × cpus_per_worker`` CPUs; with the
defaults here (0.5 + 0.5) two trials fit on 2 cores. What 2-at-once buys
depends on how much of a trial is start-up and waiting (Ray Train worker
group start, ~10 s here) versus compute, which two trials share.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

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
  cpus_per_worker: 0.5
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--samples", type=int, default=4000)
    args = ap.parse_args()

    import ray

    from mtlsearch.search.launcher import launch
    from mtlsearch.search.ray_env import runtime_env
    from mtlsearch.spec import load_spec

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False, runtime_env=runtime_env())
        try:
            # a 1-trial warm-up trains the STL baselines, which both measured searches reuse through the store
            for label, concurrent, trials in (("warmup", 1, 1), ("one", 1, args.trials), ("two", 2, args.trials)):
                spec = root / f"{label}.yaml"
                spec.write_text(SPEC.format(name=f"scaling-{label}", storage=root / "store", samples=args.samples,
                                            epochs=args.epochs, trials=trials, concurrent=concurrent))
                t0 = time.perf_counter()
                _, board = launch(load_spec(spec), out=io.StringIO())
                wall = time.perf_counter() - t0
                if label != "warmup":
                    rows.append({"concurrent": concurrent, "trials": len(board), "wall_s": wall,
                                 "trials_per_hour": 3600 * len(board) / wall})
        finally:
            ray.shutdown()
    base = rows[0]["wall_s"]
    print(f"\nsame search ({args.trials} trials × {args.epochs} epochs, {args.samples} samples, 8 tasks), 2 CPU cores:")
    print(f"{'trials at once':>14}  {'trials':>6}  {'wall (s)':>9}  {'trials/hour':>11}  {'speed-up':>8}")
    for r in rows:
        print(f"{r['concurrent']:>14}  {r['trials']:>6}  {r['wall_s']:>9.1f}  {r['trials_per_hour']:>11.1f}  {base / r['wall_s']:>8.2f}")


if __name__ == "__main__":
    main()
