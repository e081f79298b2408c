"""The search spec: a YAML file, its schema, and error messages that point into it.

A spec names an experiment, a dataset (a registered loader and its options),
the fixed model and training settings, named task groupings, and the search:
which dimensions are open and how Tune explores them. Everything is validated
here, at the boundary; a problem is reported as ``FILE:LINE: field 'a.b.c':
what was expected (got ...)`` and ``mtlsearch`` exits with code 2.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Sequence, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from mtlsearch.errors import SpecError
from mtlsearch.models.plan import SHARING_MODES
from mtlsearch.train.optimizers import OPTIMIZERS

ARCHITECTURES = ("STL", "MTL", "GMHL", "GMTL")
GROUPED_ARCHITECTURES = frozenset({"GMHL", "GMTL"})
PLANTED = "planted"
MANUAL = "manual"
# Tri-MTL dimensions: metadata tasks and parameter sharing (mtlsearch.models.plan, mtlsearch.models.soft_sharing)
NO_METADATA = "none"
IN_TRIAL, RAY_TRAIN = "in_trial", "ray_train"
"""Executors of a run (``train.executor``): inside the Tune trial (one worker), or a Ray Train worker group (DDP)."""


def canonical_metadata(value: Any) -> str:
    """One ``metadata`` choice as a string: ``none`` (or null, ``[]``) → ``"none"``, a task → its name,
    a set ``[a, b]`` (or ``"a+b"``) → ``"a+b"``. Raises ValueError naming the bad value."""
    if value is None:
        return NO_METADATA
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"metadata: expected {NO_METADATA!r}, a task name or a list of task names, got {value!r}")
        names += [p.strip() for p in item.split("+")]
    if not names or names == [NO_METADATA]:
        return NO_METADATA
    if any(not n for n in names) or NO_METADATA in names:
        raise ValueError(f"metadata: expected {NO_METADATA!r}, a task name or a list of task names, got {value!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"metadata: a task is named twice in {value!r}")
    return "+".join(names)


def metadata_tasks(choice: str | None) -> tuple[str, ...]:
    """The task names of a canonical ``metadata`` choice (``"none"`` → ())."""
    return () if choice in (None, NO_METADATA) else tuple(choice.split("+"))


# grouping methods computed from the data (mtlsearch.grouping.methods registers one class each)
COMPUTED_GROUPING_METHODS = ("embedding", "affinity", "gradient_cosine")
GROUPING_METHODS = (*COMPUTED_GROUPING_METHODS, MANUAL)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def known_choices(v: "Choice | None", names: Sequence[str], what: str) -> "Choice | None":
    """``v`` unchanged when every choice is one of ``names``; else ValueError naming the first unknown one."""
    if v is not None:
        bad = [c for c in v.choice if c not in names]
        if bad:
            raise ValueError(f"unknown {what} {bad[0]!r}; expected some of {list(names)}")
    return v


# --- search-space dimensions -------------------------------------------------


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
    under the spec's ``groupings`` (or ``planted``), sampled only for ``manual``.
    """

    method: Choice
    k: _dimension("choice", "int") | None = None
    manual: Choice | None = None

    @field_validator("method")
    @classmethod
    def _methods(cls, v: Choice) -> Choice:
        return known_choices(v, GROUPING_METHODS, "grouping method")

    @field_validator("k")
    @classmethod
    def _ks(cls, v):
        values = v.choice if isinstance(v, Choice) else list(v.int)
        if not all(isinstance(k, int) and k >= 1 for k in values):
            raise ValueError(f"k must be positive integers, got {values}")
        return v

    @model_validator(mode="after")
    def _needs(self) -> "GroupingSpace":
        computed = [m for m in self.method.choice if m != MANUAL]
        if computed and self.k is None:
            raise ValueError(f"grouping methods {computed} need k: {{int: [low, high]}} or {{choice: [...]}}")
        if MANUAL in self.method.choice and self.manual is None:
            raise ValueError("grouping method 'manual' needs manual: {choice: [grouping names]}")
        return self

    def k_values(self) -> list[int]:
        if self.k is None:
            return []
        return list(self.k.choice) if isinstance(self.k, Choice) else list(range(self.k.int[0], self.k.int[1] + 1))

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

    @field_validator("weighting")
    @classmethod
    def _weightings(cls, v: Choice | None) -> Choice | None:
        return known_choices(v, WEIGHTING_NAMES, "weighting")

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


# --- fixed settings ----------------------------------------------------------


