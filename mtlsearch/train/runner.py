"""The Ray Train path (``train.executor: ray_train``): a ``TorchTrainer`` whose workers run the shared loop."""

from __future__ import annotations

from mtlsearch.spec import TrainSpec
from mtlsearch.train.job import TrainJob


def make_trainer(
    job: TrainJob, train: TrainSpec, run_name: str, storage_path: str, callbacks: list | None = None, storage_filesystem=None
):
    """A ``TorchTrainer`` running :func:`train_loop_per_worker` on ``train.workers`` workers.

    The run's name and storage path are deterministic, so a restarted run
    (same name, same storage) resumes from its latest checkpoint. DDP uses gloo
    on CPU and NCCL on GPU (Ray Train's defaults for the device). The workers'
    placement group uses ``train.placement`` (PACK, SPREAD or STRICT_SPREAD:
    one worker per node, for multi-node DDP).

    ``storage_path`` is a local path or a store URI (``s3://…``): checkpoints and
    the run's state go there through ``storage_filesystem``, by default the
    store's own filesystem (:func:`mtlsearch.store.atomic.ray_storage`: S3
    endpoint from the environment, SDK retries), which pickles to the workers
    without credentials; each worker finds its credentials on its own node.
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from mtlsearch.store.atomic import ray_storage

    if storage_filesystem is None:
        storage_filesystem, storage_path = ray_storage(storage_path)
    elif "://" in storage_path:
        storage_path = ray_storage(storage_path)[1]

    resources = {"CPU": train.cpus_per_worker}
    if train.gpus_per_worker:
        resources["GPU"] = train.gpus_per_worker
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=job.to_config(),
        scaling_config=ScalingConfig(
            num_workers=train.workers,
            use_gpu=job.use_gpu,
            resources_per_worker=resources,
            placement_strategy=train.placement.upper(),
        ),
        run_config=RunConfig(
            name=run_name,
            storage_path=storage_path,
            storage_filesystem=storage_filesystem,
            callbacks=callbacks or [],
            checkpoint_config=CheckpointConfig(num_to_keep=1),
            failure_config=FailureConfig(max_failures=train.max_failures),
        ),
    )


def train_loop_per_worker(config: dict) -> None:
    """Entry point of each Ray Train worker (``config`` is a :class:`TrainJob` as a dict): the shared loop."""
    from mtlsearch.train.loop import run_training
    from mtlsearch.train.sessions import RayTrainSession

    run_training(config, RayTrainSession())
