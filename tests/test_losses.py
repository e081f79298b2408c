"""The fused per-task loss equals the per-task definition, with and without missing labels."""

import pytest
import torch
import torch.nn.functional as F

from mtlsearch.data.canonical import TaskInfo
from mtlsearch.train.losses import TaskLoss

TASKS = [
    TaskInfo("a", "binary", ("0", "1")),
    TaskInfo("m", "multiclass", ("x", "y", "z"), metric="macro_f1"),
    TaskInfo("b", "binary", ("0", "1")),
]


def _batch(missing: bool):
    g = torch.Generator().manual_seed(0)
    logits = {"a": torch.randn(6, 1, generator=g), "m": torch.randn(6, 3, generator=g), "b": torch.randn(6, 1, generator=g)}
    y = torch.tensor([[1, 2, 0], [0, 0, 1], [1, 1, 1], [0, 2, 0], [1, 0, 0], [0, 1, 1]])
    if missing:
        y[0, 0] = y[3, 0] = y[1, 1] = -1
        y[:, 2] = -1  # a task with no label in the batch contributes 0
    return logits, y


def _reference(logits, y) -> list[float]:
    out = []
    for j, t in enumerate(TASKS):
        keep = y[:, j] >= 0
        if not keep.any():
            out.append(0.0)
        elif t.kind == "binary":
            out.append(float(F.binary_cross_entropy_with_logits(logits[t.name][keep, 0], y[keep, j].float())))
        else:
            out.append(float(F.cross_entropy(logits[t.name][keep], y[keep, j])))
    return out


@pytest.mark.parametrize("missing", [False, True])
def test_fused_loss_matches_per_task_definition_in_task_order(missing):
    logits, y = _batch(missing)
    loss = TaskLoss(TASKS, complete=not missing)
    got = loss(logits, loss.targets(y))
    assert got.shape == (3,)
    assert got.tolist() == pytest.approx(_reference(logits, y), abs=1e-6)


def test_losses_are_differentiable_per_task():
    logits, y = _batch(False)
    for v in logits.values():
        v.requires_grad_(True)
    loss = TaskLoss(TASKS, complete=True)
    loss(logits, loss.targets(y))[1].backward()
    assert logits["m"].grad.abs().sum() > 0
    assert logits["a"].grad is None or logits["a"].grad.abs().sum() == 0
