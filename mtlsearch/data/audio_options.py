"""The options of the log-mel feature pipeline, shared by the loaders that read WAV files (``icbhi``, ``table``).

Each clip is resampled to ``sample_rate``, cut or padded to ``cycle_seconds``
(``padding``), and turned into Kaldi log-mel filterbanks of ``num_mel_bins``
bins, 25 ms frames every 10 ms, then scaled as AST does (``normalization``);
the pipeline itself: :mod:`mtlsearch.data.icbhi_features` and :mod:`mtlsearch.data.audio`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mtlsearch.data.loader import LoaderOptions


class AudioFeatureOptions(LoaderOptions):
    sample_rate: int = Field(16000, gt=0, description="audio is resampled to this rate (Hz) before cutting cycles")
    cycle_seconds: float = Field(8.0, gt=0.0, le=60.0, description="each cycle is cut or padded to this length (s)")
    padding: Literal["repeat", "zero"] = Field(
        "repeat", description="repeat: tile the cycle and fade out the last 1/16 s (patch-mix/Tri-MTL); zero: append zeros"
    )
    num_mel_bins: int = Field(128, ge=4, description="mel bins of the Kaldi filterbanks (AST: 128)")
    normalization: Literal["ast", "none"] = Field(
        "ast", description="ast: (fbank + 4.2677393) / (2 · 4.5689974), AST's scaling; none: raw log-mel energies"
    )


def num_frames(num_samples: int, sample_rate: int, frame_length_ms: float = 25.0, frame_shift_ms: float = 10.0) -> int:
    """Frames Kaldi makes of ``num_samples`` (``snip_edges``: no frame reaches past the end); torch-free, so a
    loader can tell its spectrogram shape while a spec is validated."""
    size = int(sample_rate * frame_length_ms * 0.001)
    shift = int(sample_rate * frame_shift_ms * 0.001)
    return 0 if num_samples < size else 1 + (num_samples - size) // shift
