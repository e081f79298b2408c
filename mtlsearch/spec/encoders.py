"""Model settings: the ``EncoderSpec`` choice composed from the encoder registry, and ``ModelSpec``.

Each encoder type's options live beside it (:mod:`mtlsearch.models.encoders`,
one module per type); ``EncoderSpec`` validates ``{type: ..., **options}``
against the named type's ``Options`` (default ``mlp``). ``ModelSpec`` is the
spec's ``model`` section: the encoder, named alternative encoders the search
may choose, and the fixed parameter sharing (hard or soft, with its λ and
layers), and multimodal inputs (``inputs``: input name → encoder; ``fusion``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from mtlsearch.models.encoders import DEFAULT_ENCODER_TYPE, ENCODERS
from mtlsearch.models.encoders.multimodal import FusionOptions  # its Options refuse {type: multimodal} in a spec
from mtlsearch.plugins import plugin_field
from mtlsearch.spec.names import Strict

EncoderSpec = plugin_field(ENCODERS, "type", DEFAULT_ENCODER_TYPE)
"""The encoder each sharing-plan group gets, chosen by ``type`` (default ``mlp``) among the registered encoders."""


def encoder_defaults(kind: str = DEFAULT_ENCODER_TYPE) -> BaseModel:
    """Encoder type ``kind`` with its default options."""
    return ENCODERS.options(kind)()


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

    ``cross_task_attention``, ``attention_gamma``, ``attention_dim``: M3H's cross-task
    attention (Bertsimas and Ma, arXiv:2404.18975, 2024) between each encoder group's
    representation and its tasks' heads, for MTL/GMHL/GMTL trials
    (:mod:`mtlsearch.models.cross_task_attention`): γ, the self-exploitation bias of the
    attention logits (a number or ``learned``), and d, the per-task embedding size.
    ``search.space.cross_task_attention`` and ``search.space.attention_gamma`` search them.

    ``inputs`` (multimodal): the dataset's inputs (``DatasetInfo.inputs``, listed by ``mtlsearch data
    inspect``) the model reads, each with its own encoder (``mlp`` for tabular, ``text`` for raw text,
    ``cnn``/``ast``/``timeseries`` for spectrograms, ``timeseries`` for time series), e.g.
    ``{x: {type: cnn}, clinical: {type: mlp, hidden_dims: [16]}}``; ``fusion`` fuses their outputs
    (``{type: concat, dim: 64}``, the default, or ``{type: attention, dim: 64}``;
    :mod:`mtlsearch.models.fusion`). Every architecture then uses this fused encoder wherever it
    would use ``encoder`` (which is ignored). Unset: the single input ``encoder`` reads, as before.
    """

    encoder: EncoderSpec = Field(default_factory=encoder_defaults)
    encoders: dict[str, EncoderSpec] = Field(default_factory=dict)
    sharing: Literal["hard", "soft"] = "hard"
    soft_lambda: float = Field(0.1, ge=0, description="soft sharing: λ of the L2 penalty (Tri-MTL: 0.1)")
    soft_layers: str | int | list[int] = Field(
        "all", description="soft sharing: the penalised layers: all, an index or a list of indices"
    )
    cross_task_attention: bool = False
    attention_gamma: float | Literal["learned"] = Field(
        "learned", description="cross-task attention: γ added to the self logits, a number or learned"
    )
    attention_dim: int = Field(16, ge=1, description="cross-task attention: the per-task embedding size d")

    inputs: dict[str, EncoderSpec] | None = Field(
        None, description="multimodal: input name -> its encoder (the inputs are fused by model.fusion)"
    )
    fusion: FusionOptions = Field(default_factory=FusionOptions)

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, v: dict | None) -> dict | None:
        if v is not None and not v:
            raise ValueError("expected at least one input name with its encoder, e.g. {x: {type: mlp}}")
        return v

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

    def multimodal(self, dataset_inputs, tasks: list[str], hidden_dim: int | None = None, dropout: float | None = None) -> dict:
        """The fused encoder's settings (a job's ``encoder``) for ``inputs``/``fusion`` over a dataset's
        inputs (:func:`mtlsearch.models.encoders.multimodal.multimodal_config`); ``tasks``: the run's tasks,
        none of which an input may give away."""
        from mtlsearch.models.encoders.multimodal import multimodal_config

        if self.inputs is None:
            raise ValueError("model.inputs is not set")
        return multimodal_config(self.inputs, self.fusion, tuple(dataset_inputs), tasks, hidden_dim, dropout)

    def named(self, name: str | None) -> BaseModel:
        """The encoder settings a name stands for (``None`` or ``default``: ``encoder``)."""
        return self.encoder if name in (None, DEFAULT_ENCODER) else self.encoders[name]

    def all_encoders(self) -> list[BaseModel]:
        return [self.encoder, *self.encoders.values()]
