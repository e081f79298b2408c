"""One model class that executes any :class:`SharingPlan`."""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from mtlsearch.data.canonical import TaskInfo
from mtlsearch.models.encoders import build_encoder
from mtlsearch.models.plan import SharingPlan


def _module_seed(seed: int, tag: str) -> int:
    return int(hashlib.sha256(f"{seed}:{tag}".encode()).hexdigest()[:8], 16)


class MultiTaskModel(nn.Module):
    """Encoders and heads wired by a sharing plan.

    Each encoder group gets its own encoder; each head group one linear layer
    emitting the logits of all its tasks (1 per binary task, C per C-class task),
    applied to its encoder's output. Parameters are initialised from a seed
    derived from ``(seed, the group's task names)``, so a task's STL encoder is
    identical whichever other tasks are in the run.

    ``input_shape`` is one example's shape before flattening (the dataset's
    ``feature_shape``); spectrogram encoders (``cnn``, ``ast``) need it.

    ``forward`` returns the logits of every task, in ``self.task_names`` order.
    """

    def __init__(self, plan: SharingPlan, tasks: list[TaskInfo], encoder_cfg: dict, in_dim: int, seed: int,
                 input_shape: tuple[int, ...] | None = None):
        super().__init__()
        by_name = {t.name: t for t in tasks}
        self.plan = plan
        self.task_names = plan.tasks
        self.encoders = nn.ModuleList()
        for group in plan.encoder_groups:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_module_seed(seed, "enc:" + ",".join(group)))
                self.encoders.append(build_encoder(encoder_cfg, in_dim, input_shape))
        self.heads = nn.ModuleList()
        self._head_encoder: list[int] = []
        self._head_tasks: list[list[str]] = []
        self._head_splits: list[list[int]] = []
        for group in plan.head_groups:
            enc = plan.encoder_of(group[0])
            sizes = [by_name[t].num_outputs for t in group]
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_module_seed(seed, "head:" + ",".join(group)))
                self.heads.append(nn.Linear(self.encoders[enc].out_dim, sum(sizes)))
            self._head_encoder.append(enc)
            self._head_tasks.append(list(group))
            self._head_splits.append(sizes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = [enc(x) for enc in self.encoders]
        out: dict[str, torch.Tensor] = {}
        for head, enc, names, sizes in zip(self.heads, self._head_encoder, self._head_tasks, self._head_splits):
            for name, logits in zip(names, torch.split(head(features[enc]), sizes, dim=1)):
                out[name] = logits
        return out