class MLPEncoderSpec(Strict):
    """``mlp``: numeric features → ``hidden_dims`` ReLU layers (the ``hidden_dim`` search dimension sets their widths)."""

    type: Literal["mlp"] = "mlp"
    hidden_dims: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [64, 32], min_length=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class CNNEncoderSpec(Strict):
    """``cnn``: a small 2-D CNN over a spectrogram dataset's (frames, mel bins) features, for CPU-scale runs.

    One conv-BatchNorm-ReLU block per ``channels`` entry, 2×2 max pooling between
    blocks, global average pooling; the first convolution has stride ``stem_stride``.
    """

    type: Literal["cnn"]
    channels: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [16, 32, 64], min_length=1)
    kernel_size: int = Field(3, ge=1, description="odd: the convolutions keep the spatial size (padding kernel_size // 2)")
    stem_stride: int = Field(2, ge=1, description="stride of the first convolution")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="on the pooled output")

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {v}")
        return v


AST_ARCHITECTURE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "patch_size")


class ASTEncoderSpec(Strict):
    """``ast``: the Audio Spectrogram Transformer (transformers ``ASTModel``) over Kaldi log-mel filterbanks.

    ``pretrained``: a local directory (``save_pretrained``) or Hugging Face id
    whose weights are loaded; the architecture fields then come from it and must
    stay unset. Unset (``null``): random initialisation from an ``ASTConfig``;
    unset architecture fields keep transformers' defaults (AST-base: 768 wide,
    12 layers, 12 heads, 3072 MLP, 16×16 patches, stride 10), so set them small
    for CPU runs. ``max_length`` and ``num_mel_bins`` always come from the
    dataset's ``feature_shape``; strides may be set with pretrained weights too
    (the position embeddings are cropped or interpolated to the patch grid).
    """

    type: Literal["ast"]
    pretrained: str | None = Field(None, description="local path or Hugging Face id of ASTModel weights; null: random init")
    hidden_size: int | None = Field(None, gt=0)
    num_hidden_layers: int | None = Field(None, ge=1)
    num_attention_heads: int | None = Field(None, ge=1)
    intermediate_size: int | None = Field(None, gt=0)
    patch_size: int | None = Field(None, ge=1)
    frequency_stride: int | None = Field(None, ge=1)
    time_stride: int | None = Field(None, ge=1)
    pooling: Literal["cls", "mean"] = Field(
        "cls", description="cls: mean of the CLS and distillation tokens (AST's pooled output); mean: of the patch tokens"
    )
    freeze_layers: int = Field(0, ge=0, description="n > 0 freezes the patch/position embeddings and the lower n layers")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="on the pooled output")

    @model_validator(mode="after")
    def _consistent(self) -> "ASTEncoderSpec":
        if self.pretrained:
            fixed = [k for k in AST_ARCHITECTURE_FIELDS if getattr(self, k) is not None]
            if fixed:
                raise ValueError(f"{fixed} are fixed by the pretrained weights {self.pretrained!r}; leave them unset")
            return self
        hidden = self.hidden_size or 768  # ASTConfig's defaults
        heads = self.num_attention_heads or 12
        layers = self.num_hidden_layers or 12
        if hidden % heads:
            raise ValueError(f"hidden_size {hidden} must be a multiple of num_attention_heads {heads}")
        if self.freeze_layers > layers:
            raise ValueError(f"freeze_layers {self.freeze_layers} exceeds num_hidden_layers {layers}")
        return self


class TextEncoderSpec(Strict):
    """``text``: a Hugging Face encoder (``AutoModel``) fine-tuned on a text dataset's reports/abstracts.

    ``model``: a Hugging Face id (e.g. ``dmis-lab/biobert-v1.1``) or a local
    directory; ``null`` is the bundled all-MiniLM-L6-v2, which works offline.
    Texts are tokenized once per dataset, model and ``max_length`` and cached as
    Arrow next to the dataset's table. Needs a loader that keeps raw text
    (``ohsumed_folders``, ``openi_csv``, ``openi_xml``).
    """

    type: Literal["text"]
    model: str | None = Field(None, description="Hugging Face id or local path; null: the bundled all-MiniLM-L6-v2")
    pooling: Literal["cls", "mean"] = Field("mean", description="cls: the first token's state; mean: over the real tokens")
    max_length: int = Field(128, ge=4, le=4096, description="tokens per text (longer texts are truncated)")
    freeze_layers: int = Field(0, ge=0, description="n > 0 freezes the embeddings and the lower n transformer layers")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="on the pooled output")


ENCODER_SPECS: dict[str, type[BaseModel]] = {
    "mlp": MLPEncoderSpec,
    "cnn": CNNEncoderSpec,
    "ast": ASTEncoderSpec,
    "text": TextEncoderSpec,
}


def _encoder_kind(v: Any) -> str | None:
    """The encoder's ``type`` (``mlp`` when absent); None for a value that is not a mapping."""
    if isinstance(v, BaseModel):
        return getattr(v, "type", None)
    if isinstance(v, dict):
        kind = v.get("type", "mlp")
        return kind if isinstance(kind, str) else repr(kind)
    return None


