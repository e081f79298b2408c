"""``cnn``: a small 2-D CNN over spectrograms; its options and its plugin."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mtlsearch.models.encoders import ENCODERS, Encoder
from mtlsearch.models.encoders.conv_options import ConvOptions


class CNNOptions(ConvOptions):
    """``cnn``: a small 2-D CNN over a spectrogram dataset's (frames, mel bins) features, for CPU-scale runs
    (blocks: :class:`~mtlsearch.models.encoders.conv_options.ConvOptions`, 2×2 pooling; the stem strides by 2)."""

    type: Literal["cnn"]
    stem_stride: int = Field(2, ge=1, description="stride of the first convolution")


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
