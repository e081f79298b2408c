"""The ICBHI input features: each annotated cycle's WAV file, and its filterbank features.

:func:`find_audio` matches a recording to its WAV file (under any device
suffix); :func:`cycle_features` cuts one recording's cycles, brings each to the
cycle length and computes their Kaldi log-mel filterbanks; :func:`audio_features`
does that for every cycle of a source (dropping, with ``audio: optional``, the
cycles of recordings without a WAV file), and :func:`annotation_features` gives
the ``audio: none`` input ``[start, end, duration]``. Cutting, padding and the
filterbanks: "Examples" in :mod:`mtlsearch.data.icbhi`. torch is imported by
the feature functions only (validating an ICBHI spec imports no torch).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from mtlsearch.data.icbhi_cycles import Cycles
from mtlsearch.data.icbhi_files import STEM_PATTERN, parse_recording_name
from mtlsearch.errors import DataError

log = logging.getLogger(__name__)


class FeatureOptions(Protocol):
    """The options the features depend on (those of :class:`mtlsearch.data.icbhi.IcbhiOptions`)."""

    audio: str  # "required" | "optional" | "none"
    sample_rate: int
    cycle_seconds: float
    padding: str  # "repeat" | "zero"
    num_mel_bins: int
    normalization: str  # "ast" | "none"


@dataclass
class Features:
    """The input rows of the kept cycles, and what the table's info records about them."""

    x: np.ndarray  # (kept cycles, dim) float32
    keep: np.ndarray  # (cycles,) bool: the cycles that have a row in x
    dropped: dict[str, int] = field(default_factory=lambda: {"recordings": 0, "cycles": 0})
    extra: dict = field(default_factory=dict)  # DatasetInfo.extra entries


def find_audio(audio_dir: Path, recordings: list[str]) -> dict[str, Path]:
    """Canonical recording name -> its WAV file, matched by patient, index, location and mode (any device suffix)."""
    by_key: dict[str, list[Path]] = defaultdict(list)
    for p in audio_dir.iterdir():
        if p.suffix.lower() == ".wav" and STEM_PATTERN.match(p.stem):
            try:
                by_key[parse_recording_name(p.stem).key].append(p)
            except DataError:
                continue
    out = {}
    for name in recordings:
        found = by_key.get(parse_recording_name(name).key, [])
        exact = [p for p in found if p.stem == name]
        if exact:
            out[name] = exact[0]
        elif len(found) == 1:
            out[name] = found[0]
        elif len(found) > 1:
            raise DataError(
                f"{audio_dir}: several WAV files could be recording {name}: {', '.join(sorted(p.name for p in found))}"
            )
    return out


def cycle_features(wav: Path, spans: list[tuple[float, float, Path, int]], options: FeatureOptions) -> np.ndarray:
    """Filterbank features (cycles × frames·bins) of the cycles ``(start, end, annotation file, line)`` of one recording."""
    import torch  # the feature path only: validating an ICBHI spec imports no torch

    from mtlsearch.data import audio as audio_mod

    samples, rate = audio_mod.read_audio(wav)
    sr = options.sample_rate
    wave = audio_mod.resample(samples, rate, sr)
    length = int(round(options.cycle_seconds * sr))
    fade = sr // 16
    duration = wave.shape[-1] / sr
    pieces = []
    for start, end, ann, line in spans:
        a = min(int(start * sr), wave.shape[-1])
        b = min(int(end * sr), wave.shape[-1])
        if b <= a:
            raise DataError(f"{ann}:{line}: the cycle {start}-{end} s lies outside the recording {wav} ({duration:.3f} s)")
        pieces.append(audio_mod.fit_length(wave[a:b], length, options.padding, fade_samples=fade))
    fb = audio_mod.kaldi_fbank(torch.stack(pieces), sr, options.num_mel_bins)  # (cycles, frames, bins)
    if options.normalization == "ast":
        fb = audio_mod.ast_normalize(fb)
    return fb.reshape(len(pieces), -1).numpy()


