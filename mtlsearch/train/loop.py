"""The one training loop every executor runs: resume, train each epoch, report it with a checkpoint.

Where the loop reports to is a :class:`LoopSession` (:mod:`mtlsearch.train.sessions`):

* a Ray Train worker of a DDP worker group (``train.executor: ray_train``);
* the Tune trial itself, a function trainable training in its own actor
  (``in_trial``, one worker);
* a Ray task that checkpoints into the results store (the STL baselines run on
  the in-trial path).

The loop, the checkpoint's content, the reported keys and the resume semantics
are the same for all three; only the transport differs.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

import torch

CHECKPOINT_FILE = "state.pt"
"""The file a checkpoint directory holds: the trainer's state plus ``history``."""


class LoopSession(ABC):
    """Where :func:`run_training` gets its rank, device and last checkpoint, and where it reports each epoch."""

    rank: int = 0
    world_size: int = 1

    def device(self, use_gpu: bool) -> torch.device:
        """The device this worker trains on (CUDA when the job asks for a GPU; the run's resources assign which)."""
        return torch.device("cuda") if use_gpu else torch.device("cpu")

    @abstractmethod
    def restore(self, device: torch.device) -> dict | None:
        """The state of the latest checkpoint (tensors on ``device``), or ``None`` for a fresh start."""

    @abstractmethod
    def report(self, metrics: dict, state: dict | None, epoch: int) -> None:
        """Report one epoch's ``metrics``; with ``state``, persist it as the checkpoint of that epoch.

        ``state`` is ``None`` for a re-report of an epoch an earlier checkpoint already holds,
        and on every rank but 0 (rank 0 writes the checkpoint; every rank reports).
        """

    def node_count(self) -> int:
        """Distinct cluster nodes the run's workers are on."""
        return 1


def run_training(job_config: dict, session: LoopSession) -> list[dict]:
    """Train a :class:`~mtlsearch.train.job.TrainJob` (as a dict) to its last epoch; return every epoch's metrics.

    Resumes from the session's latest checkpoint when there is one (a worker or trial
    that died, a search continued with ``--resume``), then for each remaining epoch
    trains, evaluates, and reports the metrics with a checkpoint. Besides the
    trainer's metrics it reports ``resumed_at_epoch`` (0 for a fresh start, else the
    epoch the run restarted from), ``nodes`` (how many distinct Ray nodes the run's
    workers are on) and ``elapsed_s``.

    The checkpoint carries the metrics of every epoch so far. A restored run reports
    them all again before training on: a run that failed (a lost node takes the
    trial's driver with it) may have persisted checkpoints whose reports never
    reached Tune, and this way no epoch's row goes missing. The repeats are
    harmless: the store keys rows by (trial, epoch), and ASHA counts time in epochs
    and records each rung once.
    """
    from mtlsearch.train.job import TrainJob
    from mtlsearch.train.trainer import MultiTaskTrainer

    job = TrainJob.from_config(job_config)
    device = session.device(job.use_gpu)
    trainer = MultiTaskTrainer(job, rank=session.rank, world_size=session.world_size, device=device)
    state = session.restore(device)
    history: list[dict] = []  # every finished epoch's reported metrics
    if state is not None:
        trainer.load_state_dict(state)
        history = list(state.get("history") or [])
    placement = {"resumed_at_epoch": trainer.start_epoch, "nodes": session.node_count()}
    for metrics in history:  # again, as they were first reported (see above)
        session.report(metrics, None, int(metrics["epoch"]) - 1)

    started = time.perf_counter()
    for epoch in range(trainer.start_epoch, job.epochs):
        stats = trainer.run_epoch(epoch)
        # wall time since this worker started its first epoch: includes evaluation,
        # checkpointing and the time earlier reports waited on the session
        metrics = {**trainer.metrics(stats), **placement, "elapsed_s": time.perf_counter() - started}
        history.append(metrics)
        state = {**trainer.state_dict(epoch), "history": history} if session.rank == 0 else None
        session.report(metrics, state, epoch)
    return history