EncoderSpec = Annotated[
    Union[tuple(Annotated[m, Tag(k)] for k, m in ENCODER_SPECS.items())],
    Discriminator(
        _encoder_kind,
        custom_error_type="encoder",
        custom_error_message=f"expected a mapping with type: one of {list(ENCODER_SPECS)} and that encoder's settings",
    ),
]
"""The encoder each sharing-plan group gets: ``mlp`` | ``cnn`` | ``ast`` | ``text``, chosen by ``type`` (default ``mlp``)."""


DEFAULT_ENCODER = "default"


class ModelSpec(Strict):
    """``encoder``: the model's encoder (the single-task baselines use it).

    ``encoders``: named alternatives the search may choose with
    ``search.space.encoder: {choice: [default, name, ...]}`` (``default`` is

    ``sharing``, ``soft_lambda``, ``soft_layers``: the fixed parameter sharing of
    MTL/GMHL/GMTL trials (``search.space.sharing`` etc. search them): ``hard``,
    or ``soft`` (Tri-MTL, arXiv:2505.06271 §II-B) = an encoder per head group and
    the loss term ``soft_lambda · Σ_{t<s} Σ_{l∈S} ‖θ_t^l − θ_s^l‖²`` over the
    layer set ``S`` = ``soft_layers`` (``all``, an index, or a list of indices;
    :mod:`mtlsearch.models.soft_sharing` says what a layer is per encoder type).
    ``encoder``), e.g. a fine-tuned transformer beside an MLP on bag-of-words.
    """

    encoder: EncoderSpec = Field(default_factory=MLPEncoderSpec)
    encoders: dict[str, EncoderSpec] = Field(default_factory=dict)
    sharing: Literal["hard", "soft"] = "hard"
    soft_lambda: float = Field(0.1, ge=0, description="soft sharing: λ of the L2 penalty (Tri-MTL: 0.1)")
    soft_layers: str | int | list[int] = Field(
        "all", description="soft sharing: the penalised layers: all, an index or a list of indices"
    )

    @field_validator("encoders")
    @classmethod
    def _names(cls, v: dict) -> dict:
        if DEFAULT_ENCODER in v:
            raise ValueError(f"'{DEFAULT_ENCODER}' names model.encoder; give the alternative another name")
        return v

    @field_validator("soft_layers")
    @classmethod
    def _soft_layers(cls, v) -> str:
        from mtlsearch.models.soft_layers import canonical_layers

        return canonical_layers(v)

    def named(self, name: str | None) -> BaseModel:
        """The encoder settings a name stands for (``None`` or ``default``: ``encoder``)."""
        return self.encoder if name in (None, DEFAULT_ENCODER) else self.encoders[name]

    def all_encoders(self) -> list[BaseModel]:
        return [self.encoder, *self.encoders.values()]


class EqualWeightingSpec(Strict):
    """``equal``: ``Σ_t L_t`` (the default)."""

    name: Literal["equal"] = "equal"


class StaticWeightingSpec(Strict):
    """``static``: ``Σ_t w_t L_t`` with fixed weights (tasks not listed: 1); ``search.space.static_weights`` searches them."""

    name: Literal["static"] = "static"
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)


class UncertaintyWeightingSpec(Strict):
    """``uncertainty``: Kendall et al. 2018, ``Σ_t exp(−s_t) L_t + ½ s_t`` with trainable log-variances ``s_t``."""

    name: Literal["uncertainty"] = "uncertainty"
    init_log_var: float = Field(0.0, description="initial s_t = log σ_t²")


class DWAWeightingSpec(Strict):
    """``dwa``: dynamic weight average (Liu et al. 2019), weights from the last two epochs' loss ratios."""

    name: Literal["dwa"] = "dwa"
    temperature: float = Field(2.0, gt=0)


class GradNormWeightingSpec(Strict):
    """``gradnorm``: GradNorm (Chen et al. 2018), trainable weights balancing gradient norms at the last shared layer."""

    name: Literal["gradnorm"] = "gradnorm"
    alpha: float = Field(1.5, ge=0, description="restoring force; 0 equalises gradient norms")


class DTPWeightingSpec(Strict):
    """``dtp``: dynamic task prioritization (Guo et al. 2018), ``−(1−κ_t)^γ log κ_t`` from each task's smoothed batch accuracy."""

    name: Literal["dtp"] = "dtp"
    gamma: float = Field(2.0, ge=0, description="focusing parameter γ")
    ema: float = Field(0.1, gt=0, le=1, description="weight of the newest batch in the KPI's moving average")


class PCGradWeightingSpec(Strict):
    """``pcgrad``: PCGrad (Yu et al. 2020), conflicting task gradients on the shared parameters projected apart."""

    name: Literal["pcgrad"] = "pcgrad"


