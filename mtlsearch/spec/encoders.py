"""Model settings: the encoder option models (mlp, cnn, ast, text), the ``EncoderSpec`` union and ``ModelSpec``.

Each encoder type has its own strict options model; ``EncoderSpec`` picks one by
``type`` (default ``mlp``). ``ModelSpec`` is the spec's ``model`` section: the
encoder, named alternative encoders the search may choose, and the fixed
parameter sharing (hard or soft, with its λ and layers).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from mtlsearch.spec.names import Strict, keyed_union


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


EncoderSpec = keyed_union(
    ENCODER_SPECS,
    "type",
    "mlp",
    "encoder",
    f"expected a mapping with type: one of {list(ENCODER_SPECS)} and that encoder's settings",
)
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
