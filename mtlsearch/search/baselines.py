"""Single-task (STL) baselines: trained once, stored under a fingerprint, reused by every later search.

All missing baselines are trained in *one* Ray Train run of the STL sharing plan
(one encoder and one head per task, no shared parameters, so each task's model
sees only its own loss: the same as T separate runs) and each task keeps its
own best epoch on validation. One run pays the worker-group start-up once
instead of T times.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Callable

from mtlsearch.data.canonical import DatasetInfo
from mtlsearch.models.plan import make_plan
from mtlsearch.spec import Spec
from mtlsearch.store.results import ResultsStore
from mtlsearch.train.job import TrainJob


def baseline_config(spec: Spec) -> dict:
    """What a baseline's result depends on besides the dataset and the task: model, budget, seed."""
    t = spec.train
    return {
        "encoder": spec.model.encoder.model_dump(),
        "epochs": t.epochs,
        "batch_size": t.batch_size,
        "lr": t.lr,
        "weight_decay": t.weight_decay,
        "optimizer": t.optimizer,
        "seed": spec.seed,
    }


def baseline_fingerprint(dataset_fingerprint: str, task: str, config: dict) -> str:
    payload = json.dumps({"dataset": dataset_fingerprint, "task": task, "config": config}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def ensure_baselines(
    spec: Spec,
    info: DatasetInfo,
    dataset_path: str,
    store: ResultsStore,
    experiment: str,
    log: Callable[[str], None],
    use_gpu: bool = False,
) -> dict[str, dict]:
    """Return ``{task: {"val", "test", "fingerprint"}}`` for every primary task, training only the missing ones."""
    from mtlsearch.train.runner import make_trainer

    config = baseline_config(spec)
    primary = info.primary_tasks()
    fps = {t.name: baseline_fingerprint(info.fingerprint, t.name, config) for t in primary}
    stored = store.read_baselines(list(fps.values()))
    missing = [t for t in primary if fps[t.name] not in stored]
    if not missing:
        log(f"baselines: reusing {len(primary)} stored STL baselines (no STL training needed)")
    else:
        reused = len(primary) - len(missing)
        log(
            f"baselines: training STL baselines for {len(missing)} task(s) in one Ray Train run"
            + (f"; reusing {reused} stored" if reused else "")
        )
        names = [t.name for t in missing]
        job = TrainJob(
            dataset_path=dataset_path,
            tasks=[asdict(t) for t in missing],
            plan=make_plan("STL", names).to_dict(),
            encoder=config["encoder"],
            epochs=config["epochs"],
            batch_size=config["batch_size"],
            lr=config["lr"],
            weight_decay=config["weight_decay"],
            optimizer=config["optimizer"],
            seed=config["seed"],
            torch_threads=spec.train.torch_threads,
            use_gpu=use_gpu,
        )
        run_name = "stl_" + hashlib.sha256(",".join(sorted(fps[n] for n in names)).encode()).hexdigest()[:16]
        result = make_trainer(job, spec.train, run_name, store.uri("baselines", "runs")).fit()
        m = result.metrics
        for t in missing:
            row = {
                "fingerprint": fps[t.name],
                "dataset": info.fingerprint,
                "task": t.name,
                "metric": t.metric,
                "direction": t.direction,
                "val": float(m[f"best_val/{t.name}"]),
                "test": float(m[f"best_test/{t.name}"]),
                "best_epoch": int(m[f"best_epoch/{t.name}"]),
                "epochs": config["epochs"],
                "cost_worker_s": float(m["cost_worker_s"]) / len(missing),
                "config": json.dumps(config, sort_keys=True),
                "trained_by": experiment,
            }
            store.write_baseline(row)
            stored[fps[t.name]] = row
            log(f"  {t.name}: {t.metric} val {row['val']:.4f} test {row['test']:.4f} (best epoch {row['best_epoch']})")
    return {t.name: {"val": stored[fps[t.name]]["val"], "test": stored[fps[t.name]]["test"], "fingerprint": fps[t.name]} for t in primary}
