"""Which path a run trains on (``train.executor``), what it holds on the cluster, and running one outside Tune.

* ``in_trial`` (``auto`` with ``train.workers: 1``): the run trains in one process
  that holds one worker's bundle, ``{CPU: cpus_per_worker, GPU: gpus_per_worker}``,
  and sets torch's threads to match (:attr:`mtlsearch.spec.TrainSpec.threads`). A
  search trial is its own worker (a Tune function trainable); the STL baselines
  and the affinity run are Ray tasks of the same size, so a remote cluster trains
  them, never the launching process.
* ``ray_train`` (``auto`` with ``workers ≥ 2``): a Ray Train worker group (DDP,
  multi-node, ``train.placement``) under a small Tune driver of ``driver_cpus``.

Both run :func:`mtlsearch.train.loop.run_training`.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from mtlsearch.spec import IN_TRIAL, TrainSpec
from mtlsearch.train.job import TrainJob

T = TypeVar("T")


def worker_bundle(train: TrainSpec) -> dict[str, float]:
    """One worker's resources (GPU only when it asks for one)."""
    bundle = {"CPU": float(train.cpus_per_worker)}
    if train.gpus_per_worker:
        bundle["GPU"] = float(train.gpus_per_worker)
    return bundle


def trial_resources(train: TrainSpec) -> dict[str, float]:
    """What Tune reserves when it starts a trial: the worker itself (in-trial), or the Train driver (ray_train)."""
    return worker_bundle(train) if train.resolved_executor == IN_TRIAL else {"CPU": float(train.driver_cpus)}


def trial_footprint(train: TrainSpec) -> tuple[float, float]:
    """CPUs and GPUs one trial holds in all: one worker (in-trial), or its driver plus its worker group (ray_train)."""
    if train.resolved_executor == IN_TRIAL:
        return train.cpus_per_worker, train.gpus_per_worker
    return train.driver_cpus + train.workers * train.cpus_per_worker, train.workers * train.gpus_per_worker


def on_cluster(fn: Callable[..., T], train: TrainSpec, *args: Any) -> T:
    """``fn(*args)`` as a Ray task holding one worker's bundle when Ray is running (a search), else in this process.

    ``mtlsearch groups`` computes an affinity matrix without a cluster; ``launch`` always has one.
    A task whose worker dies is retried ``train.max_failures`` times.
    """
    import ray

    if not ray.is_initialized():
        return fn(*args)
    bundle = worker_bundle(train)
    task = ray.remote(fn).options(num_cpus=bundle["CPU"], num_gpus=bundle.get("GPU", 0), max_retries=train.max_failures)
    return ray.get(task.remote(*args))


def _fit_in_task(job_config: dict, run_uri: str) -> list[dict]:
    from mtlsearch.train.loop import run_training
    from mtlsearch.train.sessions import StoreSession

    session = StoreSession(run_uri)
    run_training(job_config, session)
    return session.reports


def fit(job: TrainJob, train: TrainSpec, run_name: str, runs_uri: str) -> dict:
    """Train ``job`` outside Tune (the STL baselines) on the spec's path; return its last epoch's metrics.

    In-trial: a Ray task checkpointing to ``<runs_uri>/<run_name>/`` (a re-launch resumes it).
    Ray Train: a ``TorchTrainer`` run named ``run_name`` under ``runs_uri`` (likewise resumed).
    """
    if train.resolved_executor == IN_TRIAL:
        return on_cluster(_fit_in_task, train, job.to_config(), f"{runs_uri.rstrip('/')}/{run_name}")[-1]
    from mtlsearch.train.runner import make_trainer

    return make_trainer(job, train, run_name, runs_uri).fit().metrics
