"""Sharing plans: which tasks share an encoder and which share a head.

Every architecture mtlsearch searches is an assignment of tasks to encoders and
heads (design.md):

============  ====================================  ==========================
architecture  encoder groups                         head groups
============  ====================================  ==========================
STL           one per task                           one per task
MTL           one for all tasks (hard sharing)       one per task
GMHL          one for all tasks                      one per task group
GMTL          one per task group                     one per task group
============  ====================================  ==========================

GMHL and GMTL are the grouped multi-head and grouped multi-task architectures
of the MTLV thesis (``../shared/papers/mtlv_thesis.txt``). A head group must sit
on one encoder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

Groups = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class SharingPlan:
    """Task-to-encoder and task-to-head assignment, by task name."""

    encoder_groups: Groups
    head_groups: Groups

    def __post_init__(self) -> None:
        for kind, groups in (("encoder", self.encoder_groups), ("head", self.head_groups)):
            seen = [t for g in groups for t in g]
            if len(seen) != len(set(seen)):
                raise ValueError(f"a task appears in more than one {kind} group: {groups}")
            if any(not g for g in groups):
                raise ValueError(f"empty {kind} group in {groups}")
        if {t for g in self.encoder_groups for t in g} != {t for g in self.head_groups for t in g}:
            raise ValueError("encoder groups and head groups must cover the same tasks")
        for head in self.head_groups:
            if len({self.encoder_of(t) for t in head}) != 1:
                raise ValueError(f"head group {head} spans several encoders")

    @property
    def tasks(self) -> list[str]:
        return [t for g in self.encoder_groups for t in g]

    def encoder_of(self, task: str) -> int:
        for i, g in enumerate(self.encoder_groups):
            if task in g:
                return i
        raise KeyError(task)

    def to_dict(self) -> dict:
        return {k: [list(g) for g in v] for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "SharingPlan":
        return cls(tuple(tuple(g) for g in d["encoder_groups"]), tuple(tuple(g) for g in d["head_groups"]))


def make_plan(architecture: str, tasks: list[str], groups: Groups | None = None) -> SharingPlan:
    """Build the plan of ``architecture`` over ``tasks`` (``groups`` for GMHL/GMTL).

    Tasks named in ``groups`` but not in ``tasks`` are dropped; tasks in no group
    get a group of their own, so every task is trained.
    """
    singletons = tuple((t,) for t in tasks)
    if architecture == "STL":
        return SharingPlan(singletons, singletons)
    if architecture == "MTL":
        return SharingPlan((tuple(tasks),), singletons)
    if groups is None:
        raise ValueError(f"{architecture} needs task groups")
    wanted = set(tasks)
    cleaned = [tuple(t for t in g if t in wanted) for g in groups]
    covered = {t for g in cleaned for t in g}
    full = tuple(g for g in cleaned if g) + tuple((t,) for t in tasks if t not in covered)
    if architecture == "GMHL":
        return SharingPlan((tuple(tasks),), full)
    if architecture == "GMTL":
        return SharingPlan(full, full)
    raise ValueError(f"unknown architecture {architecture!r}")
