"""ICBHI 2017 loader: file names, annotation parsing, device-name mismatches, audio modes, splits, real counts and WAVs.

Fixture sources are written here (WAVs with soundfile at 44.1 kHz and 4 kHz,
16/24/32-bit PCM, plus annotation and metadata files in the ICBHI formats); the
real-data tests read ``$MTLSEARCH_DATA/icbhi`` (default ``../shared/data``) and
skip when it is absent.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile
from pydantic import ValidationError

from mtlsearch.data import audio
from mtlsearch.data.canonical import read_info, read_splits
from mtlsearch.data.icbhi import IcbhiOptions, icbhi_score
from mtlsearch.data.icbhi_cycles import carve_val, locate, read_cycles
from mtlsearch.data.icbhi_files import DEVICES, DIAGNOSES, LOCATIONS, parse_recording_name, read_annotation_file
from mtlsearch.data.registry import get_loader, loader_names, prepare
from mtlsearch.errors import DataError

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MTLSEARCH_DATA", REPO.parent / "shared" / "data"))
REAL = DATA / "icbhi"
REAL_WAVS = sorted((REAL / "wav").glob("*.wav")) if (REAL / "wav").is_dir() else []
needs_real_annotations = pytest.mark.skipif(
    not ((REAL / "annotations").is_dir() and (REAL / "meta" / "official_split.txt").is_file()),
    reason=f"real ICBHI annotations/meta not found under {REAL} (set MTLSEARCH_DATA)",
)
needs_real_wavs = pytest.mark.skipif(
    len(REAL_WAVS) != 10, reason=f"the 10 real ICBHI WAV files are not under {REAL / 'wav'} (set MTLSEARCH_DATA)"
)

FRAMES = 798


# ---------------------------------------------------------------- a fixture source


# recording (canonical name) -> (split, wav file name or None, rate, subtype, seconds, cycles "start end crackle wheeze")
RECORDINGS = {
    # the WAV carries the other distribution's device suffix (listed in filename_differences.txt)
    "101_1b1_Al_sc_Meditron": (
        "test",
        "101_1b1_Al_sc_AKGC417L.wav",
        44100,
        "PCM_32",
        3.0,
        ["0.1 1.0 0 0", "1.0 2.2 1 0", "2.2 2.9 0 1"],
    ),
    "102_1b1_Ar_sc_Meditron": ("test", "102_1b1_Ar_sc_Meditron.wav", 4000, "PCM_16", 2.5, ["0.0 1.2 1 1", "1.2 2.4 0 0"]),
    "103_2b2_Ar_mc_LittC2SE": ("train", "103_2b2_Ar_mc_LittC2SE.wav", 44100, "PCM_24", 2.0, ["0.05 0.9 0 1", "0.9 1.95 0 0"]),
    # a cycle longer than 8 s (cut), at 4 kHz
    "104_1b1_Ll_sc_Litt3200": ("train", "104_1b1_Ll_sc_Litt3200.wav", 4000, "PCM_16", 9.5, ["0.2 9.0 1 0", "9.0 9.4 0 0"]),
    "105_1b1_Tc_sc_Meditron": ("train", "105_1b1_Tc_sc_Meditron.wav", 44100, "PCM_16", 2.0, ["0.0 0.8 0 0", "0.8 1.9 1 0"]),
    "106_2b1_Pl_mc_AKGC417L": ("train", "106_2b1_Pl_mc_AKGC417L.wav", 4000, "PCM_16", 2.0, ["0.1 1.0 0 0", "1.0 1.9 0 0"]),
    "107_2b3_Pr_mc_AKGC417L": ("train", "107_2b3_Pr_mc_AKGC417L.wav", 44100, "PCM_16", 2.0, ["0.1 1.9 0 1"]),
    # the annotation carries the other distribution's name; the WAV and the split file the canonical one
    "226_1b1_Ll_sc_Meditron": ("train", "226_1b1_Ll_sc_Meditron.wav", 44100, "PCM_24", 2.0, ["0.3 1.5 1 0"]),
    # a patient whose demographics are all NA
    "223_1b1_Lr_sc_Meditron": ("test", "223_1b1_Lr_sc_Meditron.wav", 4000, "PCM_16", 2.0, ["0.0 1.0 0 0", "1.0 2.0 0 1"]),
}
ANNOTATION_NAMES = {"226_1b1_Ll_sc_Meditron": "226_1b1_Ll_sc_LittC2SE"}
DIAGNOSIS = {
    101: "URTI",
    102: "Healthy",
    103: "Asthma",
    104: "COPD",
    105: "URTI",
    106: "COPD",
    107: "COPD",
    223: "COPD",
    226: "Pneumonia",
}
DEMOGRAPHICS = """
101 3 F NA 19 99
102 0.75 F NA 9.8 73
103 70 F 33 NA NA
104 70 F 28.47 NA NA
105 7 F NA 32 135
106 73 F 21 NA NA
107 75 F 33.7 NA NA
223 NA NA NA NA NA
226 4 M NA 16.7 103
"""
DIFFERENCES = ["101_1b1_Al_sc_AKGC417L", "226_1b1_Ll_sc_LittC2SE", "201_1b1_Al_sc_LittC2SE"]


def tone(rate: int, seconds: float, seed: int) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    rng = np.random.default_rng(seed)
    return (0.4 * np.sin(2 * np.pi * (150 + 50 * seed) * t) + 0.05 * rng.standard_normal(len(t))).clip(-0.99, 0.99)


def make_icbhi(root: Path, *, flat: bool = False) -> Path:
    """An ICBHI source: ``annotations/``, ``wav/`` and ``meta/`` (or all in ``root`` when ``flat``)."""
    ann = root if flat else root / "annotations"
    wav = root if flat else root / "wav"
    meta = root if flat else root / "meta"
    for d in (ann, wav, meta):
        d.mkdir(parents=True, exist_ok=True)
    split_lines = []
    for k, (name, (split, wav_name, rate, subtype, seconds, cycles)) in enumerate(RECORDINGS.items()):
        split_lines.append(f"{name}\t{split}")
        (ann / f"{ANNOTATION_NAMES.get(name, name)}.txt").write_text("".join(c.replace(" ", "\t") + "\n" for c in cycles))
        if wav_name:
            soundfile.write(wav / wav_name, tone(rate, seconds, k), rate, subtype=subtype)
    (meta / "official_split.txt").write_text("\n".join(split_lines))  # no final newline, as the real file
    (meta / "patient_diagnosis.csv").write_text("ID,CLASS\n" + "".join(f"{p},{d}\n" for p, d in DIAGNOSIS.items()))
    (meta / "demographic_info.txt").write_text(DEMOGRAPHICS)
    (meta / "filename_differences.txt").write_text("".join(f"'{n}'\n" for n in DIFFERENCES))
    (meta / "filename_format.txt").write_text("Elements contained in the filenames: ...\n")
    return root


@pytest.fixture()
def source(tmp_path) -> Path:
    return make_icbhi(tmp_path / "icbhi")


def build(path: Path, cache: Path, **options):
    opts = IcbhiOptions(path=str(path), **options)
    table_path = prepare("icbhi", opts, cache)
    return read_info(table_path), pq.read_table(table_path), table_path


def by_recording(table, column: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for r, v in zip(table.column("recording").to_pylist(), table.column(column).to_pylist()):
        out.setdefault(r, []).append(v)
    return out


# ---------------------------------------------------------------- names and annotation files


def test_parse_recording_name():
    rec = parse_recording_name("226_1b1_Pl_sc_LittC2SE")
    assert (rec.patient, rec.index, rec.location, rec.mode, rec.device) == (226, "1b1", "Pl", "sc", "LittC2SE")
    assert rec.key == "226_1b1_Pl_sc" and rec.stem == "226_1b1_Pl_sc_LittC2SE"
    assert parse_recording_name("121_1p1_Tc_sc_Meditron").index == "1p1"
    for bad in (
        "226_1b1_Pl_sc",
        "226_1b1_Xx_sc_Meditron",
        "226_1b1_Pl_zz_Meditron",
        "226_1b1_Pl_sc_Stetho",
        "abc_1b1_Pl_sc_Meditron",
        "notes",
    ):
        with pytest.raises(DataError, match=f"some.txt: unknown ICBHI file name format '{bad}'"):
            parse_recording_name(bad, "some.txt")


@pytest.mark.parametrize(
    "line,message",
    [
        ("0.1\t0.5\t0", r"expected 'start end crackle wheeze' \(4 fields\), found 3"),
        ("0.1 0.5 0 0 1", r"\(4 fields\), found 5"),
        ("a 0.5 0 0", r"start and end must be numbers of seconds, found 'a'"),
        ("0.5 0.5 0 0", r"expected 0 <= start < end"),
        ("-1 0.5 0 0", r"expected 0 <= start < end"),
        ("0.1 nan 0 0", r"expected 0 <= start < end"),
        ("0.1 0.5 2 0", r"crackle and wheeze must be 0 or 1, found '2' and '0'"),
        ("0.1 0.5 0 yes", r"crackle and wheeze must be 0 or 1"),
    ],
)
def test_malformed_annotation_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "101_1b1_Al_sc_Meditron.txt"
    path.write_text(f"0.0\t0.1\t0\t0\n\n{line}\n")
    with pytest.raises(DataError, match=rf"101_1b1_Al_sc_Meditron\.txt:3: .*{message}"):
        read_annotation_file(path)


def test_annotation_parser(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("0.036\t0.579\t0\t0\n0.579 2.45 1 0\n\n2.45\t3.893\t0\t1\n3.893\t5.793\t1\t1\n")
    cycles = read_annotation_file(path)
    assert [(c.line, c.start, c.end, c.lung_sound) for c in cycles] == [
        (1, 0.036, 0.579, 0),
        (2, 0.579, 2.45, 1),
        (4, 2.45, 3.893, 2),
        (5, 3.893, 5.793, 3),
    ]
    path.write_text("\n\n")
    with pytest.raises(DataError, match="a.txt: the annotation file has no cycles"):
        read_annotation_file(path)


def test_unknown_file_name_in_the_annotation_folder(source, tmp_path):
    (source / "annotations" / "notes.txt").write_text("hello\n")
    with pytest.raises(DataError, match=r"notes\.txt: unknown ICBHI file name format 'notes'"):
        read_cycles(locate(str(source)))


def test_recording_missing_from_the_split_file(source):
    (source / "annotations" / "999_1b1_Al_sc_Meditron.txt").write_text("0 1 0 0\n")
    with pytest.raises(
        DataError, match=r"recording 999_1b1_Al_sc_Meditron is not in the official split file .*official_split\.txt"
    ):
        read_cycles(locate(str(source)))


def test_missing_meta_files_and_folder(source, tmp_path, monkeypatch):
    monkeypatch.delenv("ICBHI_NOWHERE", raising=False)
    with pytest.raises(DataError, match=r"environment variable \$ICBHI_NOWHERE is not set"):
        locate("$ICBHI_NOWHERE/icbhi")
    (source / "meta" / "demographic_info.txt").unlink()
    with pytest.raises(DataError, match=r"no ICBHI demographics file \(looked for demographic_info.txt"):
        locate(str(source))


# ---------------------------------------------------------------- the table from a fixture source


def test_fixture_table(source, tmp_path):
    info, table, path = build(source, tmp_path / "cache", val_fraction=0.3, seed=0)
    n = sum(len(v[5]) for v in RECORDINGS.values())
    assert table.num_rows == n == 17
    assert info.input_dim == FRAMES * 128 and info.extra["feature_shape"] == [FRAMES, 128]
    assert info.extra["sample_rate"] == 16000 and info.extra["cycle_seconds"] == 8.0 and info.extra["padding"] == "repeat"
    assert info.extra["fbank_backend"] == audio.backend_name()
    assert [t.name for t in info.tasks] == ["lung_sound", "disease", "diagnosis", "age_group", "sex", "chest_location", "device"]
    assert [t.role for t in info.tasks] == ["primary"] * 3 + ["auxiliary"] * 4
    assert info.task("lung_sound").metric == "icbhi_score" and info.task("lung_sound").classes == (
        "normal",
        "crackle",
        "wheeze",
        "both",
    )
    assert info.task("diagnosis").classes == DIAGNOSES and info.task("device").classes == DEVICES

    x = np.asarray(table.column("x").combine_chunks().values).reshape(table.num_rows, -1)
    assert x.shape == (17, FRAMES * 128) and np.isfinite(x).all()
    assert (x.std(axis=1) > 0).all()

    labels = {t: by_recording(table, t) for t in info.task_names}
    assert labels["lung_sound"]["101_1b1_Al_sc_Meditron"] == [0, 1, 2] and labels["lung_sound"]["102_1b1_Ar_sc_Meditron"] == [
        3,
        0,
    ]
    # the device comes from the canonical name, whatever the WAV or annotation file is called
    assert labels["device"]["101_1b1_Al_sc_Meditron"] == [DEVICES.index("Meditron")] * 3
    assert labels["device"]["226_1b1_Ll_sc_Meditron"] == [DEVICES.index("Meditron")]
    assert labels["device"]["104_1b1_Ll_sc_Litt3200"] == [DEVICES.index("Litt3200")] * 2
    assert info.extra["audio_files"] == {"101_1b1_Al_sc_Meditron": "101_1b1_Al_sc_AKGC417L.wav"}
    assert info.extra["renamed_recordings"] == {"226_1b1_Ll_sc_LittC2SE": "226_1b1_Ll_sc_Meditron"}
    assert labels["chest_location"]["226_1b1_Ll_sc_Meditron"] == [LOCATIONS.index("Ll")]
    assert labels["disease"]["102_1b1_Ar_sc_Meditron"] == [0, 0] and labels["disease"]["104_1b1_Ll_sc_Litt3200"] == [1, 1]
    assert labels["diagnosis"]["103_2b2_Ar_mc_LittC2SE"] == [DIAGNOSES.index("Asthma")] * 2
    assert labels["age_group"]["101_1b1_Al_sc_Meditron"][0] == 1 and labels["age_group"]["103_2b2_Ar_mc_LittC2SE"][0] == 0
    assert labels["sex"]["226_1b1_Ll_sc_Meditron"] == [0] and labels["sex"]["101_1b1_Al_sc_Meditron"][0] == 1
    assert labels["age_group"]["223_1b1_Lr_sc_Meditron"] == [-1, -1] and labels["sex"]["223_1b1_Lr_sc_Meditron"] == [-1, -1]

    # splits: official test recordings; val patients come from train only, and no patient is in two splits
    splits = by_recording(table, "split")
    assert {r for r, s in splits.items() if s[0] == "test"} == {r for r, v in RECORDINGS.items() if v[0] == "test"}
    patients = {s: set() for s in ("train", "val", "test")}
    for p, s in zip(table.column("patient").to_pylist(), table.column("split").to_pylist()):
        patients[s].add(p)
    assert patients["val"] and not (patients["val"] & patients["train"]) and not (patients["val"] & patients["test"])
    arrays = read_splits(path, info.task_names)
    assert sum(len(a.x) for a in arrays.values()) == 17

    # each row is the cycle cut from its own recording: recompute one (the 8.8 s cycle of 104, cut to 8 s)
    row = table.column("id").to_pylist().index("104_1b1_Ll_sc_Litt3200_c000")
    samples, rate = audio.read_audio(source / "wav" / "104_1b1_Ll_sc_Litt3200.wav")
    wave = audio.resample(samples, rate, 16000)
    piece = audio.fit_length(wave[int(0.2 * 16000) : int(9.0 * 16000)], 128000, "repeat", fade_samples=1000)
    expected = audio.ast_normalize(audio.kaldi_fbank(piece)).reshape(-1).numpy()
    np.testing.assert_allclose(x[row], expected, atol=1e-5)
    assert table.column("start").to_pylist()[row] == pytest.approx(0.2)


def test_zero_and_repeat_padding(source, tmp_path):
    _, zero, _ = build(source, tmp_path / "c1", padding="zero", normalization="none", tasks=["lung_sound"])
    _, rep, _ = build(source, tmp_path / "c2", padding="repeat", normalization="none", tasks=["lung_sound"])
    floor = np.log(np.finfo(np.float32).eps)
    for table, padded_is_silent in ((zero, True), (rep, False)):
        row = table.column("id").to_pylist().index("105_1b1_Tc_sc_Meditron_c000")  # a 0.8 s cycle
        x = np.asarray(table.column("x").combine_chunks().values).reshape(table.num_rows, FRAMES, 128)[row]
        assert np.isfinite(x).all()
        tail = x[200:]  # frames past 2 s: padding only
        assert np.allclose(tail, floor) == padded_is_silent


def test_audio_modes(source, tmp_path):
    (source / "wav" / "103_2b2_Ar_mc_LittC2SE.wav").unlink()
    with pytest.raises(
        DataError, match=r"no WAV file for 1 of 9 annotated recordings \(e\.g\. 103_2b2_Ar_mc_LittC2SE\); set audio: optional"
    ):
        build(source, tmp_path / "c1")
    info, table, _ = build(source, tmp_path / "c2", audio="optional")
    assert table.num_rows == 15 and info.extra["dropped"] == {"recordings": 1, "cycles": 2}
    assert "103_2b2_Ar_mc_LittC2SE" not in set(table.column("recording").to_pylist())
    info, table, _ = build(source, tmp_path / "c3", audio="none")
    assert table.num_rows == 17 and info.input_dim == 3 and info.extra["dropped"] == {"recordings": 0, "cycles": 0}
    x = np.asarray(table.column("x").combine_chunks().values).reshape(-1, 3)
    # float32: start, end and duration are rounded separately, ~1 ulp of the end time (1e-6 at 8–16 s)
    np.testing.assert_allclose(x[:, 2], x[:, 1] - x[:, 0], atol=1e-5)
    # the split does not depend on which WAV files are there
    assert by_recording(table, "split") == {
        **by_recording(build(source, tmp_path / "c4", audio="optional")[1], "split"),
        "103_2b2_Ar_mc_LittC2SE": by_recording(table, "split")["103_2b2_Ar_mc_LittC2SE"],
    }


def test_truncated_wav_is_named(source, tmp_path):
    wav = source / "wav" / "103_2b2_Ar_mc_LittC2SE.wav"
    wav.write_bytes(wav.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"103_2b2_Ar_mc_LittC2SE\.wav: truncated WAV file"):
        build(source, tmp_path / "cache")


def test_cycle_outside_its_recording_names_file_and_line(source, tmp_path):
    (source / "annotations" / "105_1b1_Tc_sc_Meditron.txt").write_text("0.0\t0.8\t0\t0\n5.0\t6.0\t0\t0\n")
    with pytest.raises(
        DataError,
        match=r"105_1b1_Tc_sc_Meditron\.txt:2: the cycle 5\.0-6\.0 s lies outside the recording .*105_1b1_Tc_sc_Meditron\.wav \(2\.000 s\)",
    ):
        build(source, tmp_path / "cache")


def test_flat_layout_of_the_challenge_zip(tmp_path):
    root = make_icbhi(tmp_path / "ICBHI_final_database", flat=True)
    info, table, _ = build(root, tmp_path / "cache", tasks=["lung_sound", "device"])
    assert table.num_rows == 17 and info.task_names == ["lung_sound", "device"]
    assert set(table.column_names) >= {"lung_sound", "device"} and "sex" not in table.column_names


def test_fingerprint_follows_the_data(source):
    loader = get_loader("icbhi")
    opts = IcbhiOptions(path=str(source))
    fp = loader.fingerprint(opts)
    assert fp == loader.fingerprint(IcbhiOptions(path=str(source)))
    assert fp != loader.fingerprint(IcbhiOptions(path=str(source), padding="zero"))
    (source / "annotations" / "105_1b1_Tc_sc_Meditron.txt").write_text("0.0\t0.8\t0\t0\n")
    assert fp != loader.fingerprint(opts)


def test_options_and_registry(source):
    assert "icbhi" in loader_names()
    loader = get_loader("icbhi")
    assert [t.name for t in loader.tasks(IcbhiOptions(path=str(source), tasks=["device", "lung_sound"]))] == [
        "lung_sound",
        "device",
    ]
    with pytest.raises(ValidationError, match="unknown ICBHI task"):
        IcbhiOptions(path=str(source), tasks=["lung"])
    with pytest.raises(ValidationError):
        IcbhiOptions(path=str(source), audio="maybe")
    with pytest.raises(ValidationError):
        IcbhiOptions(path=str(source), wav_dir="x")


def test_icbhi_score():
    true = np.array([0, 0, 0, 0, 1, 1, 2, 3])
    pred = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    assert icbhi_score(pred, true, 4) == pytest.approx((3 / 4 + 3 / 4) / 2)
    assert icbhi_score(true, true, 4) == 1.0
    assert icbhi_score(np.zeros(8, int), true, 4) == pytest.approx(0.5)  # all normal: Sp 1, Se 0
    assert icbhi_score(np.array([1, 1]), np.array([1, 1]), 2) == 1.0  # no normal examples: Se alone


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_cycles():
    return read_cycles(locate(str(REAL)))


@needs_real_annotations
def test_real_annotation_counts(real_cycles):
    c = real_cycles
    assert len(set(c.recording)) == 920 and len(set(c.patient.tolist())) == 126
    assert len(c) == 6898
    assert np.bincount(c.labels["lung_sound"]).tolist() == [3642, 1864, 886, 506]
    assert Counter(c.official_split.tolist()) == {"train": 4142, "test": 2756}
    train, test = c.official_split == "train", c.official_split == "test"
    # Tri-MTL Table I
    assert np.bincount(c.labels["lung_sound"][train]).tolist() == [2063, 1215, 501, 363]
    assert np.bincount(c.labels["lung_sound"][test]).tolist() == [1579, 649, 385, 143]
    assert np.bincount(c.labels["disease"][train]).tolist() == [147, 3995]
    assert np.bincount(c.labels["disease"][test]).tolist() == [175, 2581]
    assert Counter(c.patient_diagnosis.values()) == {
        "COPD": 64,
        "Healthy": 26,
        "URTI": 14,
        "Bronchiectasis": 7,
        "Pneumonia": 6,
        "Bronchiolitis": 6,
        "LRTI": 2,
        "Asthma": 1,
    }
    assert (c.labels["diagnosis"] >= 0).all() and (c.labels["chest_location"] >= 0).all() and (c.labels["device"] >= 0).all()
    # patient 223 has no demographics: its 61 cycles have no age group or sex
    assert ((c.labels["age_group"] == -1) == (c.patient == 223)).all() and ((c.labels["sex"] == -1) == (c.patient == 223)).all()
    assert c.renamed == {}  # the annotations here already use the split file's names


@needs_real_annotations
def test_real_val_split_is_patient_disjoint_and_seeded(real_cycles):
    c = real_cycles
    split = carve_val(c, 0.1, seed=0)
    patients = {s: set(c.patient[split == s].tolist()) for s in ("train", "val", "test")}
    assert patients["val"] and not patients["val"] & (patients["train"] | patients["test"])
    assert patients["train"] & patients["test"] == {156, 218}  # the official split puts these two on both sides
    assert Counter(split.tolist())["test"] == 2756
    assert 0.05 * 4142 < (split == "val").sum() <= 0.1 * 4142
    assert set(c.labels["disease"][split == "val"].tolist()) == {0, 1}
    assert (carve_val(c, 0.1, seed=0) == split).all() and not (carve_val(c, 0.1, seed=1) == split).all()


@needs_real_wavs
@needs_real_annotations
def test_real_wavs_give_16k_8s_cycles(tmp_path):
    for wav in REAL_WAVS:
        samples, rate = audio.read_audio(wav)
        assert rate in (44100, 4000) and np.isfinite(samples).all()
        assert audio.resample(samples, rate, 16000).shape[-1] == -(-len(samples) * 16000 // rate)
    t0 = time.perf_counter()
    info, table, _ = build(REAL, tmp_path / "cache", audio="optional")
    seconds = time.perf_counter() - t0
    stems = {w.stem for w in REAL_WAVS}
    assert set(table.column("recording").to_pylist()) == stems
    expected = sum(len(read_annotation_file(REAL / "annotations" / f"{s}.txt")) for s in stems)
    assert table.num_rows == expected == 97
    assert info.extra["dropped"] == {"recordings": 910, "cycles": 6898 - 97}
    assert info.extra["feature_shape"] == [FRAMES, 128] and info.extra["sample_rate"] == 16000
    x = np.asarray(table.column("x").combine_chunks().values).reshape(table.num_rows, FRAMES, 128)
    assert np.isfinite(x).all() and (x.reshape(len(x), -1).std(axis=1) > 0).all()
    print(
        f"\n10 real ICBHI WAVs: {table.num_rows} cycles of {FRAMES}x128 built in {seconds:.2f} s ({info.extra['fbank_backend']} fbank)"
    )


@needs_real_wavs
@needs_real_annotations
def test_real_wav_under_the_other_device_name(tmp_path):
    """101_1b1_Al_sc_AKGC417L (filename_differences.txt) is the Meditron recording 101_1b1_Al_sc_Meditron."""
    wav_dir = tmp_path / "wav"
    wav_dir.mkdir()
    shutil.copy(REAL / "wav" / "101_1b1_Al_sc_Meditron.wav", wav_dir / "101_1b1_Al_sc_AKGC417L.wav")
    assert "101_1b1_Al_sc_AKGC417L" in (REAL / "meta" / "filename_differences.txt").read_text()
    opts = IcbhiOptions(path=str(REAL), audio_dir=str(wav_dir), audio="optional", tasks=["lung_sound", "device"])
    table = pq.read_table(prepare("icbhi", opts, tmp_path / "cache"))
    info = read_info(prepare("icbhi", opts, tmp_path / "cache"))
    assert set(table.column("recording").to_pylist()) == {"101_1b1_Al_sc_Meditron"}
    assert set(table.column("device").to_pylist()) == {DEVICES.index("Meditron")}
    assert info.extra["audio_files"] == {"101_1b1_Al_sc_Meditron": "101_1b1_Al_sc_AKGC417L.wav"}
    assert table.num_rows == len(read_annotation_file(REAL / "annotations" / "101_1b1_Al_sc_Meditron.txt"))
