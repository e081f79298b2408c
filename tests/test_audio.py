"""Audio helpers: WAV reading (16/24/32-bit, 44.1/4 kHz), truncation errors, resampling, fixed length, Kaldi fbank.

The plain-torch resampler and filterbank are checked against values computed
once with torchaudio 2.11.0 (``torchaudio.functional.resample`` and
``torchaudio.compliance.kaldi.fbank`` with the AST settings), and against
torchaudio itself when it imports here.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from mtlsearch.data import audio
from mtlsearch.errors import DataError

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MTLSEARCH_DATA", REPO.parent / "shared" / "data"))
REAL_WAV = DATA / "icbhi" / "wav" / "101_1b1_Al_sc_Meditron.wav"

TORCHAUDIO_OK, TORCHAUDIO_WHY = audio.torchaudio_status()
needs_torchaudio = pytest.mark.skipif(not TORCHAUDIO_OK, reason=f"torchaudio cannot be imported here: {TORCHAUDIO_WHY}")


def signal(sr: int, n: int, top: int) -> np.ndarray:
    """A 440 Hz tone, a chirp and a comb of small tones every 50 Hz below ``top`` Hz (energy in every mel bin)."""
    t = np.arange(n) / sr
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.sin(2 * np.pi * (100 + 0.4 * top * t / t[-1]) * t)
    for k, f in enumerate(range(50, top, 50)):
        x += 0.01 * np.sin(2 * np.pi * f * t + 0.7 * k)
    return x.astype(np.float32)


# torchaudio 2.11.0: kaldi.fbank(signal(16000, 4000, 8000)[None], htk_compat=True, use_energy=False,
# window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)[::4, ::8]
GOLDEN_FBANK = np.array(
    [
        [
            -6.3070,
            -4.8620,
            -3.2264,
            2.6940,
            -2.2474,
            -2.1809,
            -1.4540,
            -0.8447,
            -0.4099,
            0.2560,
            0.7301,
            1.2384,
            1.6806,
            2.1004,
            2.4772,
            2.7869,
        ],
        [
            -6.7624,
            -5.2606,
            -4.8182,
            2.4820,
            -2.9842,
            -2.1867,
            -1.6572,
            0.2090,
            -0.3446,
            0.2561,
            0.7301,
            1.2384,
            1.6806,
            2.1004,
            2.4772,
            2.7869,
        ],
        [
            -6.6907,
            -5.2894,
            -5.6465,
            2.4905,
            -2.9667,
            -2.1870,
            -1.4544,
            -0.8446,
            -0.4103,
            0.7452,
            0.9811,
            1.2382,
            1.6806,
            2.1004,
            2.4772,
            2.7869,
        ],
        [
            -6.7533,
            -5.2901,
            -4.7581,
            2.5922,
            -2.8985,
            -2.1875,
            -1.4550,
            -0.8445,
            -0.4100,
            0.2560,
            0.7302,
            2.0645,
            1.6820,
            2.1004,
            2.4772,
            2.7869,
        ],
        [
            -6.7180,
            -5.2602,
            -5.3058,
            2.4130,
            -3.0313,
            -2.1843,
            -1.4543,
            -0.8445,
            -0.4099,
            0.2560,
            0.7301,
            1.2384,
            1.6804,
            1.5345,
            2.4772,
            2.7869,
        ],
        [
            -6.7348,
            -5.3083,
            -5.1565,
            2.5968,
            -2.8876,
            -2.1889,
            -1.4548,
            -0.8447,
            -0.4099,
            0.2560,
            0.7301,
            1.2384,
            1.6806,
            2.1005,
            4.0382,
            2.7869,
        ],
    ]
)
# torchaudio 2.11.0: functional.resample(signal(44100, 2205, 20000), 44100, 16000)[::50]
GOLDEN_44K = np.array(
    [
        0.016705,
        0.183642,
        -0.330643,
        0.216427,
        0.049497,
        -0.259183,
        0.367710,
        -0.242148,
        -0.000993,
        0.217916,
        -0.299016,
        0.208982,
        -0.088247,
        -0.201037,
        0.306080,
        -0.208412,
    ]
)
# torchaudio 2.11.0: functional.resample(signal(4000, 400, 2000), 4000, 16000)[::100]
GOLDEN_4K = np.array(
    [
        0.017664,
        -0.311538,
        -0.007579,
        0.269069,
        -0.001594,
        -0.306965,
        -0.149437,
        0.258597,
        0.012454,
        -0.297659,
        -0.017273,
        0.257901,
        -0.047125,
        -0.269747,
        0.040296,
        0.268562,
    ]
)


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize(
    "rate,subtype,bits", [(44100, "PCM_16", 16), (44100, "PCM_24", 24), (44100, "PCM_32", 32), (4000, "PCM_16", 16)]
)
def test_read_audio_pcm_formats(tmp_path, rate, subtype, bits):
    x = 0.5 * np.sin(2 * np.pi * 300 * np.arange(rate // 2) / rate)
    path = tmp_path / f"tone_{rate}_{bits}.wav"
    soundfile.write(path, x, rate, subtype=subtype)
    assert soundfile.info(str(path)).subtype == subtype
    y, sr = audio.read_audio(path)
    assert sr == rate and y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() <= max(2.0 ** -(bits - 1), 2.0**-24) * 1.01  # one quantisation step (or float32 rounding)


def test_read_audio_averages_channels(tmp_path):
    left = np.linspace(-0.5, 0.5, 800)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, 0.5 * left], axis=1), 8000, subtype="PCM_24")
    y, _ = audio.read_audio(path)
    np.testing.assert_allclose(y, 0.75 * left, atol=1e-6)


def test_read_audio_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"missing\.wav: audio file not found"):
        audio.read_audio(tmp_path / "missing.wav")

    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(DataError, match=r"garbage\.wav"):
        audio.read_audio(garbage)

    tiny = tmp_path / "tiny.wav"
    tiny.write_bytes(b"RIFF")
    with pytest.raises(DataError, match=r"tiny\.wav: truncated WAV file"):
        audio.read_audio(tiny)

    # a file cut short: its data chunk declares more bytes than follow (libsndfile alone reads the rest silently)
    good = tmp_path / "good.wav"
    soundfile.write(good, np.zeros(44100), 44100, subtype="PCM_24")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[: 44 + 3 * 20000])
    with pytest.raises(
        DataError, match=r"cut\.wav: truncated WAV file: its data chunk declares 132300 bytes but only 60000 follow"
    ):
        audio.read_audio(cut)

    no_data = tmp_path / "no_data.wav"
    no_data.write_bytes(good.read_bytes()[:36])  # RIFF header and fmt chunk only
    with pytest.raises(DataError, match=r"no_data\.wav: truncated WAV file: no data chunk"):
        audio.read_audio(no_data)


# ---------------------------------------------------------------- resampling


@pytest.mark.parametrize("rate", [44100, 4000, 48000, 22050])
def test_resample_length_and_tone(rate):
    n = 2 * rate + 7
    x = np.sin(2 * np.pi * 440 * np.arange(n) / rate).astype(np.float32)
    y = audio.resample(x, rate, 16000, backend="torch").numpy()
    assert len(y) == math.ceil(n * 16000 / rate)
    ref = np.sin(2 * np.pi * 440 * np.arange(len(y)) / 16000)
    assert np.abs(y - ref)[200:-200].max() < 2e-3  # edges see the zero padding


def test_resample_identity_and_bad_rates():
    x = np.arange(10, dtype=np.float32)
    assert torch.equal(audio.resample(x, 16000, 16000), torch.arange(10, dtype=torch.float32))
    with pytest.raises(ValueError):
        audio.resample(x, 0, 16000)


def test_torch_resampler_matches_torchaudio_reference_values():
    y44 = audio.resample(signal(44100, 2205, 20000), 44100, 16000, backend="torch").numpy()
    y4 = audio.resample(signal(4000, 400, 2000), 4000, 16000, backend="torch").numpy()
    assert y44.shape == (800,) and y4.shape == (1600,)
    np.testing.assert_allclose(y44[::50], GOLDEN_44K, atol=1e-5)
    np.testing.assert_allclose(y4[::100], GOLDEN_4K, atol=1e-5)


# ---------------------------------------------------------------- fixed length


def test_fit_length():
    x = torch.arange(1, 5, dtype=torch.float32)  # 1 2 3 4
    assert audio.fit_length(x, 3).tolist() == [1, 2, 3]  # cut: keeps the start
    assert audio.fit_length(x, 7, "zero").tolist() == [1, 2, 3, 4, 0, 0, 0]  # zeros at the end
    assert audio.fit_length(x, 10, "repeat").tolist() == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]
    faded = audio.fit_length(x, 10, "repeat", fade_samples=3).tolist()
    assert faded[:7] == [1, 2, 3, 4, 1, 2, 3] and faded[7:] == pytest.approx([4.0, 0.5, 0.0])
    assert audio.fit_length(x, 4, "repeat", fade_samples=3).tolist() == [1, 2, 3, 4]  # no padding, no fade
    with pytest.raises(ValueError):
        audio.fit_length(torch.zeros(0), 4)


# ---------------------------------------------------------------- filterbanks


def test_fbank_shape_of_an_8s_cycle():
    assert audio.num_frames(128000, 16000) == 798
    fb = audio.kaldi_fbank(np.random.default_rng(0).normal(0, 0.1, 128000).astype(np.float32), backend="torch")
    assert fb.shape == (798, 128) and fb.dtype == torch.float32 and torch.isfinite(fb).all()
    assert audio.kaldi_fbank(np.zeros(399, np.float32), backend="torch").shape == (0, 128)
    silent = audio.kaldi_fbank(np.zeros(16000, np.float32), backend="torch")
    assert torch.allclose(silent, torch.full_like(silent, math.log(torch.finfo(torch.float32).eps)))


def test_fbank_tone_lands_in_its_mel_bin():
    t = np.arange(16000) / 16000
    fb = audio.kaldi_fbank(np.sin(2 * np.pi * 1000 * t).astype(np.float32), backend="torch")
    peak = int(fb.mean(0).argmax())
    banks = audio.mel_banks(128, 512, 16000.0)
    freqs = np.arange(257) * 16000 / 512
    center = float((banks[peak].numpy() * freqs).sum() / banks[peak].numpy().sum())
    assert abs(center - 1000) < 40


def test_torch_fbank_matches_torchaudio_reference_values():
    fb = audio.kaldi_fbank(signal(16000, 4000, 8000), backend="torch")
    assert fb.shape == (23, 128)
    np.testing.assert_allclose(fb[::4, ::8].numpy(), GOLDEN_FBANK, atol=2e-3)


def test_ast_normalize():
    fb = torch.tensor([audio.AST_MEAN, audio.AST_MEAN + 2 * audio.AST_STD])
    assert audio.ast_normalize(fb).tolist() == pytest.approx([0.0, 1.0])


def test_auto_backend_follows_torchaudio():
    assert audio.backend_name("auto") == ("torchaudio" if TORCHAUDIO_OK else "torch")
    assert audio.backend_name("torch") == "torch"
    if not TORCHAUDIO_OK:
        with pytest.raises(RuntimeError, match="torchaudio cannot be imported"):
            audio.kaldi_fbank(np.zeros(1000, np.float32), backend="torchaudio")


@needs_torchaudio
def test_torchaudio_and_torch_paths_agree():
    rng = np.random.default_rng(1)
    for rate in (44100, 4000):
        x = (0.2 * rng.standard_normal(rate * 3)).astype(np.float32)
        a = audio.resample(x, rate, 16000, backend="torchaudio")
        b = audio.resample(x, rate, 16000, backend="torch")
        assert a.shape == b.shape and (a - b).abs().max() < 1e-5
    x = signal(16000, 128000, 8000)
    a = audio.kaldi_fbank(x, backend="torchaudio")
    b = audio.kaldi_fbank(x, backend="torch")
    assert a.shape == b.shape == (798, 128) and (a - b).abs().max() < 2e-3
    z = np.concatenate([x[:40000], np.zeros(88000, np.float32)])  # zero padding: the log floor must agree too
    assert (audio.kaldi_fbank(z, backend="torchaudio") - audio.kaldi_fbank(z, backend="torch")).abs().max() < 2e-3


@needs_torchaudio
@pytest.mark.skipif(not REAL_WAV.is_file(), reason=f"real ICBHI WAV not found at {REAL_WAV} (set MTLSEARCH_DATA)")
def test_torchaudio_and_torch_paths_agree_on_a_real_recording():
    x, rate = audio.read_audio(REAL_WAV)
    a = audio.kaldi_fbank(audio.resample(x, rate, 16000, backend="torchaudio"), backend="torchaudio")
    b = audio.kaldi_fbank(audio.resample(x, rate, 16000, backend="torch"), backend="torch")
    assert a.shape == b.shape and (a - b).abs().max() < 2e-3
