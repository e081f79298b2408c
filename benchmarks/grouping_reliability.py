"""Does the affinity method find planted groups with its defaults, and does its reliability say when it cannot?

For each generator (the project's own ``loader: synthetic`` with shuffled task
names, and the four of ``benchmarks/planted_generators.py``: ``linear``,
``nonlinear``, ``sparse``, and ``independent`` with no group structure) and
each seed, the TAG lookahead affinity (``mtlsearch.grouping.affinity.compute_affinity``)
runs on an MLP [64, 32] with Adam lr 1e-3, batch 128, every 10 steps, under
three lengths:

* ``fixed 1``: one epoch (the ready specs' length before issue 13);
* ``fixed 10``: ten epochs;
* ``calibrated``: ``length: calibrated``, the default, with its default cap
  (``AFFINITY_EPOCHS_CAP`` epochs): it stops when an epoch's mean transfer turns
  negative and keeps its most reliable check;

and the ``head coupling`` method (:mod:`mtlsearch.grouping.coupling`, its default
cap): the heads' principal-angle cosines of one all-task run that stops once the
matrix settles. For it the ``r`` column is its best within-group coupling, and
"stopped" is the share of runs that settled before the cap.

The calibrated rule's thresholds (split-half r and group separation for the
warning) were set on seeds 0-19; ``--held-out`` runs it on seeds 20-39 too, which
set nothing. Groups are selected at the planted number of groups (3 for
``independent``). Per generator and length it prints the share of seeds with ARI
≥ 0.9 against the planted groups (not for ``independent``), the median split-half
r and group separation, the share of runs that stopped on a negative transfer
(calibrated) and that printed the low-reliability warning, the mean epochs run
and steps measured, and seconds per run. The issue's bar is ARI ≥ 0.9 on ≥ 90%
of the seeds of every planted generator, and the warning on the structureless
one. Last comes the measuring cost: one epoch with measurements every 10 steps
against one plain epoch (median of the per-seed ratios over the planted
generators; target ≤ 1.5).

    .venv/bin/python benchmarks/grouping_reliability.py [--seeds 20] [--held-out]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from planted_generators import GENERATORS, generate
from sklearn.metrics import adjusted_rand_score

from mtlsearch.data.canonical import read_info
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.grouping.affinity import compute_affinity
from mtlsearch.grouping.coupling import best_coupling, compute_head_coupling
from mtlsearch.grouping.coupling import warning as coupling_warning
from mtlsearch.grouping.methods.affinity_run import AFFINITY_EPOCHS_CAP
from mtlsearch.grouping.reliability import best_separation, reliability_warning
from mtlsearch.grouping.selection import select_groups
from mtlsearch.models.plan import make_plan
from mtlsearch.report.text import table
from mtlsearch.train.job import TrainJob
from mtlsearch.train.trainer import MultiTaskTrainer

LENGTHS = {"fixed 1": {"epochs": 1}, "fixed 10": {"epochs": 10}, "calibrated": {"epochs": AFFINITY_EPOCHS_CAP, "calibrate": True}}
COUPLING = "head coupling"


def dataset(generator: str, seed: int, root: Path) -> Path:
    if generator == "project":
        return prepare(
            "synthetic",
            SyntheticOptions(num_tasks=12, num_groups=3, num_samples=3000, multiclass_tasks=1, shuffle_groups=True, seed=seed),
            root,
        )
    return generate(generator, seed, root)


def job(path: Path, seed: int) -> TrainJob:
    info = read_info(path)
    return TrainJob(
        dataset_path=str(path),
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan("MTL", info.task_names).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [64, 32]},
        epochs=1,
        batch_size=128,
        lr=1e-3,
        seed=seed,
        torch_threads=1,
    )


def ari(path: Path, names: list[str], matrix: np.ndarray) -> float:
    planted = read_info(path).planted_groups
    k = len(planted) if len(planted) < len(names) else 3
    found = select_groups(matrix, k).groups
    truth = [next(g for g, grp in enumerate(planted) if n in grp) for n in names]
    got = [next(g for g, grp in enumerate(found) if i in grp) for i in range(len(names))]
    return float(adjusted_rand_score(truth, got))


def plain_epoch_seconds(j: TrainJob) -> float:
    """One plain epoch, with the trainer's start (data loading), as ``compute_affinity``'s seconds include it."""
    t0 = time.perf_counter()
    MultiTaskTrainer(j).train_epoch(0)
    return time.perf_counter() - t0


COUPLING_COST: list[float] = []
"""Per planted head-coupling run: its seconds / a plain run of the same epochs (both with the trainer's start)."""


def _run(generator: str, length: str, path: Path, seed: int, cost: list[float]) -> dict:
    """One affinity (or head-coupling) run on one dataset, with what the table reports of it."""
    j = job(path, seed)
    if length == COUPLING:
        r = compute_head_coupling(j)
        rel = r.reliability
        if generator != "independent":
            COUPLING_COST.append(r.seconds / plain_run_seconds(j, rel["epochs_run"]))
        return {
            "ari": ari(path, r.task_names, r.matrix),
            "r": best_coupling(rel),
            "sep": best_separation(rel),
            "stopped": rel["settled"],
            "warned": coupling_warning("head_coupling", rel) is not None,
            "epochs": rel["epochs_run"],
            "steps": 0,
            "seconds": r.seconds,
        }
    r = compute_affinity(j, kind="lookahead", every_steps=10, **LENGTHS[length])
    rel = r.reliability
    if length == "fixed 1" and generator != "independent":
        cost.append(r.seconds / plain_epoch_seconds(j))
    return {
        "ari": ari(path, r.task_names, r.matrix),
        "r": rel["split_half"],
        "sep": best_separation(rel),
        "stopped": rel["ended"] == "negative transfer",
        "warned": reliability_warning("affinity", rel) is not None,
        "epochs": rel["epochs_run"],
        "steps": r.steps_measured,
        "seconds": r.seconds,
    }


def plain_run_seconds(j: TrainJob, epochs: int) -> float:
    """A plain all-task run of ``epochs`` epochs, with the trainer's start."""
    t0 = time.perf_counter()
    trainer = MultiTaskTrainer(j)
    for epoch in range(epochs):
        trainer.train_epoch(epoch)
    return time.perf_counter() - t0


def measure(generator: str, length: str, seeds: range, root: Path, cost: list[float]) -> list[str]:
    """One table row: ``generator`` under ``length`` over ``seeds`` (appends measuring-cost ratios to ``cost``)."""
    runs = [_run(generator, length, dataset(generator, seed, root), seed, cost) for seed in seeds]
    planted = generator != "independent"
    stops = length in ("calibrated", COUPLING)
    return [
        generator,
        f"{length} (seeds {seeds.start}-{seeds.stop - 1})",
        f"{np.mean([x['ari'] >= 0.9 for x in runs]):.2f}" if planted else "-",
        f"{statistics.median([x['r'] for x in runs]):.2f}",
        f"{np.nanmedian([x['sep'] for x in runs]):.2f}",
        f"{np.mean([x['stopped'] for x in runs]):.2f}" if stops else "-",
        f"{np.mean([x['warned'] for x in runs]):.2f}",
        f"{np.mean([x['epochs'] for x in runs]):.1f}",
        f"{np.mean([x['steps'] for x in runs]):.1f}",
        f"{np.mean([x['seconds'] for x in runs]):.2f}",
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--held-out", action="store_true", help="also run the calibrated rule on the next --seeds seeds")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows, cost = [], []
    with tempfile.TemporaryDirectory() as d:
        for generator in ("project", *GENERATORS):
            for length in (*LENGTHS, COUPLING):
                rows.append(measure(generator, length, range(args.seeds), Path(d), cost))
                print("  ".join(rows[-1]), flush=True)
            if args.held_out:
                for length in ("calibrated", COUPLING):
                    rows.append(measure(generator, length, range(args.seeds, 2 * args.seeds), Path(d), cost))
                    print("  ".join(rows[-1]), flush=True)
    print(
        f"\nlookahead affinity (every 10 steps) and head coupling, MLP [64, 32], Adam lr 1e-3, batch 128; {args.seeds} seeds "
        "per row; for head coupling the r column is its best within-group coupling and 'stopped' means it settled"
    )
    print(
        table(
            [
                "generator",
                "length",
                "share ARI≥0.9",
                "median r (coupling)",
                "median separation",
                "stopped (negative transfer / settled)",
                "warned",
                "epochs",
                "steps measured",
                "s/run",
            ],
            rows,
        )
    )
    print(
        f"\nmeasuring cost: one epoch measured every 10 steps / one plain epoch = {statistics.median(cost):.2f} "
        f"(median over {len(cost)} runs; spread {min(cost):.2f}-{max(cost):.2f}; target ≤ 1.5; both with the trainer's start)"
    )
    print(
        f"head coupling: a run / a plain run of the same epochs = {statistics.median(COUPLING_COST):.2f} "
        f"(median over {len(COUPLING_COST)} planted runs; spread {min(COUPLING_COST):.2f}-{max(COUPLING_COST):.2f}; "
        "both with the trainer's start)"
    )


if __name__ == "__main__":
    main()
