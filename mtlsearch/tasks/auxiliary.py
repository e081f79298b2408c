"""Attach CO-TASK auxiliary tasks to a training run: task list, label columns and sharing plan.

:mod:`mtlsearch.tasks.cotask` defines the auxiliary tasks; this module puts
them into a run. The ``m`` tasks are generated from the run's primary tasks and
the *training* labels only (seeded by the trial's seed), so validation and test
data never shape them. Each auxiliary task gets its own head on the encoder of
its first source task (for MTL and GMHL the shared encoder; for GMTL the
source's group encoder; for soft sharing that group's encoder). Its training
labels are down-sampled to 1/n (n = 2 combined tasks); val/test labels are
complete, so its scores are reported, but auxiliary tasks never count in Δm
(they have no baseline) and :func:`primary_state_dict` drops their heads.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from mtlsearch.data.canonical import TaskInfo
from mtlsearch.models.plan import SharingPlan
from mtlsearch.tasks.cotask import (
    AuxTask,
    auxiliary_labels,
    auxiliary_task_infos,
    auxiliary_train_labels,
    generate_auxiliary_tasks,
)

if TYPE_CHECKING:
    from mtlsearch.spec.settings import CoTaskSpec


def extend_plan(plan: SharingPlan, auxs: list[AuxTask]) -> SharingPlan:
    """``plan`` with each auxiliary task in its first source task's encoder group, under a head of its own."""
    encoders = [list(g) for g in plan.encoder_groups]
    for aux in auxs:
        encoders[plan.encoder_of(aux.sources[0])].append(aux.name)
    heads = tuple(plan.head_groups) + tuple((a.name,) for a in auxs)
    return replace(plan, encoder_groups=tuple(tuple(g) for g in encoders), head_groups=heads)


def attach_auxiliary(
    settings: CoTaskSpec,
    tasks: list[TaskInfo],
    plan: SharingPlan,
    labels: dict[str, np.ndarray],
    seed: int,
) -> tuple[list[TaskInfo], SharingPlan, dict[str, np.ndarray], list[AuxTask]]:
    """The run's tasks, plan and per-split ``(N, T)`` labels with ``settings.aux_tasks`` auxiliary tasks appended.

    ``settings``: the run's CO-TASK settings (``train.cotask`` with the trial's
    sampled values): how many auxiliary tasks, the major tasks and how strongly
    pairs favour them. ``labels`` columns follow ``tasks``. Nothing changes when
    ``aux_tasks`` is 0.
    """
    if settings.aux_tasks <= 0:
        return tasks, plan, labels, []
    names = [t.name for t in tasks]
    auxs = generate_auxiliary_tasks(
        tasks, labels["train"], settings.aux_tasks, seed, major=settings.major, major_prob=settings.major_prob
    )
    out = {}
    for split, y in labels.items():
        if split == "train":
            extra = auxiliary_train_labels(auxs, y, names, seed)
        else:
            extra = (
                np.stack([auxiliary_labels(a, y, names) for a in auxs], axis=1) if len(y) else np.zeros((0, len(auxs)), np.int64)
            )
        out[split] = np.concatenate([y, extra.astype(y.dtype)], axis=1)
    metric = next((t.metric for t in tasks if t.role == "primary" and t.kind == "binary"), "f1")
    return tasks + auxiliary_task_infos(auxs, tasks, metric), extend_plan(plan, auxs), out, auxs


def primary_state_dict(model: torch.nn.Module, auxs: list[AuxTask]) -> dict[str, torch.Tensor]:
    """The weights of ``model`` (a :class:`MultiTaskModel`) without the heads of the auxiliary tasks ``auxs``.

    CO-TASK: "we can remove those task-specific branches for auxiliary tasks
    before we deploy the model for inference" (auxiliary tasks always get heads
    of their own here, so no primary head is touched).
    """
    names = {a.name for a in auxs}
    drop = {i for i, group in enumerate(model._head_tasks) if set(group) <= names}
    return {k: v for k, v in model.state_dict().items() if not (k.startswith("heads.") and int(k.split(".")[1]) in drop)}
