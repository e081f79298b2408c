"""Audio for the sound loaders: reading WAV files, resampling, fixed-length cycles, Kaldi log-mel filterbanks.

Reading
    :func:`read_audio` reads a file with ``soundfile`` (libsndfile) as float32 in
    [-1, 1] (16/24/32-bit PCM are scaled by 2^15/2^23/2^31, as ``torchaudio.load``
    does) and averages the channels to mono. A RIFF/WAVE file is first checked
    for truncation (libsndfile silently reads what is there when a ``data``
    chunk declares more bytes than the file holds); a missing, unreadable or
    truncated file is a :class:`~mtlsearch.errors.DataError` naming it.

Resampling and filterbanks: two implementations each
    ``torchaudio.functional.resample`` and ``torchaudio.compliance.kaldi.fbank``
    are used when ``torchaudio`` imports. Its PyPI wheel is a CUDA build whose
    compiled extensions do not load beside a CPU ``torch`` (the import raises),
    so each has a plain-torch twin here computing the same thing:

    * :func:`resample`: band-limited windowed-sinc interpolation (Hann window,
      6 zero crossings, roll-off 0.99 of the lower Nyquist frequency), applied
      as a strided polyphase convolution; output length ``ceil(n · new / orig)``;
    * :func:`kaldi_fbank`: Kaldi's ``compute-fbank-feats`` as the Audio
      Spectrogram Transformer (AST) and its ICBHI recipes call it: 25 ms frames
      every 10 ms with no frame reaching past the end (``snip_edges``), no dither,
      DC offset removed per frame, pre-emphasis 0.97, symmetric Hann window,
      zero-padded to a power-of-two FFT, power spectrum, triangular mel bins
      (mel = 1127 ln(1 + f/700)) from 20 Hz to the Nyquist frequency, natural
      log floored at float32 epsilon.

    ``backend="auto"`` picks torchaudio when it imports and the torch twin
    otherwise; both agree to float32 rounding (tests compare them, and the torch
    twin against values computed once with torchaudio 2.11).

An 8 s cycle at 16 kHz gives ``1 + (128000 - 400) // 160 = 798`` frames.
"""

from __future__ import annotations

import functools
import math
import os
import struct
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from mtlsearch.data.audio_options import num_frames  # noqa: F401  (torch-free; re-exported)
from mtlsearch.errors import DataError

Backend = Literal["auto", "torchaudio", "torch"]
Padding = Literal["repeat", "zero"]

# AST's input normalisation (AudioSet statistics of these filterbanks; the AST and patch-mix ICBHI recipes use them):
# x -> (x - mean) / (2 * std)
AST_MEAN = -4.2677393
AST_STD = 4.5689974

_FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


# ---------------------------------------------------------------- torchaudio, when it imports


@functools.lru_cache(maxsize=1)
def _torchaudio():
    """``(module, None)`` when torchaudio's resample and kaldi fbank import, else ``(None, reason)``."""
    try:
        import torchaudio.compliance.kaldi  # noqa: F401
        import torchaudio.functional  # noqa: F401
    except Exception as e:  # ImportError, or OSError from a compiled extension built for another torch
        return None, f"{type(e).__name__}: {e}"
    import torchaudio

    return torchaudio, None


def torchaudio_status() -> tuple[bool, str]:
    """Whether torchaudio is usable here, and its version or the reason it is not."""
    module, reason = _torchaudio()
    return (True, str(module.__version__)) if module is not None else (False, reason)


def _pick(backend: Backend) -> str:
    if backend == "auto":
        return "torchaudio" if _torchaudio()[0] is not None else "torch"
    if backend == "torchaudio" and _torchaudio()[0] is None:
        raise RuntimeError(f"torchaudio cannot be imported here ({_torchaudio()[1]})")
    if backend not in ("torchaudio", "torch"):
        raise ValueError(f"unknown backend {backend!r}")
    return backend


def backend_name(backend: Backend = "auto") -> str:
    """The implementation ``backend`` resolves to: ``torchaudio`` or ``torch``."""
    return _pick(backend)


# ---------------------------------------------------------------- reading


