"""Where the training loop (:func:`mtlsearch.train.loop.run_training`) reports to, one class per executor.

* :class:`TuneSession`: the Tune trial's own actor (in-trial, one worker).
  ``tune.report(metrics, checkpoint=…)`` puts the checkpoint in Tune's trial
  folder; Tune hands it back through ``tune.get_checkpoint()`` when it restarts
  the trial.
* :class:`RayTrainSession`: each worker of a Ray Train worker group (DDP);
  ``ray.train.report`` (a barrier), checkpoints in the Train run's folder.
* :class:`StoreSession`: a Ray task outside Tune (the STL baselines on the
  in-trial path); one ``state.pt`` in the results store, replaced atomically each
  epoch, so a re-launch resumes it.

All three write the same checkpoint (:data:`mtlsearch.train.loop.CHECKPOINT_FILE`:
the trainer's state plus every epoch's metrics) and report the same keys.
"""

from __future__ import annotations

import io
import os
import tempfile
from contextlib import contextmanager
from typing import Iterator

import torch

from mtlsearch.train.loop import CHECKPOINT_FILE, LoopSession


def _load(checkpoint, device: torch.device) -> dict | None:
    """The state in a Tune or Ray Train ``Checkpoint`` (``None``: no checkpoint), tensors on ``device``."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as d:
        return torch.load(os.path.join(d, CHECKPOINT_FILE), map_location=device, weights_only=False)


@contextmanager
def _checkpoint_dir(state: dict) -> Iterator[str]:
    """A temporary directory holding ``state`` as :data:`CHECKPOINT_FILE` (the framework copies it to storage)."""
    with tempfile.TemporaryDirectory() as d:
        torch.save(state, os.path.join(d, CHECKPOINT_FILE))
        yield d


class TuneSession(LoopSession):
    """The trial trains inside its Tune function trainable: ``tune.report`` every epoch, resumed by ``tune.get_checkpoint``."""

    def restore(self, device: torch.device) -> dict | None:
        from ray import tune

        return _load(tune.get_checkpoint(), device)

    def report(self, metrics: dict, state: dict | None, epoch: int) -> None:
        from ray import tune

        if state is None:
            tune.report(metrics)
            return
        with _checkpoint_dir(state) as d:
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


class RayTrainSession(LoopSession):
    """One worker of a Ray Train worker group; ``ray.train.report`` is a barrier over the group."""

    def __init__(self) -> None:
        import ray.train

        ctx = ray.train.get_context()
        self.rank, self.world_size = ctx.get_world_rank(), ctx.get_world_size()

    def device(self, use_gpu: bool) -> torch.device:
        import ray.train.torch

        return ray.train.torch.get_device() if use_gpu else torch.device("cpu")

    def restore(self, device: torch.device) -> dict | None:
        import ray.train

        return _load(ray.train.get_checkpoint(), device)

    def report(self, metrics: dict, state: dict | None, epoch: int) -> None:
        import ray.train

        if state is None:
            ray.train.report(metrics, checkpoint=None)
            return
        with _checkpoint_dir(state) as d:
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d), checkpoint_dir_name=f"epoch_{epoch:05d}")

    def node_count(self) -> int:
        """Distinct Ray nodes among the run's workers (an all-gather over the DDP group)."""
        import ray

        node = ray.get_runtime_context().get_node_id()
        if self.world_size == 1:
            return 1
        nodes: list = [None] * self.world_size
        torch.distributed.all_gather_object(nodes, node)
        return len(set(nodes))


class StoreSession(LoopSession):
    """A one-worker run outside Tune (a Ray task): its checkpoint is ``<run_uri>/state.pt`` in the results store.

    Every epoch replaces the file whole (:func:`mtlsearch.store.atomic.atomic_write_bytes`),
    so a run started again under the same ``run_uri`` (a launch that was interrupted)
    resumes after the last finished epoch. The reports are kept in :attr:`reports`.
    """

    def __init__(self, run_uri: str):
        self.run_uri = run_uri
        self.reports: list[dict] = []

    @property
    def checkpoint_uri(self) -> str:
        return f"{self.run_uri.rstrip('/')}/{CHECKPOINT_FILE}"

    def restore(self, device: torch.device) -> dict | None:
        from mtlsearch.store.atomic import read_bytes

        data = read_bytes(self.checkpoint_uri)
        return None if data is None else torch.load(io.BytesIO(data), map_location=device, weights_only=False)

    def report(self, metrics: dict, state: dict | None, epoch: int) -> None:
        from mtlsearch.store.atomic import atomic_write_bytes

        self.reports.append(metrics)
        if state is not None:
            buffer = io.BytesIO()
            torch.save(state, buffer)
            atomic_write_bytes(buffer.getvalue(), self.checkpoint_uri)
