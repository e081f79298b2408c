"""``cnn``: a small 2-D CNN over spectrograms; its options and its plugin."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from mtlsearch.models.encoders import ENCODERS, Encoder
from mtlsearch.plugins import PluginOptions


class CNNOptions(PluginOptions):
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


@ENCODERS.register
class CNN(Encoder):
    """``cnn``: :class:`~mtlsearch.models.networks.CNNEncoder` over a spectrogram dataset's (frames, mel bins)."""

    name = "cnn"
    Options = CNNOptions
    needs_spectrogram = True
    input_kinds = ("spectrogram",)

    def build(self, options: CNNOptions, in_dim: int, input_shape: tuple[int, ...] | None):
        from mtlsearch.models.networks import CNNEncoder

        return CNNEncoder(in_dim, input_shape, **options.model_dump(exclude={"type"}))