def check_wav_complete(path: Path) -> None:
    """Raise a DataError if a RIFF/WAVE file is cut short (its ``data`` chunk declares more bytes than follow).

    Files that are not RIFF/WAVE are left to libsndfile.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12:
            raise DataError(f"{path}: truncated WAV file: {size} bytes, shorter than a RIFF header")
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # RF64, AIFF, ...: libsndfile checks these
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                available = size - pos - 8
                if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > available:
                    raise DataError(
                        f"{path}: truncated WAV file: its data chunk declares {chunk_size} bytes but only {available} follow"
                    )
                return
            pos += 8 + chunk_size + (chunk_size & 1)
    raise DataError(f"{path}: truncated WAV file: no data chunk")


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of an audio file (WAV, FLAC, ...)."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: audio file not found")
    if path.suffix.lower() == ".wav":
        check_wav_complete(path)
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile.LibsndfileError (a RuntimeError), or a format it cannot parse
        raise DataError(f"{path}: cannot read the audio file ({e})") from None
    if data.shape[0] == 0:
        raise DataError(f"{path}: the audio file holds no samples")
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


# ---------------------------------------------------------------- resampling


@functools.lru_cache(maxsize=8)
def _sinc_kernels(orig: int, new: int, dtype: torch.dtype, zeros: int = 6, rolloff: float = 0.99) -> tuple[torch.Tensor, int]:
    """Polyphase filters for ``orig`` -> ``new`` (both already divided by their gcd): shape (new, 1, 2·width + orig).

    Output sample ``j`` (of each block of ``new``) is ``sum_i x[i] h(i/orig - j/new)`` with ``h`` a
    Hann-windowed sinc low-pass at ``rolloff · min(orig, new) / 2`` cycles per sample, cut after
    ``zeros`` zero crossings.
    """
    cutoff = min(orig, new) * rolloff
    width = math.ceil(zeros * orig / cutoff)
    taps = torch.arange(-width, width + orig, dtype=dtype) / orig
    phases = torch.arange(0, -new, -1, dtype=dtype)[:, None] / new
    t = ((phases + taps[None, :]) * cutoff).clamp(-zeros, zeros)
    window = torch.cos(t * (math.pi / zeros / 2)) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones((), dtype=dtype), torch.sin(t) / t)
    return (sinc * window * (cutoff / orig))[:, None, :], width


def _resample_torch(wave: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    g = math.gcd(orig_sr, new_sr)
    orig, new = orig_sr // g, new_sr // g
    kernels, width = _sinc_kernels(orig, new, wave.dtype)
    lead = wave.shape[:-1]
    x = wave.reshape(-1, wave.shape[-1])
    n = x.shape[-1]
    x = torch.nn.functional.pad(x, (width, width + orig))
    y = torch.nn.functional.conv1d(x[:, None, :], kernels, stride=orig)  # (batch, new, blocks)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)[:, : math.ceil(new * n / orig)]
    return y.reshape(*lead, y.shape[-1])


def resample(wave: np.ndarray | torch.Tensor, orig_sr: int, new_sr: int, backend: Backend = "auto") -> torch.Tensor:
    """Resample a float waveform (``(..., time)``) from ``orig_sr`` to ``new_sr`` Hz (integers)."""
    x = torch.as_tensor(wave, dtype=torch.float32)
    if int(orig_sr) != orig_sr or int(new_sr) != new_sr or orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive integers, got {orig_sr} and {new_sr}")
    if orig_sr == new_sr:
        return x
    if _pick(backend) == "torchaudio":
        return _torchaudio()[0].functional.resample(x, int(orig_sr), int(new_sr))
    return _resample_torch(x, int(orig_sr), int(new_sr))


# ---------------------------------------------------------------- fixed length


def fit_length(wave: torch.Tensor, length: int, padding: Padding = "repeat", fade_samples: int = 0) -> torch.Tensor:
    """Cut a 1-D waveform to ``length`` samples (keeping the start) or pad it to ``length``.

    ``zero``: zeros appended at the end. ``repeat``: the cycle is tiled until it
    fills ``length`` and the last ``fade_samples`` fade out linearly to zero (the
    patch-mix / SG-SCL ICBHI recipe, with ``fade_samples = rate / 16``). An empty
    waveform cannot be padded (ValueError).
    """
    n = wave.shape[-1]
    if n >= length:
        return wave[..., :length]
    if n == 0:
        raise ValueError("cannot pad an empty waveform")
    if padding == "zero":
        return torch.nn.functional.pad(wave, (0, length - n))
    if padding != "repeat":
        raise ValueError(f"unknown padding {padding!r}")
    out = wave.repeat(*([1] * (wave.dim() - 1)), math.ceil(length / n))[..., :length].clone()
    k = min(fade_samples, length)
    if k > 0:
        out[..., length - k :] *= torch.linspace(1.0, 0.0, k, dtype=out.dtype)
    return out


# ---------------------------------------------------------------- Kaldi filterbanks


def _mel(f):
    return 1127.0 * torch.log(1.0 + f / 700.0) if isinstance(f, torch.Tensor) else 1127.0 * math.log(1.0 + f / 700.0)


@functools.lru_cache(maxsize=8)
def mel_banks(num_bins: int, nfft: int, sample_rate: float, low_freq: float = 20.0, high_freq: float = 0.0) -> torch.Tensor:
    """Kaldi's triangular mel filters as a (num_bins, nfft//2 + 1) float32 matrix (the Nyquist column is zero)."""
    nyquist = 0.5 * sample_rate
    high = high_freq + nyquist if high_freq <= 0 else high_freq
    if not (0.0 <= low_freq < nyquist and 0.0 < high <= nyquist and low_freq < high) or num_bins <= 3:
        raise ValueError(f"bad mel options: {num_bins} bins from {low_freq} to {high} Hz at {sample_rate} Hz")
    mel_low, mel_high = _mel(low_freq), _mel(high)
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins, dtype=torch.float64)[:, None]
    left, center, right = mel_low + b * delta, mel_low + (b + 1) * delta, mel_low + (b + 2) * delta
    mel = _mel(sample_rate / nfft * torch.arange(nfft // 2, dtype=torch.float64))[None, :]
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = torch.clamp(torch.minimum(up, down), min=0.0)
    return torch.nn.functional.pad(banks, (0, 1)).to(torch.float32)


def _fbank_torch(
    wave: torch.Tensor, sample_rate: int, num_mel_bins: int, frame_length_ms: float, frame_shift_ms: float
) -> torch.Tensor:
    size = int(sample_rate * frame_length_ms * 0.001)
    shift = int(sample_rate * frame_shift_ms * 0.001)
    nfft = 1 << (size - 1).bit_length()
    frames_n = num_frames(wave.shape[-1], sample_rate, frame_length_ms, frame_shift_ms)
    if frames_n == 0:
        return torch.empty(*wave.shape[:-1], 0, num_mel_bins)
    frames = wave.unfold(-1, size, shift)[..., :frames_n, :]  # (..., frames, size), a view
    frames = frames - frames.mean(dim=-1, keepdim=True)  # remove DC offset
    previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)  # pre-emphasis, first sample against itself
    frames = frames - 0.97 * previous
    frames = frames * torch.hann_window(size, periodic=False, dtype=frames.dtype)
    spectrum = torch.view_as_real(torch.fft.rfft(frames, n=nfft))  # zero-padded to nfft
    power = spectrum.pow(2).sum(-1)
    energies = power @ mel_banks(num_mel_bins, nfft, float(sample_rate)).T
    return torch.clamp(energies, min=_FLOAT32_EPS).log()


def kaldi_fbank(
    wave: np.ndarray | torch.Tensor,
    sample_rate: int = 16000,
    num_mel_bins: int = 128,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
    backend: Backend = "auto",
) -> torch.Tensor:
    """Log-mel filterbank energies (``(..., frames, num_mel_bins)``, float32) of waveforms (``(..., time)``) in [-1, 1]."""
    x = torch.as_tensor(wave, dtype=torch.float32)
    if _pick(backend) == "torch":
        return _fbank_torch(x, int(sample_rate), num_mel_bins, frame_length_ms, frame_shift_ms)
    kaldi = _torchaudio()[0].compliance.kaldi
    flat = x.reshape(-1, x.shape[-1])
    if flat.shape[-1] < int(sample_rate * frame_length_ms * 0.001) or flat.shape[0] == 0:
        return torch.empty(*x.shape[:-1], 0, num_mel_bins)
    out = [
        kaldi.fbank(
            w[None, :],
            htk_compat=True,
            sample_frequency=float(sample_rate),
            use_energy=False,
            window_type="hanning",
            num_mel_bins=num_mel_bins,
            dither=0.0,
            frame_length=frame_length_ms,
            frame_shift=frame_shift_ms,
        )
        for w in flat
    ]
    return torch.stack(out).reshape(*x.shape[:-1], *out[0].shape)


def ast_normalize(fbank: torch.Tensor) -> torch.Tensor:
    """AST's input scaling: ``(fbank - mean) / (2 · std)`` with its AudioSet statistics."""
    return (fbank - AST_MEAN) / (2.0 * AST_STD)