WEIGHTING_SPECS: dict[str, type[BaseModel]] = {
    "equal": EqualWeightingSpec,
    "static": StaticWeightingSpec,
    "uncertainty": UncertaintyWeightingSpec,
    "dwa": DWAWeightingSpec,
    "gradnorm": GradNormWeightingSpec,
    "dtp": DTPWeightingSpec,
    "pcgrad": PCGradWeightingSpec,
}
WEIGHTING_NAMES = tuple(WEIGHTING_SPECS)
"""Loss-weighting strategies (:mod:`mtlsearch.train.weighting` implements one class each, by these names)."""


def _weighting_kind(v: Any) -> str | None:
    """The weighting's ``name`` (``equal`` when absent); None for a value that is not a mapping."""
    if isinstance(v, BaseModel):
        return getattr(v, "name", None)
    if isinstance(v, dict):
        kind = v.get("name", "equal")
        return kind if isinstance(kind, str) else repr(kind)
    return None


WeightingSpec = Annotated[
    Union[tuple(Annotated[m, Tag(k)] for k, m in WEIGHTING_SPECS.items())],
    Discriminator(
        _weighting_kind,
        custom_error_type="weighting",
        custom_error_message=f"expected a mapping with name: one of {list(WEIGHTING_SPECS)} and that strategy's options",
    ),
]
"""The loss-weighting strategy, chosen by ``name`` (default ``equal``), with its options."""


class CoTaskSpec(Strict):
    """CO-TASK (AAAI 2021, ``../shared/papers/co-task_aaai2021.txt``) settings; all off by default.

    ``aux_tasks``: M auxiliary tasks, each a pair of primary tasks with one class
    of each mapped into a new class (:mod:`mtlsearch.tasks.cotask`), trained on
    1/2 of the training data, never in Δm. ``major``: the major tasks (primary
    task names); ``major_prob``: the chance that a generated pair contains one.
    ``sampler``: each batch first picks a task (``pick``: ``uniform``, or
    ``major`` with probability ``major_prob`` of picking a major task), then
    draws its examples with the task-aware imbalance sampler (class weight
    log(n_c)/n_c), and the step trains that task's loss only
    (:mod:`mtlsearch.train.sampler`).
    """

    aux_tasks: int = Field(0, ge=0, description="M, the number of auxiliary tasks")
    major: list[str] = Field(default_factory=list, description="major tasks (primary task names)")
    major_prob: float = Field(
        0.5, ge=0.0, le=1.0, description="chance that an auxiliary pair (or a sampler pick) involves a major task"
    )
    sampler: bool = Field(False, description="task-aware imbalance sampler: one task per batch, class weights log(n)/n")
    pick: Literal["uniform", "major"] = Field("uniform", description="how the sampler picks a batch's task")


