"""Trial overhead: the same 10 quickstart candidates on mtlsearch's two paths and two hand-made contenders.

Contenders, alternated round by round (A B C D, then D C B A, …: ``benchmarks/pairs.py``) on one local Ray
cluster (2 CPUs), each training the same 10 candidates of the quickstart's
dataset and model (8 epochs each, ASHA off so every contender does the same work):

* ``in_trial``: ``mtlsearch launch`` with ``train.executor: in_trial`` (the default
  for one worker): each trial trains inside its Tune trial; 2 trials at once.
* ``ray_train``: the same spec with ``executor: ray_train``: each trial is a Tune
  driver plus a one-worker Ray Train group; 1 trial at once (2 CPUs a trial).
* ``plain_tune``: what a user would write without mtlsearch: a Ray Tune function
  trainable with a hand-written torch loop (the same architectures, encoders,
  losses, batches and epochs) and ``tune.report`` every epoch; 1 CPU a trial.
* ``optuna``: a plain Optuna loop in one process running the same torch loop, the floor.

The candidates are the first 10 of a grid over architecture × grouping ×
hidden width (the quickstart's own space has a continuous lr, which a fixed list
of candidates cannot share across contenders). Every mtlsearch round reuses the
STL baselines trained once in a warm-up launch.

Per contender it prints the median over rounds of: seconds from trial start to
its first epoch report (the median over a search's trials, and its slowest
trial: in-trial, the first trials start fresh actors and later ones reuse
them), trial wall time, the training share of the trials' wall
time (training + evaluation seconds over trial seconds), and the search's wall
time. The ratios (``ray_train / in_trial`` search wall, target ≥ 3; ``in_trial /
plain_tune``, target ≤ 1.3) are taken per round and reported as a median with
its min–max spread; a target is "met" only when the whole spread is on its side.
It also checks that both mtlsearch paths give the same leaderboard.

    .venv/bin/python benchmarks/trial_overhead.py [--rounds 5] [--trials 10]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

from pairs import Target, alternate, print_table, ratio
from ray import tune

SPEC = """\
experiment: {name}
seed: 0
storage: {storage}
dataset:
  loader: synthetic
  options: {{num_tasks: 8, num_groups: 2, num_samples: 2400, noise: 0.3, multiclass_tasks: 1, seed: 0}}
model:
  encoder: {{type: mlp, hidden_dims: [64, 32]}}
train:
  epochs: {epochs}
  batch_size: 64
  lr: 0.003
  workers: 1
  cpus_per_worker: 1
  executor: {executor}
groupings:
  interleaved: [[task_00, task_02, task_04, task_06], [task_01, task_03, task_05, task_07]]
search:
  num_samples: {trials}
  searcher: grid
  scheduler: {{enabled: false}}
  space:
    architecture: {{choice: [STL, MTL, GMHL, GMTL]}}
    grouping: {{choice: [planted, interleaved]}}
    hidden_dim: {{choice: [32, 64]}}
"""
CONTENDERS = ("in_trial", "ray_train", "plain_tune", "optuna")
TARGET_FIRST_REPORT_S = 3.0


class TrialTimes(tune.Callback):
    """When each trial started, first reported, and ended; and the training seconds it reported."""

    def __init__(self) -> None:
        self.start: dict[str, float] = {}
        self.first: dict[str, float] = {}
        self.end: dict[str, float] = {}
        self.train_s: dict[str, float] = {}

    def on_trial_start(self, iteration, trials, trial, **info):
        self.start.setdefault(trial.trial_id, time.time())

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.first.setdefault(trial.trial_id, time.time())
        self.train_s[trial.trial_id] = self.train_s.get(trial.trial_id, 0.0) + result["train_seconds"] + result["eval_seconds"]

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.end[trial.trial_id] = time.time()

    def summary(self, wall: float) -> dict:
        ids = sorted(self.end)
        trial_wall = [self.end[i] - self.start[i] for i in ids]
        firsts = [self.first[i] - self.start[i] for i in ids]
        return {
            "first_report_s": statistics.median(firsts),
            "first_report_max_s": max(firsts),
            "trial_wall_s": statistics.median(trial_wall),
            "train_share": sum(self.train_s[i] for i in ids) / sum(trial_wall),
            "search_wall_s": wall,
            "trials": len(ids),
        }


# -- the hand-written contenders: one torch loop, no mtlsearch -----------------------------------------


def load_arrays(table: str, tasks: list[dict]) -> dict:
    """The canonical table's features and labels per split, read with pyarrow as a user would."""
    import numpy as np
    import pyarrow.parquet as pq

    t = pq.read_table(table)
    x = np.stack(t.column("x").to_numpy(zero_copy_only=False)).astype(np.float32)
    y = np.stack([t.column(task["name"]).to_numpy() for task in tasks], axis=1)
    split = np.asarray(t.column("split").to_pylist())
    return {s: (x[split == s], y[split == s]) for s in ("train", "val", "test")}


