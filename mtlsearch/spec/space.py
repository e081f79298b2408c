"""The search space: its dimension kinds (choice, uniform, loguniform, int), the grouping space, ``SearchSpace``.

``search.space`` of a spec: which dimensions are open and over what values,
each checked against the names it may take (architectures, optimizers,
weightings, sharing modes, metadata choices, soft-sharing layers), and the
grouping dimension in its shorthand (manual names) or full form
(:class:`GroupingSpace`: method, k, manual names).
"""

from __future__ import annotations

from typing import Annotated, Any, Sequence, Union

from pydantic import BaseModel, Discriminator, Field, Tag, field_validator, model_validator

from mtlsearch.grouping.methods import GROUPING_METHODS, supports_overlapping
from mtlsearch.models.plan import SHARING_MODES
from mtlsearch.spec.names import ARCHITECTURES, MANUAL, Strict, canonical_metadata
from mtlsearch.train.optimizers import OPTIMIZERS
from mtlsearch.train.weightings import WEIGHTINGS


def known_choices(v: "Choice | None", names: Sequence[str], what: str) -> "Choice | None":
    """``v`` unchanged when every choice is one of ``names``; else ValueError naming the first unknown one."""
    if v is not None:
        bad = [c for c in v.choice if c not in names]
        if bad:
            raise ValueError(f"unknown {what} {bad[0]!r}; expected some of {list(names)}")
    return v


_RANGE_RULES = {
    "low < high": lambda lo, hi: lo < hi,
    "0 < low < high": lambda lo, hi: 0 < lo < hi,
    "low <= high": lambda lo, hi: lo <= hi,
}


def _check_range(v: tuple, rule: str) -> tuple:
    if not _RANGE_RULES[rule](*v):
        raise ValueError(f"need {rule}, got [{v[0]}, {v[1]}]")
    return v


class Choice(Strict):
    """Categorical dimension: ``{choice: [a, b, c]}``."""

    choice: list[Any] = Field(min_length=1)


class Uniform(Strict):
    """Float dimension sampled uniformly: ``{uniform: [low, high]}``."""

    uniform: tuple[float, float]

    _ordered = field_validator("uniform")(lambda v: _check_range(v, "low < high"))


class LogUniform(Strict):
    """Positive float dimension sampled on a log scale: ``{loguniform: [low, high]}``."""

    loguniform: tuple[float, float]

    _ordered = field_validator("loguniform")(lambda v: _check_range(v, "0 < low < high"))


class IntRange(Strict):
    """Integer dimension, both ends included: ``{int: [low, high]}``."""

    int: tuple[int, int]

    _ordered = field_validator("int")(lambda v: _check_range(v, "low <= high"))


DIMENSION_KINDS = ("choice", "uniform", "loguniform", "int")


def _dimension_kind(v: Any) -> str | None:
    """Which dimension a mapping is, by the one key it has (None: not a dimension)."""
    if isinstance(v, BaseModel):
        return next(k for k in DIMENSION_KINDS if k in type(v).model_fields)
    if isinstance(v, dict):
        keys = [k for k in DIMENSION_KINDS if k in v]
        return keys[0] if len(keys) == 1 else None
    return None


def _dimension(*kinds: str):
    models = {"choice": Choice, "uniform": Uniform, "loguniform": LogUniform, "int": IntRange}
    return Annotated[
        Union[tuple(Annotated[models[k], Tag(k)] for k in kinds)],
        Discriminator(
            _dimension_kind,
            custom_error_type="dimension",
            custom_error_message=f"expected a mapping with exactly one of the keys {list(kinds)}",
        ),
    ]


Dimension = _dimension(*DIMENSION_KINDS)