class TrainSpec(Strict):
    """Training budget and the fixed hyperparameters (the search may override some per trial)."""

    epochs: int = Field(8, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    optimizer: Literal[tuple(OPTIMIZERS)] = "adam"  # type: ignore[valid-type]
    workers: int = Field(1, ge=1, description="Ray Train workers per trial (DDP when > 1)")
    executor: Literal["auto", "in_trial", "ray_train"] = Field(
        "auto",
        description="how a trial trains: in_trial (inside its Tune trial, one worker), ray_train (a Ray Train "
        "worker group: DDP, multi-node), auto (in_trial for one worker, else ray_train)",
    )
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    driver_cpus: float = Field(
        1.0, gt=0, description="CPUs for each trial's Tune driver (ray_train executor only: an in-trial trial is its own worker)"
    )
    torch_threads: int | None = Field(
        None, ge=1, description="torch.set_num_threads in each worker (default: its whole CPUs, at least 1)"
    )
    max_failures: int = Field(
        2, ge=0, description="restarts of a trial (its trial actor or worker group) from its last checkpoint"
    )
    placement: Literal["pack", "spread", "strict_spread"] = Field(
        "pack",
        description="where a trial's Ray Train workers go: pack (fewest nodes), spread (across nodes if possible), "
        "strict_spread (one node each: multi-node DDP)",
    )
    mixed_precision: Literal["none", "bf16"] = Field(
        "none", description="bf16: autocast the forward passes on CUDA devices (CPU runs always train in float32)"
    )
    weighting: WeightingSpec = Field(
        default_factory=EqualWeightingSpec, description="loss weighting: {name: equal | static | ..., options}"
    )
    cotask: CoTaskSpec = Field(default_factory=CoTaskSpec, description="CO-TASK auxiliary tasks and task-aware sampler")
    class_weighted: bool | list[str] = Field(
        False,
        description="class-weighted cross-entropy, w_c = N / (C n_c) from the training counts (Tri-MTL): true, or these tasks",
    )

    @model_validator(mode="after")
    def _in_trial_is_one_worker(self) -> "TrainSpec":
        if self.executor == IN_TRIAL and self.workers != 1:
            raise ValueError(
                f"executor 'in_trial' trains one worker inside the trial; with workers: {self.workers} "
                "use executor: ray_train (or auto)"
            )
        return self

    @property
    def resolved_executor(self) -> str:
        """``in_trial`` or ``ray_train``: ``auto`` is in_trial for one worker, ray_train (DDP) for more."""
        if self.executor != "auto":
            return self.executor
        return IN_TRIAL if self.workers == 1 else RAY_TRAIN

    @property
    def threads(self) -> int:
        """torch threads of one worker: ``torch_threads``, else its whole CPUs (at least 1), as Ray sets OMP_NUM_THREADS."""
        return self.torch_threads or max(1, int(self.cpus_per_worker))

    def weighting_for(self, name: str | None) -> BaseModel:
        """The options of strategy ``name``: ``weighting``'s when it is that strategy, else the strategy's defaults."""
        if name is None or name == self.weighting.name:
            return self.weighting
        return WEIGHTING_SPECS[name]()


class AshaSpec(Strict):
    enabled: bool = True
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(2.0, gt=1.0)


class ConfirmSpec(Strict):
    """Confirmation with seeds (:mod:`mtlsearch.search.confirm`): after the search, the ``top`` candidates by
    Δm(val) and the STL baselines are retrained with ``seeds`` new seeds; Δm(test) gets a paired 95% interval."""

    top: int = Field(3, ge=1, description="candidates to confirm: the best by the search's Δm(val)")
    seeds: int = Field(3, ge=2, description="seeds per candidate and for the baselines (an interval needs at least 2)")
    each_architecture: bool = Field(
        False, description="also confirm the best candidate of every architecture the search tried (STL, MTL, GMHL, GMTL)"
    )


class SearchSpec(Strict):
    num_samples: int = Field(10, ge=1, description="trials")
    confirm: ConfirmSpec | None = Field(
        None, description="retrain the best candidates and the baselines with more seeds for Δm(test) intervals; off when absent"
    )
    max_concurrent_trials: int | None = Field(None, ge=1)
    searcher: Literal["optuna", "random", "grid"] = Field(
        "optuna", description="optuna: TPE; random; grid: every candidate of a discrete space (choice/int dimensions) once"
    )
    scheduler: AshaSpec = Field(default_factory=AshaSpec)
    space: SearchSpace

    @model_validator(mode="after")
    def _grid_is_discrete(self) -> "SearchSpec":
        if self.searcher == "grid":
            continuous = [k for k, v in self.space if isinstance(v, (Uniform, LogUniform))]
            if continuous:
                raise ValueError(f"searcher 'grid' needs discrete dimensions (choice or int); {continuous} are continuous")
        return self

    @model_validator(mode="after")
    def _non_empty(self) -> "SearchSpec":
        if not self.space.open_dimensions():
            raise ValueError(
                "the search space is empty: open at least one dimension under search.space "
                f"(one of {list(SearchSpace.model_fields)})"
            )
        return self


class DatasetSpec(Strict):
    loader: str
    options: dict[str, Any] = Field(default_factory=dict)
    descriptions: dict[str, str] = Field(
        default_factory=dict, description="task name -> description, overriding the loader's (for embedding clustering)"
    )


class EmbeddingMethodSpec(Strict):
    """MTLV label-embedding clustering settings."""

    encoder: str | None = Field(None, description="Hugging Face id or local path; default: the bundled all-MiniLM-L6-v2")
    text: Literal["name", "description"] = "name"
    metric: Literal["euclidean", "cosine"] = "euclidean"
    max_length: int = Field(128, ge=8)
    k_max: int = Field(10, ge=2, description="the elbow curve spans k = 1..k_max (capped at the number of tasks)")


AFFINITY_EPOCHS_CAP = 25
"""Default cap of a calibrated affinity run: planted groups on the benchmark's generators need 5 to 25 epochs."""


class AffinityMethodSpec(Strict):
    """TAG affinity settings: one all-task run on the spec's model, batch size and learning rate.

    Its length matters. Affinity is informative while the shared encoder learns
    what the tasks have in common, before each task's features specialise.
    ``length: calibrated`` (the default) makes ``epochs`` a cap: the run stops at
    the end of the first epoch (after the first) whose mean transfer (the mean
    off-diagonal affinity of its measurements) is negative, and keeps the running
    mean of its most reliable epoch (:mod:`mtlsearch.grouping.reliability`).
    ``length: fixed`` runs exactly ``epochs`` epochs and averages them all. Either
    way the matrix is stored with its reliability, and an unreliable one is
    reported with a warning.
    """

    every_steps: int = Field(10, ge=1, description="measure the affinity every n training steps")
    epochs: int = Field(
        AFFINITY_EPOCHS_CAP, ge=1, description="cap of the affinity run (length: calibrated) or its length (length: fixed)"
    )
    length: Literal["fixed", "calibrated"] = Field(
        "calibrated",
        description="calibrated: stop when the mean transfer turns negative, `epochs` the cap; fixed: exactly `epochs` epochs",
    )
    lookahead_lr: float | None = Field(None, gt=0, description="SGD step size of the lookahead (default: the method's)")
    encoder: EncoderSpec | None = Field(
        None, description="encoder of the affinity run (default: model.encoder); a wider proxy can measure a narrow model's tasks"
    )


class GroupingMethodsSpec(Strict):
    embedding: EmbeddingMethodSpec = Field(default_factory=EmbeddingMethodSpec)
    affinity: AffinityMethodSpec = Field(default_factory=AffinityMethodSpec)


class EvaluationSpec(Strict):
    """How trials and baselines are scored (one protocol for both; the baselines are keyed by it)."""

    thresholds: Literal["val_tuned", "fixed"] = Field(
        "val_tuned",
        description="binary decision thresholds: val_tuned (each task's τ chosen on val every epoch, applied "
        "unchanged to test) or fixed (p > 0.5)",
    )
    metric: Literal["task", "auroc", "average_precision"] = Field(
        "task",
        description="the primary metric of every primary task, what Δm and selection use: task (each task's own, "
        "e.g. F1, macro-F1, the ICBHI score) or a threshold-free one of its probabilities (auroc, "
        "average_precision; one-vs-rest macro for multiclass tasks)",
    )


class Spec(Strict):
    experiment: str
    seed: int = 0
    storage: str = "./mtlsearch_results"
    dataset: DatasetSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    groupings: dict[str, list[list[str]]] = Field(default_factory=dict)
    grouping_methods: GroupingMethodsSpec = Field(default_factory=GroupingMethodsSpec)
    search: SearchSpec
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)

    @field_validator("experiment")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", v):
            raise ValueError(f"experiment names use letters, digits, '_', '.', '-' (got {v!r})")
        return v

    def searched_encoders(self) -> list[str]:
        """The encoder names trials may use (``default`` alone when the encoder is not searched)."""
        dim = self.search.space.encoder
        return list(dim.choice) if dim is not None else [DEFAULT_ENCODER]

    @model_validator(mode="after")
    def _encoder_names(self) -> "Spec":
        known = [DEFAULT_ENCODER, *self.model.encoders]
        unknown = [n for n in self.searched_encoders() if n not in known]
        if unknown:
            raise ValueError(
                f"search.space.encoder names {unknown[0]!r}, which is not defined under model.encoders "
                f"(expected some of {known}; '{DEFAULT_ENCODER}' is model.encoder)"
            )
        return self

    @model_validator(mode="after")
    def _hidden_dim_needs_mlp(self) -> "Spec":
        types = {self.model.named(n).type for n in self.searched_encoders()}
        if self.search.space.hidden_dim is not None and "mlp" not in types:
            raise ValueError(
                f"search.space.hidden_dim sets the widths of an mlp encoder's hidden_dims; the searched encoders are "
                f"{sorted(types)} (remove hidden_dim, or open dropout, lr, ... instead)"
            )
        return self

    def searched_weightings(self) -> list[str]:
        """The weighting names trials may use (``train.weighting`` alone when not searched)."""
        dim = self.search.space.weighting
        return list(dim.choice) if dim is not None else [self.train.weighting.name]

    @model_validator(mode="after")
    def _static_weights_need_static(self) -> "Spec":
        if self.search.space.static_weights is not None and "static" not in self.searched_weightings():
            raise ValueError(
                "search.space.static_weights samples the weights of the 'static' weighting, which no trial uses "
                f"(the trials' weightings: {self.searched_weightings()}); set train.weighting: {{name: static}} "
                "or add static to search.space.weighting"
            )
        return self

    def searched_sharing(self) -> list[str]:
        """The sharing modes trials may use (``model.sharing`` alone when not searched)."""
        dim = self.search.space.sharing
        return list(dim.choice) if dim is not None else [self.model.sharing]

    @model_validator(mode="after")
    def _soft_dimensions_need_soft(self) -> "Spec":
        space = self.search.space
        opened = [n for n in ("soft_lambda", "soft_layers") if getattr(space, n) is not None]
        if opened and "soft" not in self.searched_sharing():
            raise ValueError(
                f"search.space.{opened[0]} is sampled only for soft-sharing trials, and no trial shares softly "
                f"(the trials' sharing: {self.searched_sharing()}); add soft to search.space.sharing or set model.sharing: soft"
            )
        return self

    @model_validator(mode="after")
    def _groupings(self) -> "Spec":
        space = self.search.space
        archs = space.architecture.choice if space.architecture else ["MTL"]
        grouping = space.grouping_space()
        if grouping is not None:
            for name in grouping.manual_names():
                if name != PLANTED and name not in self.groupings:
                    raise ValueError(
                        f"search.space.grouping names {name!r}, which is not defined under 'groupings' "
                        f"(defined: {sorted(self.groupings) or 'none'}; '{PLANTED}' means the dataset's planted groups)"
                    )
        elif GROUPED_ARCHITECTURES & set(archs):
            raise ValueError(
                "grouped architectures (GMHL, GMTL) need search.space.grouping: {choice: [grouping names]} "
                "or {method: {choice: [embedding, affinity, ...]}, k: {int: [2, 5]}}"
            )
        return self


