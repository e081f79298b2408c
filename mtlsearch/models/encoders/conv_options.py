"""The options every convolutional encoder shares (``cnn``, ``timeseries``): its blocks, kernel, stem stride, dropout.

The blocks themselves: :func:`mtlsearch.models.networks.conv_stack`. Each encoder
subclasses :class:`ConvOptions` with its own ``type`` and defaults.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from mtlsearch.plugins import PluginOptions


class ConvOptions(PluginOptions):
    """One conv-BatchNorm-ReLU block per ``channels`` entry, max pooling by 2 between blocks, global average
    pooling, then ``dropout``; the first convolution has stride ``stem_stride``. ``out_dim`` = ``channels[-1]``."""

    type: str  # each encoder narrows it to its own name (declared here so that it is listed first)
    channels: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [16, 32, 64], min_length=1)
    kernel_size: int = Field(3, ge=1, description="odd: the convolutions keep the size (padding kernel_size // 2)")
    stem_stride: int = Field(1, ge=1, description="stride of the first convolution")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="on the pooled output")

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {v}")
        return v
