"""Per-task losses of a batch, as one vector in task order.

Binary task ``t``: binary cross-entropy on its single logit,
``L_t = mean_{i labelled} BCE(z_it, y_it)``; all binary tasks are computed in
one fused call on the ``(B, T_bin)`` logit matrix. Multiclass task:
cross-entropy over its ``C`` logits. Label ``-1`` marks a missing label: a
task's loss is the mean over the examples labelled for it (0 when none is).
When the split has no missing label (the common case) the masking is skipped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mtlsearch.data.canonical import TaskInfo

Targets = tuple[torch.Tensor, torch.Tensor]


class TaskLoss:
    """Callable ``(logits, targets) -> (T,)`` per-task losses; ``targets`` come from :meth:`targets`."""

    def __init__(self, tasks: list[TaskInfo], complete: bool):
        self.names = [t.name for t in tasks]
        self.binary = [j for j, t in enumerate(tasks) if t.kind == "binary"]
        self.multiclass = [j for j, t in enumerate(tasks) if t.kind != "binary"]
        self.complete = complete
        order = self.binary + self.multiclass
        self._restore = None if order == sorted(order) else torch.argsort(torch.tensor(order))

    def targets(self, y: torch.Tensor) -> Targets:
        """Split an ``(N, T)`` int64 label matrix once into binary float labels and multiclass int64 labels."""
        return y[:, self.binary].to(torch.float32), y[:, self.multiclass]

    def __call__(self, logits: dict[str, torch.Tensor], targets: Targets) -> torch.Tensor:
        y_bin, y_multi = targets
        parts: list[torch.Tensor] = []
        if self.binary:
            z = torch.cat([logits[self.names[j]] for j in self.binary], dim=1)
            if self.complete:
                parts.append(F.binary_cross_entropy_with_logits(z, y_bin, reduction="none").mean(dim=0))
            else:
                mask = (y_bin >= 0).to(z.dtype)
                raw = F.binary_cross_entropy_with_logits(z, y_bin.clamp(min=0), reduction="none")
                parts.append((raw * mask).sum(dim=0) / mask.sum(dim=0).clamp(min=1))
        for k, j in enumerate(self.multiclass):
            yt = y_multi[:, k]
            if self.complete:
                parts.append(F.cross_entropy(logits[self.names[j]], yt).reshape(1))
            else:
                count = (yt >= 0).sum().clamp(min=1)
                parts.append((F.cross_entropy(logits[self.names[j]], yt, ignore_index=-1, reduction="sum") / count).reshape(1))
        losses = torch.cat(parts)
        if self._restore is not None:
            losses = losses[self._restore.to(losses.device)]
        return losses
