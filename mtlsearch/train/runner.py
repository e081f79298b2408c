"""Builds the Ray Train ``TorchTrainer`` for a :class:`TrainJob`."""

from __future__ import annotations

from mtlsearch.spec import TrainSpec
from mtlsearch.train.job import TrainJob


def make_trainer(job: TrainJob, train: TrainSpec, run_name: str, storage_path: str, callbacks: list | None = None):
    """A ``TorchTrainer`` running :func:`train_loop_per_worker` on ``train.workers`` workers.

    The run's name and storage path are deterministic, so a restarted run
    (same name, same storage) resumes from its latest checkpoint. DDP uses gloo
    on CPU and NCCL on GPU (Ray Train's defaults for the device). The workers'
    placement group uses ``train.placement`` (PACK, SPREAD or STRICT_SPREAD:
    one worker per node, for multi-node DDP).
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from mtlsearch.train.loop import train_loop_per_worker

    resources = {"CPU": train.cpus_per_worker}
    if train.gpus_per_worker:
        resources["GPU"] = train.gpus_per_worker
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=job.to_config(),
        scaling_config=ScalingConfig(num_workers=train.workers, use_gpu=job.use_gpu, resources_per_worker=resources,
                                     placement_strategy=train.placement.upper()),
        run_config=RunConfig(
            name=run_name,
            storage_path=storage_path,
            callbacks=callbacks or [],
            checkpoint_config=CheckpointConfig(num_to_keep=1),
            failure_config=FailureConfig(max_failures=train.max_failures),
        ),
    )
