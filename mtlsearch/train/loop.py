"""The Ray Train worker function: run the trainer, report every epoch, checkpoint, resume."""

from __future__ import annotations

import os
import tempfile
import time

import torch

CHECKPOINT_FILE = "state.pt"


def train_loop_per_worker(config: dict) -> None:
    """Entry point of each Ray Train worker (``config`` is a :class:`TrainJob` as a dict).

    Resumes from ``ray.train.get_checkpoint()`` when the run restarts (worker
    failure, or a Tune trial restored after an interruption), then for each
    remaining epoch trains, evaluates, and reports the metrics with a checkpoint
    (rank 0 writes it; every rank calls ``report``, which is a barrier).
    Besides the trainer's metrics it reports ``resumed_at_epoch`` (0 for a fresh
    start, else the epoch the run restarted from) and ``nodes`` (how many
    distinct Ray nodes the run's workers are on).

    The checkpoint carries the metrics of every epoch so far. A restored run
    reports them all again before training on: a run that failed (a lost node
    takes the trial's driver with it) may have persisted checkpoints whose
    reports never reached Tune, and this way no epoch's row goes missing. The
    repeats are harmless: the store keys rows by (trial, epoch), and ASHA
    counts time in epochs and records each rung once.
    """
    import ray.train
    import ray.train.torch

    from mtlsearch.train.job import TrainJob
    from mtlsearch.train.trainer import MultiTaskTrainer

    job = TrainJob(**config)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device() if job.use_gpu else torch.device("cpu")
    trainer = MultiTaskTrainer(job, rank=rank, world_size=world, device=device)

    checkpoint = ray.train.get_checkpoint()
    history: list[dict] = []  # every finished epoch's reported metrics
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            state = torch.load(os.path.join(d, CHECKPOINT_FILE), map_location=device, weights_only=False)
        trainer.load_state_dict(state)
        history = list(state.get("history") or [])
    placement = {"resumed_at_epoch": trainer.start_epoch, "nodes": _node_count(world)}
    for metrics in history:  # again, as they were first reported (see above)
        ray.train.report(metrics, checkpoint=None)

    started = time.perf_counter()
    for epoch in range(trainer.start_epoch, job.epochs):
        stats = trainer.run_epoch(epoch)
        # wall time since this worker started its first epoch: includes evaluation,
        # checkpointing and the time earlier reports waited on Ray Train
        metrics = {**trainer.metrics(stats), **placement, "elapsed_s": time.perf_counter() - started}
        history.append(metrics)
        with tempfile.TemporaryDirectory() as d:
            if rank == 0:
                torch.save({**trainer.state_dict(epoch), "history": history}, os.path.join(d, CHECKPOINT_FILE))
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d), checkpoint_dir_name=f"epoch_{epoch:05d}")
            else:
                ray.train.report(metrics, checkpoint=None)


def _node_count(world_size: int) -> int:
    """Distinct Ray nodes among the run's workers (an all-gather over the DDP group)."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    if world_size == 1:
        return 1
    nodes: list = [None] * world_size
    torch.distributed.all_gather_object(nodes, node)
    return len(set(nodes))