class GroupingSpace(Strict):
    """How a grouped candidate (GMHL, GMTL) gets its task groups.

    ``method``: which grouping methods the search may pick (``embedding``,
    ``affinity``, ``gradient_cosine``, ``manual``); ``k``: the number of groups
    of a computed method (sampled only when one is picked); ``manual``: names
    under the spec's ``groupings`` (or ``planted``), sampled only for ``manual``;
    ``overlapping``: ``{choice: [false, true]}``, whether a computed method's
    groups may overlap (TAG's selection, Fifty et al., "Efficiently Identifying
    Task Groupings for Multi-Task Learning", NeurIPS 2021: a task trained in
    several groups and served by the best one, :mod:`mtlsearch.train.serving`),
    sampled only for methods that can overlap (not ``embedding``: k-medoids gives
    a partition, :attr:`~mtlsearch.grouping.methods.GroupingMethod.overlapping_groups`).
    """

    method: Choice
    k: _dimension("choice", "int") | None = None
    manual: Choice | None = None
    overlapping: Choice | None = None

    @field_validator("method")
    @classmethod
    def _methods(cls, v: Choice) -> Choice:
        return known_choices(v, [*GROUPING_METHODS.names(), MANUAL], "grouping method")

    @field_validator("k")
    @classmethod
    def _ks(cls, v):
        values = v.choice if isinstance(v, Choice) else list(v.int)
        if not all(isinstance(k, int) and k >= 1 for k in values):
            raise ValueError(f"k must be positive integers, got {values}")
        return v

    @field_validator("overlapping")
    @classmethod
    def _overlapping(cls, v: Choice | None) -> Choice | None:
        if v is not None and not all(isinstance(o, bool) for o in v.choice):
            raise ValueError(f"overlapping must be a choice of true/false, got {v.choice}")
        return v

    @model_validator(mode="after")
    def _needs(self) -> "GroupingSpace":
        computed = [m for m in self.method.choice if m != MANUAL]
        if computed and self.k is None:
            raise ValueError(f"grouping methods {computed} need k: {{int: [low, high]}} or {{choice: [...]}}")
        if self.overlapping is not None and True in self.overlapping.choice:
            if not any(supports_overlapping(m) for m in computed):
                raise ValueError(
                    f"grouping.overlapping applies to computed methods whose groups can overlap "
                    f"({sorted(m for m in GROUPING_METHODS.names() if supports_overlapping(m))}); "
                    f"the offered methods {self.method.choice} give partitions (embedding: k-medoids) or are manual"
                )
        if MANUAL in self.method.choice and self.manual is None:
            raise ValueError("grouping method 'manual' needs manual: {choice: [grouping names]}")
        return self

    def k_values(self) -> list[int]:
        if self.k is None:
            return []
        return list(self.k.choice) if isinstance(self.k, Choice) else list(range(self.k.int[0], self.k.int[1] + 1))

    def overlapping_applies(self, method: str) -> bool:
        """Whether a trial of computed ``method`` samples ``overlapping`` (searched, and the method can overlap)."""
        return self.overlapping is not None and supports_overlapping(method)

    def overlapping_values(self, method: str) -> list[bool]:
        """The ``overlapping`` values a trial of computed ``method`` may take ([False] when not searched or not applicable)."""
        return list(dict.fromkeys(self.overlapping.choice)) if self.overlapping_applies(method) else [False]

    def computed_methods(self) -> list[str]:
        return [m for m in self.method.choice if m != MANUAL]

    def manual_names(self) -> list[str]:
        return list(self.manual.choice) if self.manual is not None and MANUAL in self.method.choice else []


def _grouping_kind(v: Any) -> str | None:
    if isinstance(v, BaseModel):
        return "manual" if isinstance(v, Choice) else "methods"
    if isinstance(v, dict):
        return "manual" if "choice" in v else "methods"
    return None


GroupingDimension = Annotated[
    Union[Annotated[Choice, Tag("manual")], Annotated[GroupingSpace, Tag("methods")]],
    Discriminator(
        _grouping_kind,
        custom_error_type="grouping",
        custom_error_message="expected {choice: [grouping names]} or {method: {choice: [...]}, k: ..., manual: ...}",
    ),
]