# --- loading -----------------------------------------------------------------


def load_spec(path: str | Path, storage_override: str | None = None) -> "LoadedSpec":
    """Read, parse and validate a spec file; raise :class:`SpecError` naming every problem."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(str(path), [f"{path}: no such file"])
    text = path.read_text()
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise SpecError(str(path), [f"{where}: not valid YAML: {getattr(e, 'problem', e)}"]) from None
    if not isinstance(data, dict):
        raise SpecError(str(path), [f"{path}:1: expected a mapping at the top level, got {type(data).__name__}"])
    try:
        spec = Spec.model_validate(data)
    except ValidationError as e:
        raise SpecError(str(path), [_describe(path, root, err) for err in e.errors()]) from None
    if storage_override:
        spec = spec.model_copy(update={"storage": storage_override})
    loaded = LoadedSpec(path=path, spec=spec, root=root)
    loaded.check_dataset()
    return loaded


class LoadedSpec:
    """A validated spec with the file it came from and its validated loader options."""

    def __init__(self, path: Path, spec: Spec, root: yaml.Node | None):
        self.path = path
        self.spec = spec
        self._root = root
        self.loader_options: Any = None

    def error(self, loc: tuple, message: str) -> SpecError:
        line = _line_of(self._root, loc)
        where = f"{self.path}:{line}" if line else str(self.path)
        return SpecError(str(self.path), [f"{where}: field '{_dotted(loc)}': {message}"])

    def check_dataset(self) -> None:
        """Validate the loader name and options, and the task names used in groupings."""
        from mtlsearch.data.registry import get_loader, loader_names

        ds = self.spec.dataset
        if ds.loader not in loader_names():
            raise self.error(("dataset", "loader"), f"unknown loader {ds.loader!r}; expected one of {loader_names()}")
        loader = get_loader(ds.loader)
        try:
            self.loader_options = loader.Options.model_validate(ds.options)
        except ValidationError as e:
            problems = [
                _describe(self.path, self._root, {**err, "loc": ("dataset", "options", *err["loc"])}) for err in e.errors()
            ]
            raise SpecError(str(self.path), problems) from None
        known = {t.name for t in loader.tasks(self.loader_options)}
        for gname, groups in self.spec.groupings.items():
            for gi, group in enumerate(groups):
                for ti, task in enumerate(group):
                    if task not in known:
                        raise self.error(
                            ("groupings", gname, gi, ti),
                            f"unknown task {task!r}; the dataset's tasks are {sorted(known)}",
                        )
            if not groups or any(not g for g in groups):
                raise self.error(("groupings", gname), "expected a non-empty list of non-empty task lists")
        weighting = self.spec.train.weighting
        for task in getattr(weighting, "weights", {}):
            if task not in known:
                raise self.error(
                    ("train", "weighting", "weights", task), f"unknown task {task!r}; the dataset's tasks are {sorted(known)}"
                )
        primary = {t.name for t in loader.tasks(self.loader_options) if t.role == "primary"}
        for i, task in enumerate(self.spec.train.class_weighted if isinstance(self.spec.train.class_weighted, list) else []):
            if task not in known:
                raise self.error(
                    ("train", "class_weighted", i), f"unknown task {task!r}; the dataset's tasks are {sorted(known)}"
                )
        for i, task in enumerate(self.spec.train.cotask.major):
            if task not in primary:
                raise self.error(
                    ("train", "cotask", "major", i),
                    f"unknown primary task {task!r}; the dataset's primary tasks are {sorted(primary)}",
                )
        if self.spec.search.space.metadata is not None:
            self.check_metadata({t.name: t.role for t in loader.tasks(self.loader_options)})
        for task in ds.descriptions:
            if task not in known:
                raise self.error(
                    ("dataset", "descriptions", task), f"unknown task {task!r}; the dataset's tasks are {sorted(known)}"
                )
        grouping = self.spec.search.space.grouping_space()
        if grouping is not None and grouping.computed_methods():
            too_big = [k for k in grouping.k_values() if k > len(known)]
            if too_big:
                raise self.error(
                    ("search", "space", "grouping", "k"), f"k must not exceed the number of tasks ({len(known)}), got {too_big}"
                )
            if "embedding" in grouping.computed_methods():
                self.check_descriptions(loader.tasks(self.loader_options))

    def check_metadata(self, roles: dict[str, str]) -> None:
        """Every task of ``search.space.metadata`` must be one of the dataset's non-primary (auxiliary, metadata) tasks."""
        offered = sorted(t for t, r in roles.items() if r != "primary")
        for i, choice in enumerate(self.spec.search.space.metadata.choice):
            for task in metadata_tasks(choice):
                if task not in roles:
                    raise self.error(
                        ("search", "space", "metadata", "choice", i),
                        f"unknown metadata task {task!r}; the dataset's metadata (auxiliary) tasks are {offered}",
                    )
                if roles[task] == "primary":
                    raise self.error(
                        ("search", "space", "metadata", "choice", i),
                        f"{task!r} is a primary task (always trained, counted in Δm); metadata tasks are the "
                        f"dataset's auxiliary tasks {offered}",
                    )

    def check_descriptions(self, tasks) -> None:
        """With ``grouping_methods.embedding.text: description``, every task needs a description."""
        if self.spec.grouping_methods.embedding.text != "description":
            return
        missing = [t.name for t in tasks if not (self.spec.dataset.descriptions.get(t.name) or t.description)]
        if missing:
            raise self.error(
                ("grouping_methods", "embedding", "text"),
                f"'description' needs a description for every task; none for {missing} (add them under dataset.descriptions, or use text: name)",
            )

    @property
    def storage(self) -> str:
        return self.spec.storage