def annotation_features(cycles: Cycles) -> Features:
    """``audio: none``: every cycle, ``x = [start, end, duration]`` in seconds."""
    x = np.stack([cycles.start, cycles.end, cycles.end - cycles.start], axis=1).astype(np.float32)
    extra = {"feature_names": ["start_s", "end_s", "duration_s"], "feature_shape": [3]}
    return Features(x, np.ones(len(cycles), dtype=bool), extra=extra)


def audio_features(cycles: Cycles, audio_dir: Path, options: FeatureOptions) -> Features:
    """The filterbank features of every cycle whose recording has a WAV file in ``audio_dir``.

    ``audio: required``: a recording without one is a DataError; ``optional``:
    its cycles are dropped (logged, and counted in ``dropped``).
    """
    from mtlsearch.data import audio as audio_mod

    keep = np.ones(len(cycles), dtype=bool)
    dropped = {"recordings": 0, "cycles": 0}
    recordings = list(dict.fromkeys(cycles.recording))
    wavs = find_audio(audio_dir, recordings)
    missing = [r for r in recordings if r not in wavs]
    if missing and options.audio == "required":
        raise DataError(
            f"{audio_dir}: no WAV file for {len(missing)} of {len(recordings)} annotated recordings "
            f"(e.g. {', '.join(missing[:5])}); set audio: optional to drop their cycles"
        )
    if missing:
        keep = ~np.isin(np.asarray(cycles.recording, dtype=object), missing)
        dropped = {"recordings": len(missing), "cycles": int((~keep).sum())}
        log.warning(
            "ICBHI: %d of %d recordings have no WAV file in %s; their %d cycles are dropped",
            len(missing),
            len(recordings),
            audio_dir,
            dropped["cycles"],
        )
    if not keep.any():
        raise DataError(f"{audio_dir}: none of the {len(recordings)} annotated recordings has a WAV file")
    frames = audio_mod.num_frames(int(round(options.cycle_seconds * options.sample_rate)), options.sample_rate)
    if frames == 0:
        raise DataError(f"cycle_seconds {options.cycle_seconds} is shorter than one 25 ms frame")
    dim = frames * options.num_mel_bins
    x = np.empty((int(keep.sum()), dim), dtype=np.float32)
    row_of = np.cumsum(keep) - 1
    by_recording: dict[str, list[int]] = defaultdict(list)
    for i in np.flatnonzero(keep):
        by_recording[cycles.recording[i]].append(int(i))
    for name, idx in by_recording.items():
        spans = [(cycles.start[i], cycles.end[i], cycles.annotation_file[i], cycles.line[i]) for i in idx]
        x[row_of[idx]] = cycle_features(wavs[name], spans, options)
    extra = dict(
        feature_shape=[frames, options.num_mel_bins],
        feature_layout="frames x mel bins, row-major (frame t, bin m at t * num_mel_bins + m)",
        sample_rate=options.sample_rate,
        cycle_seconds=options.cycle_seconds,
        padding=options.padding,
        fbank={
            "frame_length_ms": 25.0,
            "frame_shift_ms": 10.0,
            "window": "hanning",
            "preemphasis": 0.97,
            "dither": 0.0,
            "low_freq": 20.0,
            "high_freq": options.sample_rate / 2,
            "log": "natural",
        },
        normalization=(
            {"kind": "ast", "mean": audio_mod.AST_MEAN, "std": audio_mod.AST_STD, "formula": "(fbank - mean) / (2 * std)"}
            if options.normalization == "ast"
            else {"kind": "none"}
        ),
        fbank_backend=audio_mod.backend_name(),
        resample_backend=audio_mod.backend_name(),
        audio_files={name: wavs[name].name for name in by_recording if wavs[name].stem != name},
    )
    return Features(x, keep, dropped, extra)
