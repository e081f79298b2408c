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

Overlapping groups (TAG's group selection, Fifty et al., "Efficiently
Identifying Task Groupings for Multi-Task Learning", NeurIPS 2021): a task may
sit in several head groups — for GMTL in several encoder groups, for GMHL in
several head groups on the shared encoder. Each of its head groups trains a
*copy* of it, named ``<task>@<head group index>`` (:func:`copy_name`; a task
in one head group keeps its plain name, so a non-overlapping plan trains
exactly what it always did). :attr:`SharingPlan.tasks` lists the copies,
:attr:`SharingPlan.sources` maps each copy to its task, and
:meth:`SharingPlan.trained` is the plan over copies that the model executes.
Which copy serves a task is decided on validation
(:func:`mtlsearch.train.serving.served_copies`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from mtlsearch.models.attention_options import DEFAULT_ATTENTION_DIM, LEARNED, check_gamma
from mtlsearch.models.soft_layers import ALL, PAPER_LAMBDA, canonical_layers

SHARING_MODES = ("hard", "soft")

Groups = tuple[tuple[str, ...], ...]
PLAN_OPTIONS = ("sharing", "soft_lambda", "soft_layers", "attention", "attention_gamma", "attention_dim")
"""The plan's settings besides its groups, as :meth:`SharingPlan.to_dict` writes them."""

COPY_SEPARATOR = "@"
"""Joins a task and its head group's index in the name of a trained copy; no task of an overlapping plan may contain it."""


def copy_name(task: str, head_group: int) -> str:
    """The name of the copy of ``task`` trained under head group ``head_group``: ``<task>@<index>``."""
    return f"{task}{COPY_SEPARATOR}{head_group}"


def copy_source(name: str) -> str:
    """The task a trained name is a copy of: the part before :data:`COPY_SEPARATOR` (a plain task name: itself).

    Exact because no task of an overlapping plan contains the separator (:class:`SharingPlan` checks it)."""
    return name.rpartition(COPY_SEPARATOR)[0] or name


@dataclass(frozen=True)
class SharingPlan:
    """Task-to-encoder and task-to-head assignment, by task name, and how the encoders share.

    ``sharing``: ``hard`` (tasks of one encoder group share its weights) or
    ``soft`` (the model adds ``soft_lambda · Σ_{t<s} Σ_{l∈soft_layers} ‖θ_t^l − θ_s^l‖²``
    over its encoders, :meth:`MultiTaskModel.regularizer`); ``soft_lambda`` and
    ``soft_layers`` mean nothing for ``hard``.

    The groups are kept as given, by task name; a task may be in several of
    them (overlapping groups, see the module docstring). Each head group sits on
    the one encoder group that holds all its tasks (when several do, the one equal
    to it), and every task of an encoder group has a head group on it.

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
            if any(not g for g in groups):
                raise ValueError(f"empty {kind} group in {groups}")
            for g in groups:
                if len(g) != len(set(g)):
                    raise ValueError(f"a task appears more than once in {kind} group {g}")
            if len({frozenset(g) for g in groups}) != len(groups):
                raise ValueError(f"a {kind} group is listed more than once: {groups}")
        if {t for g in self.encoder_groups for t in g} != {t for g in self.head_groups for t in g}:
            raise ValueError("encoder groups and head groups must cover the same tasks")
        placed = self._head_encoders  # raises for a head group on no (or no single) encoder
        for e, group in enumerate(self.encoder_groups):
            headed = {t for h, g in enumerate(self.head_groups) if placed[h] == e for t in g}
            missing = [t for t in group if t not in headed]
            if missing:
                raise ValueError(f"task(s) {missing} of encoder group {group} have no head group on that encoder")
        if self.overlapping:
            bad = sorted(t for t in self.source_tasks if COPY_SEPARATOR in t)
            if bad:
                raise ValueError(
                    f"task name(s) {bad} contain {COPY_SEPARATOR!r}, which names the copies of a task in several groups"
                )

    @cached_property
    def _head_encoders(self) -> tuple[int, ...]:
        """The encoder group each head group sits on: the one holding all its tasks (the equal one if several do)."""
        out = []
        for head in self.head_groups:
            holders = [e for e, g in enumerate(self.encoder_groups) if set(head) <= set(g)]
            equal = [e for e in holders if set(self.encoder_groups[e]) == set(head)]
            if not holders:
                raise ValueError(f"head group {head} spans several encoders")
            if len(holders) > 1 and len(equal) != 1:
                raise ValueError(
                    f"head group {head} fits in several encoder groups {[self.encoder_groups[e] for e in holders]}: "
                    "it must sit in exactly one (or equal one of them)"
                )
            out.append(holders[0] if len(holders) == 1 else equal[0])
        return tuple(out)

    @cached_property
    def _copies(self) -> tuple[tuple[str, ...], ...]:
        """Per head group, the names of its trained copies (:func:`copy_name` for a task in several head groups)."""
        count: dict[str, int] = {}
        for g in self.head_groups:
            for t in g:
                count[t] = count.get(t, 0) + 1
        return tuple(tuple(copy_name(t, h) if count[t] > 1 else t for t in g) for h, g in enumerate(self.head_groups))

    @cached_property
    def _encoder_copies(self) -> tuple[tuple[str, ...], ...]:
        """Per encoder group, its trained copies: each task in group order, its copies in head-group order."""
        out = []
        for e, group in enumerate(self.encoder_groups):
            on = [h for h, p in enumerate(self._head_encoders) if p == e]
            out.append(tuple(c for t in group for h in on for c, s in zip(self._copies[h], self.head_groups[h]) if s == t))
        return tuple(out)

    @property
    def overlapping(self) -> bool:
        """Whether some task is in more than one head group (so more than one copy of it trains)."""
        heads = [t for g in self.head_groups for t in g]
        return len(heads) != len(set(heads))

    @property
    def tasks(self) -> list[str]:
        """The trained copies (a task in one head group: its own name), encoder group by encoder group."""
        return [c for g in self._encoder_copies for c in g]

    @property
    def sources(self) -> dict[str, str]:
        """Trained copy -> the task it is a copy of, in :attr:`tasks` order."""
        src = {c: t for cs, g in zip(self._copies, self.head_groups) for c, t in zip(cs, g)}
        return {c: src[c] for c in self.tasks}

    @property
    def source_tasks(self) -> list[str]:
        """The plan's tasks, each once, in the order of their first copy."""
        return list(dict.fromkeys(self.sources.values()))

    def trained(self) -> "SharingPlan":
        """The plan the model executes: the same groups over the trained copies (itself when nothing overlaps)."""
        if not self.overlapping:
            return self
        return replace(self, encoder_groups=self._encoder_copies, head_groups=self._copies)

    def head_of(self, copy: str) -> int:
        """The index (in :attr:`head_groups`) of the head group that trains ``copy``."""
        for h, cs in enumerate(self._copies):
            if copy in cs:
                return h
        raise KeyError(copy)

    def encoder_of(self, task: str) -> int:
        """The encoder group of a copy, or of a task (a task in several groups: its first)."""
        for groups in (self._encoder_copies, self.encoder_groups):
            for i, g in enumerate(groups):
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
    get a group of their own, so every task is trained. ``groups`` may overlap (a
    task in several groups trains one copy per group, :meth:`SharingPlan.trained`);
    groups that are equal once cleaned are kept once. ``sharing="soft"`` gives
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
    cleaned: list[tuple[str, ...]] = []
    for g in groups:
        kept = tuple(t for t in g if t in wanted)
        if frozenset(kept) not in {frozenset(c) for c in cleaned}:
            cleaned.append(kept)
    covered = {t for g in cleaned for t in g}
    full = tuple(g for g in cleaned if g) + tuple((t,) for t in tasks if t not in covered)
    if architecture == "GMHL":
        return SharingPlan((tuple(tasks),), full)
    if architecture == "GMTL":
        return SharingPlan(full, full)
    raise ValueError(f"unknown architecture {architecture!r}")
