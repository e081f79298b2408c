"""``timeseries``: a small 1-D CNN over multichannel time series; its options and its plugin."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field

from mtlsearch.models.encoders import ENCODERS, Encoder
from mtlsearch.models.encoders.conv_options import ConvOptions


class TimeSeriesOptions(ConvOptions):
    """``timeseries``: a small 1-D CNN over ``[steps, channels]`` rows (a ``[steps]`` series is one channel),
    convolving over time with the input's channels as the first block's input channels (blocks:
    :class:`~mtlsearch.models.encoders.conv_options.ConvOptions`)."""

    type: Literal["timeseries"]
    channels: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [16, 32], min_length=1)
    kernel_size: int = Field(5, ge=1, description="odd: the convolutions keep the length (padding kernel_size // 2)")


def series_shape(in_dim: int, input_shape: tuple[int, ...] | None) -> tuple[int, int]:
    """``(steps, channels)`` of the rows: a 2-D ``input_shape`` as it is, a 1-D one (or none: the flat
    features) as one channel; ValueError when the shape does not match ``in_dim``."""
    shape = tuple(input_shape) if input_shape else (in_dim,)
    if len(shape) not in (1, 2) or math.prod(shape) != in_dim:
        raise ValueError(
            f"encoder 'timeseries' reads rows of shape [steps, channels] or [steps]; got shape {list(shape)} "
            f"for rows of size {in_dim}"
        )
    return (shape[0], shape[1] if len(shape) == 2 else 1)


@ENCODERS.register
class TimeSeries(Encoder):
    """``timeseries``: :class:`~mtlsearch.models.networks.TimeSeriesEncoder` over ``[steps, channels]`` rows."""

    name = "timeseries"
    Options = TimeSeriesOptions
    input_kinds = ("timeseries", "spectrogram", "tabular")

    def build(self, options: TimeSeriesOptions, in_dim: int, input_shape: tuple[int, ...] | None):
        from mtlsearch.models.networks import TimeSeriesEncoder

        return TimeSeriesEncoder(in_dim, series_shape(in_dim, input_shape), **options.model_dump(exclude={"type"}))