def train_candidate(config: dict, data: dict, tasks: list[dict], groups: dict, epochs: int, report) -> None:
    """A user's multitask loop: encoders per group, a linear head per task, BCE/CE, Adam; ``report`` each epoch."""
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    names = [t["name"] for t in tasks]
    arch = config["architecture"]
    if arch == "STL":
        enc_groups = [[n] for n in names]
    elif arch == "GMTL":
        enc_groups = groups[config["grouping"]]
    else:  # MTL, GMHL: one shared encoder (GMHL's group heads are per-task linear maps side by side)
        enc_groups = [names]
    width = int(config.get("hidden_dim", 64))
    d = data["train"][0].shape[1]
    outs = {t["name"]: 1 if t["kind"] == "binary" else len(t["classes"]) for t in tasks}

    def encoder():
        return nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())

    encoders = nn.ModuleList(encoder() for _ in enc_groups)
    heads = nn.ModuleDict({n: nn.Linear(width, outs[n]) for n in names})
    owner = {n: i for i, g in enumerate(enc_groups) for n in g}
    params = list(encoders.parameters()) + list(heads.parameters())
    opt = torch.optim.Adam(params, lr=3e-3)
    x_tr, y_tr = (torch.from_numpy(a) for a in data["train"])

    def forward(x):
        z = [e(x) for e in encoders]
        return {n: heads[n](z[owner[n]]) for n in names}

    def loss_of(logits, y):
        total = 0.0
        for j, n in enumerate(names):
            m = y[:, j] >= 0
            if outs[n] == 1:
                total = total + nn.functional.binary_cross_entropy_with_logits(logits[n][m, 0], y[m, j].float())
            else:
                total = total + nn.functional.cross_entropy(logits[n][m], y[m, j])
        return total

    def f1(pred, true):
        tp = np.sum((pred == 1) & (true == 1))
        return 2 * tp / max(1, np.sum(pred == 1) + np.sum(true == 1))

    for epoch in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x_tr), generator=torch.Generator().manual_seed(epoch))
        for i in range(0, len(perm), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            loss_of(forward(x_tr[idx]), y_tr[idx]).backward()
            opt.step()
        t1 = time.perf_counter()
        with torch.no_grad():
            x_va, y_va = data["val"]
            logits = forward(torch.from_numpy(x_va))
            scores = [
                f1((logits[n][:, 0] > 0).numpy().astype(int), y_va[:, j])
                if outs[n] == 1
                else float(np.mean(logits[n].argmax(1).numpy() == y_va[:, j]))
                for j, n in enumerate(names)
            ]
        report(
            {
                "epoch": epoch + 1,
                "score": float(np.mean(scores)),
                "train_seconds": t1 - t0,
                "eval_seconds": time.perf_counter() - t1,
            }
        )


def plain_tune_trainable(config: dict, table: str, tasks: list[dict], groups: dict, epochs: int) -> None:
    train_candidate(config["candidate"], load_arrays(table, tasks), tasks, groups, epochs, tune.report)


def run_plain_tune(candidates: list[dict], table: str, tasks, groups, epochs: int, storage: Path) -> dict:
    """A hand-written Tune search: one grid dimension over the whole candidate configs, 1 CPU a trial."""
    times = TrialTimes()
    trainable = tune.with_resources(
        tune.with_parameters(plain_tune_trainable, table=table, tasks=tasks, groups=groups, epochs=epochs), {"CPU": 1}
    )
    t0 = time.perf_counter()
    tuner = tune.Tuner(
        trainable,
        param_space={"candidate": tune.grid_search(candidates)},
        tune_config=tune.TuneConfig(metric="score", mode="max"),
        run_config=tune.RunConfig(storage_path=str(storage), callbacks=[times], verbose=0),
    )
    tuner.fit()
    return times.summary(time.perf_counter() - t0)


def run_optuna(candidates: list[dict], table: str, tasks, groups, epochs: int) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    firsts, walls, train = [], [], 0.0
    t0 = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    for c in candidates:
        study.enqueue_trial({"candidate": candidates.index(c)})

    def objective(trial):
        nonlocal train
        start = time.perf_counter()
        config = candidates[trial.suggest_categorical("candidate", list(range(len(candidates))))]
        reports: list[dict] = []

        def report(m):
            if not reports:
                firsts.append(time.perf_counter() - start)
            reports.append(m)

        train_candidate(config, load_arrays(table, tasks), tasks, groups, epochs, report)
        train += sum(r["train_seconds"] + r["eval_seconds"] for r in reports)
        walls.append(time.perf_counter() - start)
        return reports[-1]["score"]

    study.optimize(objective, n_trials=len(candidates))
    return {
        "first_report_s": statistics.median(firsts),
        "first_report_max_s": max(firsts),
        "trial_wall_s": statistics.median(walls),
        "train_share": train / sum(walls),
        "search_wall_s": time.perf_counter() - t0,
        "trials": len(walls),
    }


# -- the rounds ------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()

    import ray

    from mtlsearch.data.canonical import read_info
    from mtlsearch.search.launcher import launch, prepare_dataset
    from mtlsearch.search.ray_env import runtime_env
    from mtlsearch.search.space import enumerate_candidates
    from mtlsearch.spec import load_spec
    from mtlsearch.store.results import ResultsStore

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def spec_for(executor: str, name: str, trials: int):
            path = root / f"{name}.yaml"
            path.write_text(SPEC.format(name=name, storage=root / "store", epochs=args.epochs, trials=trials, executor=executor))
            return load_spec(path)

        loaded = spec_for("in_trial", "warmup", 1)
        table = prepare_dataset(loaded, ResultsStore(str(root / "store")))
        info = read_info(table)
        tasks = [{"name": t.name, "kind": t.kind, "classes": list(t.classes)} for t in info.tasks]
        groups = {
            "planted": [list(g) for g in info.planted_groups],
            **{k: [list(g) for g in v] for k, v in loaded.spec.groupings.items()},
        }
        candidates = enumerate_candidates(loaded.spec.search.space, info.task_names)[: args.trials]
        boards: dict[str, list] = {"in_trial": [], "ray_train": []}
        ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False, runtime_env=runtime_env())
        try:
            launch(loaded, out=io.StringIO())  # trains the STL baselines once; every measured launch reuses them
            counter = {"n": 0}

            def mtlsearch_path(executor: str):
                def measure() -> dict:
                    counter["n"] += 1
                    times = TrialTimes()
                    t0 = time.perf_counter()
                    _, board = launch(
                        spec_for(executor, f"{executor}-{counter['n']}", args.trials), out=io.StringIO(), extra_callbacks=[times]
                    )
                    summary = times.summary(time.perf_counter() - t0)
                    assert summary["trials"] == args.trials, summary
                    boards[executor].append(
                        [(r["architecture"], r["grouping"], r["config"], r["dm_val"], r["dm_test"]) for r in board]
                    )
                    return {f"{executor}/{k}": v for k, v in summary.items()}

                return measure

            def plain_tune() -> dict:
                counter["n"] += 1
                summary = run_plain_tune(candidates, table, tasks, groups, args.epochs, root / f"plain-{counter['n']}")
                return {f"plain_tune/{k}": v for k, v in summary.items()}

            def optuna_loop() -> dict:
                return {f"optuna/{k}": v for k, v in run_optuna(candidates, table, tasks, groups, args.epochs).items()}

            rows = alternate(
                {
                    "in_trial": mtlsearch_path("in_trial"),
                    "ray_train": mtlsearch_path("ray_train"),
                    "plain_tune": plain_tune,
                    "optuna": optuna_loop,
                },
                args.rounds,
            )
        finally:
            ray.shutdown()

    print(
        f"\n{args.trials} quickstart candidates × {args.epochs} epochs (synthetic, 8 tasks, 2,400 samples), "
        f"ASHA off, 2 CPU cores, {args.rounds} rounds; medians over rounds:"
    )
    cols = ("first_report_s", "first_report_max_s", "trial_wall_s", "train_share", "search_wall_s")
    print(
        f"{'contender':<11}  {'first report (s)':>16}  {'slowest first report (s)':>24}  {'trial wall (s)':>14}  "
        f"{'training share':>14}  {'search wall (s)':>15}"
    )
    for c in CONTENDERS:
        med = {k: statistics.median(r[f"{c}/{k}"] for r in rows) for k in cols}
        print(
            f"{c:<11}  {med['first_report_s']:>16.2f}  {med['first_report_max_s']:>24.2f}  {med['trial_wall_s']:>14.2f}  "
            f"{med['train_share']:>14.1%}  {med['search_wall_s']:>15.1f}"
        )
    worst_first = max(r["in_trial/first_report_s"] for r in rows)
    print(
        f"\nin_trial first report: median {statistics.median(r['in_trial/first_report_s'] for r in rows):.2f} s, "
        f"worst round {worst_first:.2f} s (target ≤ {TARGET_FIRST_REPORT_S:g} s: "
        f"{'met' if worst_first <= TARGET_FIRST_REPORT_S else 'missed'})"
    )
    same = all(a == b for a, b in zip(boards["in_trial"], boards["ray_train"])) and len(set(map(repr, boards["in_trial"]))) == 1
    print(f"leaderboards of the two mtlsearch paths identical in every round: {'yes' if same else 'NO'}\n")
    print_table(
        [
            ratio(
                rows, "search wall: ray_train / in_trial", "ray_train/search_wall_s", "in_trial/search_wall_s", Target(3.0, ">=")
            ),
            ratio(
                rows,
                "search wall: in_trial / plain_tune",
                "in_trial/search_wall_s",
                "plain_tune/search_wall_s",
                Target(1.3, "<="),
            ),
            ratio(rows, "search wall: plain_tune / optuna", "plain_tune/search_wall_s", "optuna/search_wall_s"),
            ratio(rows, "first report: ray_train / in_trial", "ray_train/first_report_s", "in_trial/first_report_s"),
        ]
    )


if __name__ == "__main__":
    main()
