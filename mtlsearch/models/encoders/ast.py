"""``ast``: the Audio Spectrogram Transformer over log-mel filterbanks; its options and its plugin."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mtlsearch.models.encoders import ENCODERS, Encoder
from mtlsearch.plugins import PluginOptions

AST_ARCHITECTURE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "patch_size")


class ASTOptions(PluginOptions):
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
    def _consistent(self) -> "ASTOptions":
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


@ENCODERS.register
class AST(Encoder):
    """``ast``: :class:`~mtlsearch.models.networks.ASTEncoder` (transformers ``ASTModel``) over a spectrogram dataset."""

    name = "ast"
    Options = ASTOptions
    needs_spectrogram = True
    input_kinds = ("spectrogram",)

    def build(self, options: ASTOptions, in_dim: int, input_shape: tuple[int, ...] | None):
        from mtlsearch.models.networks import ASTEncoder

        return ASTEncoder(in_dim, input_shape, **options.model_dump(exclude={"type"}))
