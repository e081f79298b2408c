"""Per-task losses of a batch, as one vector in task order.

Binary task ``t``: binary cross-entropy on its single logit,
``L_t = mean_{i labelled} BCE(z_it, y_it)``; all binary tasks are computed in
one fused call on the ``(B, T_bin)`` logit matrix. Multiclass task:
cross-entropy over its ``C`` logits. Label ``-1`` marks a missing label: a
task's loss is the mean over the examples labelled for it (0 when none is).
When the split has no missing label (the common case) the masking is skipped.

Class-weighted cross-entropy (optional, off by default): Tri-MTL (Kim et al.
2025, arXiv:2505.06271, §III-A2) "applied a weighted Cross-Entropy loss, where
class weights are inversely proportional to the number of samples per class".
The paper does not say how the weights are scaled; here (:func:`inverse_frequency_weights`)
``w_c = N / (C · n_c)`` from the training split's counts, ``n_c`` the examples
labelled ``c``, ``N = Σ_c n_c`` the labelled examples and ``C`` the classes
present (``w_c = 0`` for a class absent from training), so that ``Σ_c w_c n_c = N``:
the mean weight over the training examples is 1 (scikit-learn's
``class_weight="balanced"``). A weighted task's loss is
``L_t = (1/n) Σ_{i labelled} w_{y_i} ℓ(z_i, y_i)`` — divided by the batch's
labelled examples ``n``, not by ``Σ_i w_{y_i}`` as ``F.cross_entropy(weight=…)``
does, so that over the whole training set it is the weighted mean with mean
weight 1. Binary tasks weigh their BCE terms the same way (``w_0`` for negatives,
``w_1`` for positives).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mtlsearch.data.canonical import TaskInfo

Targets = tuple[torch.Tensor, torch.Tensor]


def inverse_frequency_weights(y_train, tasks: Sequence[TaskInfo], which: bool | Sequence[str] = True) -> dict[str, list[float]]:
    """Per task, class weights ``w_c = N / (C · n_c)`` from the training labels (see the module doc).

    ``y_train``: ``(N, T)`` integer labels in ``tasks`` order (``-1`` = missing),
    a tensor or an array. ``which``: True for every task, False for none, or the
    names of the tasks to weigh (names not among ``tasks`` are skipped: a trial
    may leave a task out; the spec checks the names). A task with no labelled
    example gets no weights.
    """
    if which is False:
        return {}
    wanted = {t.name for t in tasks} if which is True else set(which)
    y = y_train.detach().cpu().numpy() if isinstance(y_train, torch.Tensor) else np.asarray(y_train)
    out: dict[str, list[float]] = {}
    for j, t in enumerate(tasks):
        if t.name not in wanted:
            continue
        col = y[:, j]
        counts = np.bincount(col[col >= 0], minlength=len(t.classes)).astype(np.float64)
        present = counts > 0
        if not present.any():
            continue
        n, c = counts.sum(), present.sum()
        out[t.name] = [float(n / (c * k)) if k > 0 else 0.0 for k in counts]
    return out


class TaskLoss:
    """Callable ``(logits, targets) -> (T,)`` per-task losses; ``targets`` come from :meth:`targets`.

    ``class_weights``: optional per-task class weights ``{task: [w_0, ..., w_{C-1}]}``
    (e.g. :func:`inverse_frequency_weights`); tasks not in it are unweighted.
    """

    def __init__(self, tasks: list[TaskInfo], complete: bool, class_weights: Mapping[str, Sequence[float]] | None = None):
        self.names = [t.name for t in tasks]
        self.binary = [j for j, t in enumerate(tasks) if t.kind == "binary"]
        self.multiclass = [j for j, t in enumerate(tasks) if t.kind != "binary"]
        self.complete = complete
        order = self.binary + self.multiclass
        self._restore = None if order == sorted(order) else torch.argsort(torch.tensor(order))
        class_weights = {k: v for k, v in (class_weights or {}).items()}
        unknown = set(class_weights) - set(self.names)
        if unknown:
            raise ValueError(f"class weights for unknown task(s) {sorted(unknown)}; the tasks are {self.names}")
        for t in tasks:
            if t.name in class_weights and len(class_weights[t.name]) != len(t.classes):
                raise ValueError(f"task {t.name!r} has {len(t.classes)} classes but {len(class_weights[t.name])} class weights")
        # binary: w_0 and w_1 - w_0 per fused column (None: no binary task is weighted)
        weighted_bin = [self.names[j] for j in self.binary if self.names[j] in class_weights]
        self._bin_w0 = self._bin_dw = None
        if weighted_bin:
            w = torch.tensor([class_weights.get(self.names[j], (1.0, 1.0)) for j in self.binary], dtype=torch.float32)
            self._bin_w0, self._bin_dw = w[:, 0], w[:, 1] - w[:, 0]
        self._multi_w = [
            torch.tensor(class_weights[self.names[j]], dtype=torch.float32) if self.names[j] in class_weights else None
            for j in self.multiclass
        ]

    def targets(self, y: torch.Tensor) -> Targets:
        """Split an ``(N, T)`` int64 label matrix once into binary float labels and multiclass int64 labels."""
        return y[:, self.binary].to(torch.float32), y[:, self.multiclass]

    def __call__(self, logits: dict[str, torch.Tensor], targets: Targets) -> torch.Tensor:
        y_bin, y_multi = targets
        parts: list[torch.Tensor] = []
        if self.binary:
            z = torch.cat([logits[self.names[j]] for j in self.binary], dim=1)
            if self._bin_w0 is not None:
                parts.append(self._weighted_binary(z, y_bin))
            elif self.complete:
                parts.append(F.binary_cross_entropy_with_logits(z, y_bin, reduction="none").mean(dim=0))
            else:
                mask = (y_bin >= 0).to(z.dtype)
                raw = F.binary_cross_entropy_with_logits(z, y_bin.clamp(min=0), reduction="none")
                parts.append((raw * mask).sum(dim=0) / mask.sum(dim=0).clamp(min=1))
        for k, j in enumerate(self.multiclass):
            yt = y_multi[:, k]
            if self._multi_w[k] is not None:
                parts.append(self._weighted_multiclass(logits[self.names[j]], yt, k).reshape(1))
            elif self.complete:
                parts.append(F.cross_entropy(logits[self.names[j]], yt).reshape(1))
            else:
                count = (yt >= 0).sum().clamp(min=1)
                parts.append((F.cross_entropy(logits[self.names[j]], yt, ignore_index=-1, reduction="sum") / count).reshape(1))
        losses = torch.cat(parts)
        if self._restore is not None:
            losses = losses[self._restore.to(losses.device)]
        return losses

    def _weighted_binary(self, z: torch.Tensor, y_bin: torch.Tensor) -> torch.Tensor:
        """``(1/n_t) Σ_i w_{y_it} BCE(z_it, y_it)`` per binary column (unweighted columns: w = 1)."""
        w0, dw = self._bin_w0.to(z.device, z.dtype), self._bin_dw.to(z.device, z.dtype)
        y = y_bin.clamp(min=0)
        mask = (y_bin >= 0).to(z.dtype)
        raw = F.binary_cross_entropy_with_logits(z, y, reduction="none") * (w0 + y * dw)
        return (raw * mask).sum(dim=0) / mask.sum(dim=0).clamp(min=1)

    def _weighted_multiclass(self, z: torch.Tensor, yt: torch.Tensor, k: int) -> torch.Tensor:
        """``(1/n) Σ_i w_{y_i} CE(z_i, y_i)`` over the labelled examples."""
        w = self._multi_w[k].to(z.device, z.dtype)
        per = F.cross_entropy(z, yt, ignore_index=-1, reduction="none")
        labelled = yt >= 0
        return (per * w[yt.clamp(min=0)] * labelled).sum() / labelled.sum().clamp(min=1)