def _dotted(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


def _describe(path: Path, root: yaml.Node | None, err: dict) -> str:
    raw = tuple(err["loc"])
    # a discriminated union puts its tag before the field of the same name: ('lr', 'loguniform', 'loguniform'),
    # and the encoder union its type before the encoder's fields: ('model', 'encoder', 'cnn', 'channels')
    loc = tuple(
        p
        for i, p in enumerate(raw)
        if i == 0
        or (
            p != raw[i - 1]
            and not (raw[i - 1] == "encoder" and p in ENCODER_SPECS)
            and not (raw[i - 1] == "weighting" and p in WEIGHTING_SPECS)
        )
    )
    line = _line_of(root, loc)
    where = f"{path}:{line}" if line else str(path)
    kind = err["type"]
    if kind == "encoder" and isinstance(err.get("input"), dict) and "type" in err["input"]:
        line = _line_of(root, loc + ("type",))
        where = f"{path}:{line}" if line else str(path)
        return (
            f"{where}: field '{_dotted(loc + ('type',))}': unknown encoder type {err['input']['type']!r}; "
            f"expected one of {list(ENCODER_SPECS)}"
        )
    if kind == "weighting" and isinstance(err.get("input"), dict) and "name" in err["input"]:
        line = _line_of(root, loc + ("name",))
        where = f"{path}:{line}" if line else str(path)
        return (
            f"{where}: field '{_dotted(loc + ('name',))}': unknown weighting {err['input']['name']!r}; "
            f"expected one of {list(WEIGHTING_SPECS)}"
        )
    if kind == "extra_forbidden":
        parent_fields = _fields_at(raw[:-1])
        hint = f" (expected one of: {', '.join(parent_fields)})" if parent_fields else ""
        return f"{where}: field '{_dotted(loc)}': unknown key{hint}"
    if kind == "missing":
        return f"{where}: field '{_dotted(loc)}': required field is missing"
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    got_text = f" (got {got!r})" if got is not None and not isinstance(got, (dict, list)) else ""
    return f"{where}: field '{_dotted(loc)}': {msg}{got_text}"


def _tagged_models(ann: Any) -> dict[str, type[BaseModel]]:
    """The members of a tagged union annotation (``Annotated[Model, Tag(t)]``), by tag."""
    out: dict[str, type[BaseModel]] = {}
    origin = get_origin(ann)
    if origin is Annotated:
        base, *meta = get_args(ann)
        tag = next((m.tag for m in meta if isinstance(m, Tag)), None)
        if tag is not None and isinstance(base, type) and issubclass(base, BaseModel):
            out[tag] = base
        else:
            out.update(_tagged_models(base))
    elif origin in (Union, UnionType):
        for member in get_args(ann):
            out.update(_tagged_models(member))
    return out


def _fields_at(loc: tuple) -> list[str]:
    """The keys the schema accepts at ``loc``, a pydantic error location (for 'did you mean' hints).

    Inside a tagged union, pydantic puts the member's tag after the field: ``('model', 'encoder', 'cnn')``.
    """
    model: Any = Spec
    i = 0
    while i < len(loc):
        part = loc[i]
        if isinstance(part, int) or model is None:
            return []
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            tagged = _tagged_models(ann)
            if i + 1 < len(loc) and loc[i + 1] in tagged:
                model = tagged[loc[i + 1]]
                i += 1
            else:
                model = None
        i += 1
    return list(model.model_fields) if model is not None else []


def _line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its deepest existing parent)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    child = (k, v)
                    break
            if child is None:
                return line
            line = child[0].start_mark.line + 1
            node = child[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
