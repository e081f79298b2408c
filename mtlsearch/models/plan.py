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

``sharing`` is ``hard`` (the table above) or ``soft`` (Tri-MTL, Kim et al. 2025,
arXiv:2505.06271, §II-B): every head group gets an encoder of its own — MTL one
per task, GMHL and GMTL one per task group — and the loss adds
``soft_lambda · Σ_{t<s} Σ_{l∈S} ‖θ_t^l − θ_s^l‖²`` over the encoder pairs, ``S``
= ``soft_layers`` (:mod:`mtlsearch.models.soft_sharing`). STL is always hard: its
encoders are the independent single-task models.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mtlsearch.models.cross_task_attention import DEFAULT_ATTENTION_DIM, LEARNED, check_gamma
from mtlsearch.models.soft_layers import ALL, PAPER_LAMBDA, canonical_layers

SHARING_MODES = ("hard", "soft")

Groups = tuple[tuple[str, ...], ...]
PLAN_OPTIONS = ("sharing", "soft_lambda", "soft_layers", "attention", "attention_gamma", "attention_dim")
"""The plan's settings besides its groups, as :meth:`SharingPlan.to_dict` writes them."""


@dataclass(frozen=True)
class SharingPlan:
    """Task-to-encoder and task-to-head assignment, by task name, and how the encoders share.

    ``sharing``: ``hard`` (tasks of one encoder group share its weights) or
    ``soft`` (the model adds ``soft_lambda · Σ_{t<s} Σ_{l∈soft_layers} ‖θ_t^l − θ_s^l‖²``
    over its encoders, :meth:`MultiTaskModel.regularizer`); ``soft_lambda`` and
    ``soft_layers`` mean nothing for ``hard``.

    ``attention``: cross-task attention per encoder group, with ``attention_gamma``
    (γ, a number or ``learned``) and ``attention_dim`` (d); they mean nothing without it.
    """

    encoder_groups: Groups
    head_groups: Groups
    sharing: str = "hard"
    soft_lambda: float = 0.0
    soft_layers: str = ALL
    attention: bool = False
    attention_gamma: float | str = LEARNED
    attention_dim: int = DEFAULT_ATTENTION_DIM

    def __post_init__(self) -> None:
        object.__setattr__(self, "attention_gamma", check_gamma(self.attention_gamma))
        if not (isinstance(self.attention_dim, int) and self.attention_dim >= 1):
            raise ValueError(f"attention_dim must be a positive integer, got {self.attention_dim!r}")
        if self.sharing not in SHARING_MODES:
            raise ValueError(f"sharing must be one of {list(SHARING_MODES)}, got {self.sharing!r}")
        if not self.soft_lambda >= 0:
            raise ValueError(f"soft_lambda must be >= 0, got {self.soft_lambda}")
        object.__setattr__(self, "soft_layers", canonical_layers(self.soft_layers))
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

    @property
    def soft(self) -> bool:
        return self.sharing == "soft"

    def to_dict(self) -> dict:
        d = {k: [list(g) for g in getattr(self, k)] for k in ("encoder_groups", "head_groups")}
        if self.soft:
            d.update(sharing=self.sharing, soft_lambda=self.soft_lambda, soft_layers=self.soft_layers)
        if self.attention:
            d.update(attention=True, attention_gamma=self.attention_gamma, attention_dim=self.attention_dim)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SharingPlan":
        soft = {k: d[k] for k in PLAN_OPTIONS if k in d}
        return cls(tuple(tuple(g) for g in d["encoder_groups"]), tuple(tuple(g) for g in d["head_groups"]), **soft)


def make_plan(
    architecture: str,
    tasks: list[str],
    groups: Groups | None = None,
    sharing: str = "hard",
    soft_lambda: float = PAPER_LAMBDA,
    soft_layers: str = ALL,
    attention: bool = False,
    attention_gamma: float | str = LEARNED,
    attention_dim: int = DEFAULT_ATTENTION_DIM,
) -> SharingPlan:
    """Build the plan of ``architecture`` over ``tasks`` (``groups`` for GMHL/GMTL).

    Tasks named in ``groups`` but not in ``tasks`` are dropped; tasks in no group
    get a group of their own, so every task is trained. ``sharing="soft"`` gives
    each head group its own encoder, with the soft-sharing penalty (STL stays hard).
    ``attention`` adds cross-task attention per encoder group (STL never: its models are the baselines).
    """
    plan = _hard_plan(architecture, tasks, groups)
    if sharing not in SHARING_MODES:
        raise ValueError(f"sharing must be one of {list(SHARING_MODES)}, got {sharing!r}")
    if architecture == "STL":
        return plan
    attn = {"attention": bool(attention), "attention_gamma": attention_gamma, "attention_dim": int(attention_dim)}
    if sharing == "hard":
        return replace(plan, **attn)
    return SharingPlan(plan.head_groups, plan.head_groups, "soft", float(soft_lambda), soft_layers, **attn)


def _hard_plan(architecture: str, tasks: list[str], groups: Groups | None) -> SharingPlan:
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