class SearchSpace(Strict):
    """The open dimensions. Each is optional; an unset one keeps the fixed value from ``train``/``model``.

    ``grouping`` is sampled only for grouped architectures (GMHL, GMTL): either
    ``{choice: [names]}`` of manual groupings (entries of the spec's
    ``groupings``, or ``planted``), or a :class:`GroupingSpace` opening the
    grouping method and the number of groups k.

    Tri-MTL (Kim et al. 2025, arXiv:2505.06271): ``metadata`` chooses which of
    the dataset's auxiliary (metadata) tasks a trial trains beside the primary
    tasks: ``none``, one task, or a set (``[age_group, sex]``, kept as the string
    ``"age_group+sex"``); a task offered by some choice but not by the trial's is
    left out of its plan. ``sharing``: ``hard`` or ``soft``
    (:mod:`mtlsearch.models.soft_sharing`); ``soft_lambda`` and ``soft_layers``
    (``all``, an index, or a list of indices) are sampled only for soft trials.

    CO-TASK (AAAI 2021): ``aux_tasks`` is the number M of auxiliary tasks (0
    included) and ``aux_major_prob`` the major-task pair probability, both
    sampled for shared architectures only (not STL; ``aux_major_prob`` only when
    M > 0); ``task_sampler`` (``[true, false]``) turns the task-aware imbalance
    sampler on or off. Their fixed values live in ``train.cotask``.

    M3H (Bertsimas and Ma, arXiv:2404.18975, 2024): ``cross_task_attention``
    (``[false, true]``) adds cross-task attention to MTL/GMHL/GMTL trials, and
    ``attention_gamma`` (numbers, or ``learned`` in a choice) is sampled for the trials
    that have it. Their fixed values live in ``model``.
    """

    architecture: Choice | None = None
    grouping: GroupingDimension | None = None
    lr: Dimension | None = None
    batch_size: Choice | None = None
    weight_decay: Dimension | None = None
    hidden_dim: _dimension("choice", "int") | None = None
    dropout: Dimension | None = None
    optimizer: Choice | None = None
    encoder: Choice | None = None
    metadata: Choice | None = None
    sharing: Choice | None = None
    soft_lambda: Dimension | None = None
    soft_layers: Choice | None = None
    weighting: Choice | None = None
    aux_tasks: _dimension("choice", "int") | None = None
    aux_major_prob: Dimension | None = None
    task_sampler: Choice | None = None
    static_weights: Dimension | None = None
    cross_task_attention: Choice | None = None
    attention_gamma: Dimension | None = None

    @field_validator("weighting")
    @classmethod
    def _weightings(cls, v: Choice | None) -> Choice | None:
        return known_choices(v, WEIGHTINGS.names(), "weighting")

    @field_validator("static_weights")
    @classmethod
    def _positive_weights(cls, v):
        if v is None:
            return v
        values = list(next(iter(v.model_dump().values())))  # the choices, or the range's ends
        if not all(isinstance(w, (int, float)) and w >= 0 for w in values):
            raise ValueError(f"static weights must be non-negative numbers, got {values}")
        return v

    @field_validator("architecture")
    @classmethod
    def _architectures(cls, v: Choice | None) -> Choice | None:
        return known_choices(v, ARCHITECTURES, "architecture")

    @field_validator("optimizer")
    @classmethod
    def _optimizers(cls, v: Choice | None) -> Choice | None:
        return known_choices(v, OPTIMIZERS, "optimizer")

    @field_validator("batch_size")
    @classmethod
    def _batch_sizes(cls, v: Choice | None) -> Choice | None:
        if v is not None and not all(isinstance(b, int) and b > 0 for b in v.choice):
            raise ValueError(f"batch sizes must be positive integers, got {v.choice}")
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: Choice | None) -> Choice | None:
        if v is not None:
            canon = [canonical_metadata(c) for c in v.choice]
            if len(set(canon)) != len(canon):
                raise ValueError(f"metadata: a choice appears twice in {v.choice}")
            v = Choice(choice=canon)
        return v

    @field_validator("sharing")
    @classmethod
    def _sharing(cls, v: Choice | None) -> Choice | None:
        return known_choices(v, SHARING_MODES, "sharing")

    @field_validator("soft_lambda")
    @classmethod
    def _soft_lambda(cls, v):
        if v is not None:
            values = list(next(iter(v.model_dump().values())))  # the choices, or the range's ends
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in values):
                raise ValueError(f"soft_lambda must be non-negative numbers, got {values}")
        return v

    @field_validator("soft_layers")
    @classmethod
    def _soft_layers(cls, v: Choice | None) -> Choice | None:
        if v is not None:
            from mtlsearch.models.soft_layers import canonical_layers

            v = Choice(choice=[canonical_layers(c) for c in v.choice])
        return v

    @field_validator("cross_task_attention")
    @classmethod
    def _attention_flags(cls, v: Choice | None) -> Choice | None:
        if v is not None and not all(isinstance(b, bool) for b in v.choice):
            raise ValueError(f"cross_task_attention choices must be true/false, got {v.choice}")
        return v

    @field_validator("attention_gamma")
    @classmethod
    def _attention_gammas(cls, v):
        if v is not None:
            from mtlsearch.models.attention_options import check_gamma

            for value in next(iter(v.model_dump().values())):  # the choices, or the range's ends
                check_gamma(value)
        return v

    @field_validator("aux_tasks")
    @classmethod
    def _aux_counts(cls, v):
        if isinstance(v, Choice) and not all(isinstance(m, int) and not isinstance(m, bool) and m >= 0 for m in v.choice):
            raise ValueError(f"auxiliary task counts must be integers >= 0, got {v.choice}")
        if isinstance(v, IntRange) and v.int[0] < 0:
            raise ValueError(f"auxiliary task counts must be >= 0, got {v.int}")
        return v

    @field_validator("task_sampler")
    @classmethod
    def _sampler_flags(cls, v: Choice | None) -> Choice | None:
        if v is not None and not all(isinstance(b, bool) for b in v.choice):
            raise ValueError(f"task_sampler choices must be true/false, got {v.choice}")
        return v

    def open_dimensions(self) -> list[str]:
        return [k for k, v in self if v is not None]

    def grouping_space(self) -> GroupingSpace | None:
        """The grouping dimension in its full form (``{choice: names}`` is the manual shorthand)."""
        g = self.grouping
        if isinstance(g, Choice):
            return GroupingSpace(method=Choice(choice=[MANUAL]), manual=g)
        return g
