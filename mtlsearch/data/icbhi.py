"""ICBHI 2017 respiratory sound database: one example per annotated breathing cycle.

Source layout (``path`` may use ``~``, ``$VAR`` and ``${VAR}``)
    ``annotations_dir``: one ``<stem>.txt`` per recording, a line
    ``start end crackle wheeze`` per breathing cycle (seconds, 0/1 flags,
    tab- or space-separated); ``<stem>`` is
    ``patient_recordingindex_chestlocation_acquisitionmode_device`` (e.g.
    ``101_1b1_Al_sc_Meditron``). ``audio_dir``: ``<stem>.wav``. ``meta_dir``:
    ``official_split.txt`` (``<stem> train|test``), ``patient_diagnosis.txt``
    (or ``.csv``), ``demographic_info.txt`` (``patient age sex adult_BMI
    child_weight child_height``, ``NA`` for missing) and, optionally,
    ``filename_differences.txt``. By default the three folders are
    ``<path>/annotations``, ``<path>/wav`` and ``<path>/meta`` where these
    exist, else ``path`` itself (the challenge zip keeps ``.wav`` and ``.txt``
    side by side); a relative folder option is taken relative to ``path``.
    ``path`` may also be a ``.zip`` or ``.tar(.gz)`` archive of that layout
    (the challenge's ``ICBHI_final_database.zip``): it is unpacked once into
    the user cache (:mod:`mtlsearch.data.unpack`) and read from there, and
    relative folder options are then taken inside the unpacked folder, so give
    ``meta_dir`` as an absolute path (or ``${VAR}/...``) when the metadata
    files are outside the archive.

File names and device labels
    Recordings are keyed by ``patient_index_location_mode`` (unique in ICBHI).
    The name listed in the official split file is the recording's canonical
    name: 91 recordings were distributed under another device suffix too
    (``filename_differences.txt`` lists those names, e.g.
    ``226_1b1_Al_sc_LittC2SE`` for ``226_1b1_Al_sc_Meditron``, the name the
    split file uses). An annotation or WAV file under either name is matched
    to its recording, and the ``device`` label always comes from the canonical
    name.

Examples
    Each cycle is cut from its recording after resampling to ``sample_rate``
    (16 kHz) and brought to ``cycle_seconds`` (8 s): longer cycles keep their
    first 8 s; shorter ones are padded by ``padding``: ``repeat`` (default) tiles
    the cycle and fades out the last 1/16 s linearly, as the patch-mix / SG-SCL
    code that Tri-MTL follows does ("all recordings standardized to 8 s at 16 kHz"
    in the paper); ``zero`` appends zeros at the end. The input column ``x`` holds
    the Kaldi log-mel filterbanks (:func:`mtlsearch.data.audio.kaldi_fbank`: 25 ms
    windows every 10 ms, ``num_mel_bins`` = 128, as AST expects), frames × mel
    bins flattened row-major (798 × 128 for 8 s), scaled with AST's statistics
    when ``normalization`` is ``ast``. ``info.extra["feature_shape"]`` gives
    the shape. Extra columns: ``recording`` (canonical name), ``patient``,
    ``start`` and ``end`` (seconds).

``audio``
    ``required``: every annotated recording needs its WAV file (a DataError lists
    the missing ones). ``optional``: cycles of recordings with no WAV file are
    dropped, with their count logged and kept in ``info.extra["dropped"]``.
    ``none``: annotations only (counting, metadata): no audio is read, every
    cycle is kept and ``x`` is just ``[start, end, duration]`` in seconds; such
    a table is not meant for training a sound model.

Tasks (labels ``-1`` where unknown)
    ``lung_sound`` (normal / crackle / wheeze / both; ICBHI score), ``disease``
    (healthy / unhealthy; ICBHI score, i.e. the mean of the healthy and unhealthy
    recalls) and ``diagnosis`` (the 8 diagnoses; macro F1) are primary; the
    metadata attributes used by Tri-MTL are auxiliary tasks scored by accuracy:
    ``age_group`` (adult > 18 years / pediatric), ``sex``, ``chest_location``
    (7 positions) and ``device`` (4 stethoscopes/microphones). ``tasks`` keeps a
    subset. The ICBHI score is :func:`icbhi_score`: with class 0 the normal
    (healthy) class, ``Sp`` = the recall of class 0, ``Se`` = the share of the
    other examples predicted as exactly their class, score ``(Sp + Se) / 2``.

Splits
    ``test`` is the official 60/40 split (per recording; patients 156 and 218
    have recordings on both sides). ``val`` is carved from the training split by
    patient: only patients with no test recording are candidates; per diagnosis,
    patients are taken in a seeded order while the val cycles stay within
    ``val_fraction`` of that diagnosis' training cycles (at least one patient
    overall when two or more are candidates). The split is computed over all
    annotated cycles, before any cycle is dropped for missing audio, so it does
    not depend on which WAV files are present.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from mtlsearch.data.canonical import DatasetInfo, TaskInfo, build_table
from mtlsearch.data.loader import Loader, LoaderOptions, register
from mtlsearch.data.sources import resolve_path, source_fingerprint
from mtlsearch.data.unpack import is_unpackable, unpacked_folder
from mtlsearch.errors import DataError
from mtlsearch.metrics.scores import icbhi_score  # noqa: F401  (the ICBHI tasks' metric; re-exported)

log = logging.getLogger(__name__)

LUNG_SOUNDS = ("normal", "crackle", "wheeze", "both")
DIAGNOSES = ("COPD", "Healthy", "URTI", "Bronchiectasis", "Pneumonia", "Bronchiolitis", "LRTI", "Asthma")
LOCATIONS = ("Tc", "Al", "Ar", "Pl", "Pr", "Ll", "Lr")
LOCATION_NAMES = {
    "Tc": "trachea",
    "Al": "anterior left",
    "Ar": "anterior right",
    "Pl": "posterior left",
    "Pr": "posterior right",
    "Ll": "lateral left",
    "Lr": "lateral right",
}
MODES = ("sc", "mc")
DEVICES = ("Meditron", "LittC2SE", "Litt3200", "AKGC417L")
DEVICE_NAMES = {
    "Meditron": "WelchAllyn Meditron Master Elite electronic stethoscope",
    "LittC2SE": "3M Littmann Classic II SE stethoscope",
    "Litt3200": "3M Littmann 3200 electronic stethoscope",
    "AKGC417L": "AKG C417L microphone",
}
ADULT_AGE = 18.0  # adult: older than 18 years; pediatric: 18 or younger (Tri-MTL)

_STEM = re.compile(r"^(\d+)_(\d+[a-z]\d+)_([A-Za-z]{2})_([a-z]{2})_([A-Za-z0-9]+)$")
_META_FILES = {
    "split": ("official_split.txt", "ICBHI_challenge_train_test.txt"),
    "diagnosis": ("patient_diagnosis.txt", "patient_diagnosis.csv", "ICBHI_Challenge_diagnosis.txt"),
    "demographics": ("demographic_info.txt", "ICBHI_Challenge_demographic_information.txt"),
    "differences": ("filename_differences.txt",),
}
# text files of the distributions that are not annotations (the challenge zip keeps everything in one folder)
_OTHER_TEXT_FILES = frozenset(n for names in _META_FILES.values() for n in names) | {
    "filename_format.txt",
    "metadata.txt",
    "patient_list_foldwise.txt",
    "README.txt",
    "readme.txt",
}


# ---------------------------------------------------------------- the ICBHI score


# ---------------------------------------------------------------- tasks


def all_tasks() -> list[TaskInfo]:
    return [
        TaskInfo(
            "lung_sound",
            "multiclass",
            LUNG_SOUNDS,
            title="lung sound",
            description="adventitious sounds in the breathing cycle: none (normal), crackles, wheezes, or both",
            role="primary",
            metric="icbhi_score",
        ),
        TaskInfo(
            "disease",
            "binary",
            ("healthy", "unhealthy"),
            title="respiratory disease",
            description="whether the patient has a respiratory disease (any diagnosis but Healthy)",
            role="primary",
            metric="icbhi_score",
        ),
        TaskInfo(
            "diagnosis",
            "multiclass",
            DIAGNOSES,
            title="diagnosis",
            description="the patient's diagnosis: COPD, healthy, URTI, bronchiectasis, pneumonia, bronchiolitis, LRTI or asthma",
            role="primary",
            metric="macro_f1",
        ),
        TaskInfo(
            "age_group",
            "binary",
            ("adult", "pediatric"),
            title="age group",
            description="patient age group: adult (over 18 years) or pediatric (18 or younger)",
            role="auxiliary",
            metric="accuracy",
        ),
        TaskInfo(
            "sex", "binary", ("male", "female"), title="sex", description="the patient's sex", role="auxiliary", metric="accuracy"
        ),
        TaskInfo(
            "chest_location",
            "multiclass",
            LOCATIONS,
            title="chest location",
            description="recording position: " + ", ".join(f"{k} {v}" for k, v in LOCATION_NAMES.items()),
            role="auxiliary",
            metric="accuracy",
        ),
        TaskInfo(
            "device",
            "multiclass",
            DEVICES,
            title="recording device",
            description="recording equipment: " + ", ".join(f"{k} ({v})" for k, v in DEVICE_NAMES.items()),
            role="auxiliary",
            metric="accuracy",
        ),
    ]


TASK_NAMES = tuple(t.name for t in all_tasks())


# ---------------------------------------------------------------- file names


@dataclass(frozen=True)
class RecordingName:
    """The five fields of an ICBHI file stem."""

    patient: int
    index: str
    location: str
    mode: str
    device: str

    @property
    def stem(self) -> str:
        return f"{self.patient}_{self.index}_{self.location}_{self.mode}_{self.device}"

    @property
    def key(self) -> str:
        """``patient_index_location_mode``: the recording, whatever device suffix its files carry."""
        return f"{self.patient}_{self.index}_{self.location}_{self.mode}"


def parse_recording_name(stem: str, where: str = "") -> RecordingName:
    """Parse ``patient_recordingindex_chestlocation_acquisitionmode_device``; anything else is a DataError."""
    m = _STEM.match(stem)
    prefix = f"{where}: " if where else ""
    expected = (
        "expected patient_recordingindex_chestlocation_acquisitionmode_device, e.g. 101_1b1_Al_sc_Meditron, "
        f"with location in {'/'.join(LOCATIONS)}, mode in {'/'.join(MODES)} and device in {'/'.join(DEVICES)}"
    )
    if not m:
        raise DataError(f"{prefix}unknown ICBHI file name format {stem!r}: {expected}")
    patient, index, location, mode, device = m.groups()
    if location not in LOCATIONS or mode not in MODES or device not in DEVICES:
        raise DataError(f"{prefix}unknown ICBHI file name format {stem!r}: {expected}")
    return RecordingName(int(patient), index, location, mode, device)


# ---------------------------------------------------------------- text files


def _lines(path: Path):
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not a text file (byte {raw[e.start : e.start + 1]!r} is not UTF-8: {e.reason})"
        ) from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield lineno, line.strip()


@dataclass(frozen=True)
class AnnotatedCycle:
    """One line of an annotation file."""

    line: int
    start: float
    end: float
    crackle: int
    wheeze: int

    @property
    def lung_sound(self) -> int:
        return self.crackle + 2 * self.wheeze  # 0 normal, 1 crackle, 2 wheeze, 3 both


def read_annotation_file(path: Path) -> list[AnnotatedCycle]:
    """The cycles of one annotation file; a malformed line is a DataError naming the file and line."""
    cycles = []
    for lineno, line in _lines(path):
        fields = line.split()
        where = f"{path}:{lineno}"
        if len(fields) != 4:
            raise DataError(f"{where}: expected 'start end crackle wheeze' (4 fields), found {len(fields)}: {line!r}")
        try:
            start, end = float(fields[0]), float(fields[1])
        except ValueError:
            raise DataError(f"{where}: start and end must be numbers of seconds, found {fields[0]!r} and {fields[1]!r}") from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise DataError(f"{where}: expected 0 <= start < end (seconds), found start {fields[0]} and end {fields[1]}")
        if fields[2] not in ("0", "1") or fields[3] not in ("0", "1"):
            raise DataError(f"{where}: crackle and wheeze must be 0 or 1, found {fields[2]!r} and {fields[3]!r}")
        cycles.append(AnnotatedCycle(lineno, start, end, int(fields[2]), int(fields[3])))
    if not cycles:
        raise DataError(f"{path}: the annotation file has no cycles")
    return cycles


def read_official_split(path: Path) -> dict[str, str]:
    """Canonical recording name -> ``train`` | ``test``."""
    out: dict[str, str] = {}
    for lineno, line in _lines(path):
        fields = line.split()
        if len(fields) != 2 or fields[1] not in ("train", "test"):
            raise DataError(f"{path}:{lineno}: expected '<recording> train|test', found {line!r}")
        parse_recording_name(fields[0], f"{path}:{lineno}")
        if out.get(fields[0], fields[1]) != fields[1]:
            raise DataError(f"{path}:{lineno}: recording {fields[0]} is listed as both train and test")
        out[fields[0]] = fields[1]
    if not out:
        raise DataError(f"{path}: the split file lists no recordings")
    return out


def read_diagnoses(path: Path) -> dict[int, str]:
    """Patient -> diagnosis, from the tab-separated ``.txt`` or the ``ID,CLASS`` ``.csv``."""
    out: dict[int, str] = {}
    lines: dict[int, int] = {}
    known = {d.lower(): d for d in DIAGNOSES}
    for lineno, line in _lines(path):
        fields = [f.strip() for f in re.split(r"[,\t ]+", line) if f.strip()]
        if lineno == 1 and fields and not fields[0].isdigit():
            continue  # a header (ID,CLASS)
        if len(fields) != 2 or not fields[0].isdigit():
            raise DataError(f"{path}:{lineno}: expected '<patient> <diagnosis>', found {line!r}")
        diagnosis = known.get(fields[1].lower())
        if diagnosis is None:
            raise DataError(f"{path}:{lineno}: unknown diagnosis {fields[1]!r}; expected one of {', '.join(DIAGNOSES)}")
        patient = int(fields[0])
        if patient in lines:
            raise DataError(f"{path}:{lineno}: patient {patient} is listed twice (also on line {lines[patient]})")
        lines[patient] = lineno
        out[patient] = diagnosis
    if not out:
        raise DataError(f"{path}: the diagnosis file lists no patients (expected '<patient> <diagnosis>' lines)")
    return out


@dataclass(frozen=True)
class Demographics:
    age: float | None  # years
    sex: str | None  # "M" | "F"


def read_demographics(path: Path) -> dict[int, Demographics]:
    """Patient -> age and sex (``NA`` -> None); the BMI, weight and height columns are not used."""
    out: dict[int, Demographics] = {}
    lines: dict[int, int] = {}
    for lineno, line in _lines(path):
        fields = line.split()
        where = f"{path}:{lineno}"
        if len(fields) < 3 or not fields[0].isdigit():
            raise DataError(f"{where}: expected '<patient> <age> <sex> ...', found {line!r}")
        if int(fields[0]) in lines:
            raise DataError(f"{where}: patient {int(fields[0])} is listed twice (also on line {lines[int(fields[0])]})")
        lines[int(fields[0])] = lineno
        age = None
        if fields[1].upper() != "NA":
            try:
                age = float(fields[1])
            except ValueError:
                raise DataError(f"{where}: age must be a number of years or NA, found {fields[1]!r}") from None
        sex = fields[2].upper()
        if sex not in ("M", "F", "NA"):
            raise DataError(f"{where}: sex must be M, F or NA, found {fields[2]!r}")
        out[int(fields[0])] = Demographics(age, None if sex == "NA" else sex)
    if not out:
        raise DataError(f"{path}: the demographics file lists no patients (expected '<patient> <age> <sex> ...' lines)")
    return out


def read_filename_differences(path: Path) -> set[str]:
    """The recording names distributed under another device suffix (one quoted name a line)."""
    out = set()
    for lineno, line in _lines(path):
        name = line.strip("'\"")
        parse_recording_name(name, f"{path}:{lineno}")
        out.add(name)
    if not out:
        raise DataError(
            f"{path}: the file lists no recording names (expected one quoted name a line, e.g. '101_1b1_Al_sc_AKGC417L'; "
            "delete the file if there are none)"
        )
    return out


# ---------------------------------------------------------------- the annotated cycles


@dataclass
class IcbhiFolders:
    annotations: Path
    audio: Path
    meta: Path
    meta_files: dict[str, Path | None] = field(default_factory=dict)


def _meta_file(meta: Path, kind: str, required: bool) -> Path | None:
    for name in _META_FILES[kind]:
        if (meta / name).is_file():
            return meta / name
    if required:
        raise DataError(f"{meta}: no ICBHI {kind} file (looked for {', '.join(_META_FILES[kind])})")
    return None


def locate(
    path: str, annotations_dir: str | None = None, audio_dir: str | None = None, meta_dir: str | None = None
) -> IcbhiFolders:
    """The annotation, audio and metadata folders of an ICBHI source (see the module docstring)."""
    root = resolve_path(path, "ICBHI folder")
    if is_unpackable(root):  # e.g. ICBHI_final_database.zip: unpacked once into the user cache
        root = unpacked_folder(root)
    if not root.is_dir():
        raise DataError(f"ICBHI source {path!r} ({root}) is neither a folder nor a .zip/.tar(.gz) archive")

    def pick(option: str | None, default: str, fallback: Path, what: str) -> Path:
        if option is not None:
            expanded = os.path.expandvars(os.path.expanduser(option))
            p = resolve_path(option if os.path.isabs(expanded) else str(root / option), what)
        else:
            p = root / default if (root / default).is_dir() else fallback
        if not p.is_dir():
            raise DataError(f"{what} {p} is not a folder")
        return p

    annotations = pick(annotations_dir, "annotations", root, "ICBHI annotation folder")
    audio = pick(audio_dir, "wav", annotations, "ICBHI audio folder")
    meta = pick(meta_dir, "meta", root, "ICBHI metadata folder")
    files = {kind: _meta_file(meta, kind, required=kind != "differences") for kind in _META_FILES}
    return IcbhiFolders(annotations, audio, meta, files)


@dataclass
class Cycles:
    """Every annotated cycle of the source, with its labels and official split (no audio)."""

    ids: list[str]
    recording: list[str]  # canonical name
    annotation_file: list[Path]
    line: list[int]
    start: np.ndarray
    end: np.ndarray
    patient: np.ndarray
    official_split: np.ndarray  # "train" | "test"
    labels: dict[str, np.ndarray]  # every task of all_tasks()
    renamed: dict[str, str]  # annotation file stem -> canonical name, where they differ
    patient_diagnosis: dict[int, str]

    def __len__(self) -> int:
        return len(self.ids)


def canonical_names(stems: list[str], split_names: dict[str, str], differences: set[str] | None, where: Path) -> dict[str, str]:
    """File stem -> the recording's name in the official split file (same patient, index, location and mode)."""
    by_key: dict[str, str] = {}
    for name in split_names:
        rec = parse_recording_name(name, str(where))
        if rec.key in by_key:
            raise DataError(f"{where}: recordings {by_key[rec.key]} and {name} differ only in the device")
        by_key[rec.key] = name
    out = {}
    for stem in stems:
        rec = parse_recording_name(stem)
        canonical = stem if stem in split_names else by_key.get(rec.key)
        if canonical is None:
            raise DataError(f"recording {stem} is not in the official split file {where} (under any device name)")
        if canonical != stem and differences is not None and stem not in differences:
            log.warning(
                "ICBHI: %s matched to %s of the official split, though filename_differences.txt does not list it", stem, canonical
            )
        out[stem] = canonical
    return out


def read_cycles(folders: IcbhiFolders) -> Cycles:
    """Parse every annotation file and the metadata: the cycles, their labels and their official split."""
    split_file = folders.meta_files["split"]
    split_names = read_official_split(split_file)
    diagnoses = read_diagnoses(folders.meta_files["diagnosis"])
    demographics = read_demographics(folders.meta_files["demographics"])
    diff_file = folders.meta_files.get("differences")
    differences = read_filename_differences(diff_file) if diff_file else None

    files = sorted(
        p
        for p in folders.annotations.iterdir()
        if p.suffix == ".txt" and p.is_file() and not p.name.startswith(".") and p.name not in _OTHER_TEXT_FILES
    )
    if not files:
        raise DataError(f"{folders.annotations}: no ICBHI annotation files (<patient>_<index>_<location>_<mode>_<device>.txt)")
    for p in files:
        parse_recording_name(p.stem, str(p))
    canonical = canonical_names([p.stem for p in files], split_names, differences, split_file)
    seen: dict[str, Path] = {}
    for p in files:
        if canonical[p.stem] in seen:
            raise DataError(f"{p}: annotates the same recording as {seen[canonical[p.stem]]} ({canonical[p.stem]})")
        seen[canonical[p.stem]] = p

    ids, recording, ann_file, lines, start, end, patient, split = [], [], [], [], [], [], [], []
    raw = defaultdict(list)
    for p in files:
        name = canonical[p.stem]
        rec = parse_recording_name(name)
        demo = demographics.get(rec.patient)
        diagnosis = diagnoses.get(rec.patient)
        for k, c in enumerate(read_annotation_file(p)):
            ids.append(f"{name}_c{k:03d}")
            recording.append(name)
            ann_file.append(p)
            lines.append(c.line)
            start.append(c.start)
            end.append(c.end)
            patient.append(rec.patient)
            split.append(split_names[name])
            raw["lung_sound"].append(c.lung_sound)
            raw["disease"].append(-1 if diagnosis is None else int(diagnosis != "Healthy"))
            raw["diagnosis"].append(-1 if diagnosis is None else DIAGNOSES.index(diagnosis))
            raw["age_group"].append(-1 if demo is None or demo.age is None else int(demo.age <= ADULT_AGE))
            raw["sex"].append(-1 if demo is None or demo.sex is None else int(demo.sex == "F"))
            raw["chest_location"].append(LOCATIONS.index(rec.location))
            raw["device"].append(DEVICES.index(rec.device))
    return Cycles(
        ids=ids,
        recording=recording,
        annotation_file=ann_file,
        line=lines,
        start=np.asarray(start, np.float64),
        end=np.asarray(end, np.float64),
        patient=np.asarray(patient, np.int64),
        official_split=np.asarray(split, dtype=object),
        labels={k: np.asarray(v, np.int64) for k, v in raw.items()},
        renamed={s: c for s, c in canonical.items() if s != c},
        patient_diagnosis=diagnoses,
    )


# ---------------------------------------------------------------- splits


def carve_val(cycles: Cycles, val_fraction: float, seed: int) -> np.ndarray:
    """``train`` / ``val`` / ``test`` per cycle: the official test split, and val patients carved from train."""
    split = cycles.official_split.copy()
    if val_fraction <= 0:
        return split
    test_patients = set(cycles.patient[cycles.official_split == "test"].tolist())
    train = cycles.official_split == "train"
    counts = Counter(cycles.patient[train].tolist())
    candidates = sorted(p for p in counts if p not in test_patients)
    by_diagnosis: dict[str, list[int]] = defaultdict(list)
    for p in candidates:
        by_diagnosis[cycles.patient_diagnosis.get(p, "")].append(p)
    rng = np.random.default_rng(seed)
    val: set[int] = set()
    for diagnosis in sorted(by_diagnosis):
        patients = by_diagnosis[diagnosis]
        budget = val_fraction * sum(counts[p] for p in patients)
        taken = 0
        for i in rng.permutation(len(patients)):
            p = patients[i]
            if taken + counts[p] <= budget:
                val.add(p)
                taken += counts[p]
    if not val and len(candidates) >= 2:
        val.add(min(candidates, key=lambda p: (counts[p], p)))
    split[np.isin(cycles.patient, sorted(val)) & train] = "val"
    return split


# ---------------------------------------------------------------- audio


def find_audio(audio_dir: Path, recordings: list[str]) -> dict[str, Path]:
    """Canonical recording name -> its WAV file, matched by patient, index, location and mode (any device suffix)."""
    by_key: dict[str, list[Path]] = defaultdict(list)
    for p in audio_dir.iterdir():
        if p.suffix.lower() == ".wav" and _STEM.match(p.stem):
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


def cycle_features(wav: Path, spans: list[tuple[float, float, Path, int]], options: "IcbhiOptions") -> np.ndarray:
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


# ---------------------------------------------------------------- the loader


class IcbhiOptions(LoaderOptions):
    path: str = Field(
        description="the ICBHI folder (annotations, wav and meta sub-folders, or all files in it); ~, $VAR and ${VAR} are expanded"
    )
    annotations_dir: str | None = Field(
        None, description="folder of <stem>.txt annotation files (default <path>/annotations, else <path>)"
    )
    audio_dir: str | None = Field(None, description="folder of <stem>.wav files (default <path>/wav, else the annotation folder)")
    meta_dir: str | None = Field(
        None,
        description="folder of official_split.txt, patient_diagnosis.txt, demographic_info.txt (default <path>/meta, else <path>)",
    )
    audio: Literal["required", "optional", "none"] = Field(
        "required",
        description="required: a recording without a WAV file is an error; optional: its cycles are dropped (logged); none: annotations only, x = [start, end, duration]",
    )
    sample_rate: int = Field(16000, gt=0, description="audio is resampled to this rate (Hz) before cutting cycles")
    cycle_seconds: float = Field(8.0, gt=0.0, le=60.0, description="each cycle is cut or padded to this length (s)")
    padding: Literal["repeat", "zero"] = Field(
        "repeat", description="repeat: tile the cycle and fade out the last 1/16 s (patch-mix/Tri-MTL); zero: append zeros"
    )
    num_mel_bins: int = Field(128, ge=4, description="mel bins of the Kaldi filterbanks (AST: 128)")
    normalization: Literal["ast", "none"] = Field(
        "ast", description="ast: (fbank + 4.2677393) / (2 · 4.5689974), AST's scaling; none: raw log-mel energies"
    )
    val_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="share of each diagnosis' training cycles carved out as val, by patient"
    )
    seed: int = Field(0, description="seed of the val carving")
    tasks: list[str] | None = Field(None, description=f"keep only these tasks (default all: {', '.join(TASK_NAMES)})")

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        unknown = [t for t in v if t not in TASK_NAMES]
        if unknown:
            raise ValueError(f"unknown ICBHI task(s) {unknown}; the tasks are {list(TASK_NAMES)}")
        if not v or len(set(v)) != len(v):
            raise ValueError("expected a non-empty list of distinct task names")
        return v


def _folders(options: IcbhiOptions) -> IcbhiFolders:
    return locate(options.path, options.annotations_dir, options.audio_dir, options.meta_dir)


def _checksum(folders: IcbhiFolders, audio: str) -> dict:
    """Annotation and metadata files by content; WAV files by name, size and modification time (not read)."""
    h = hashlib.sha256()
    for p in sorted(folders.annotations.glob("*.txt")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    out = {"annotations": h.hexdigest()}
    for kind, p in sorted(folders.meta_files.items()):
        out[kind] = hashlib.sha256(p.read_bytes()).hexdigest() if p is not None else None
    if audio != "none":
        h = hashlib.sha256()
        for p in sorted(folders.audio.iterdir()):
            if p.suffix.lower() == ".wav":
                st = p.stat()
                h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        out["audio"] = h.hexdigest()
    return out


@register
class IcbhiLoader(Loader):
    name = "icbhi"
    version = 1
    Options = IcbhiOptions

    def tasks(self, options: IcbhiOptions) -> list[TaskInfo]:
        resolve_path(options.path, "ICBHI folder")
        keep = options.tasks or TASK_NAMES
        return [t for t in all_tasks() if t.name in keep]

    def fingerprint(self, options: IcbhiOptions) -> str:
        return source_fingerprint(
            self, options, _checksum(_folders(options), options.audio), drop=("path", "annotations_dir", "audio_dir", "meta_dir")
        )

    def build(self, options: IcbhiOptions, fingerprint: str) -> tuple[DatasetInfo, pa.Table]:
        t0 = time.perf_counter()
        folders = _folders(options)
        cycles = read_cycles(folders)
        split = carve_val(cycles, options.val_fraction, options.seed)
        keep = np.ones(len(cycles), dtype=bool)
        dropped = {"recordings": 0, "cycles": 0}
        extra: dict = {}

        if options.audio == "none":
            x = np.stack([cycles.start, cycles.end, cycles.end - cycles.start], axis=1).astype(np.float32)
            extra.update(feature_names=["start_s", "end_s", "duration_s"], feature_shape=[3])
        else:
            from mtlsearch.data import audio as audio_mod

            recordings = list(dict.fromkeys(cycles.recording))
            wavs = find_audio(folders.audio, recordings)
            missing = [r for r in recordings if r not in wavs]
            if missing and options.audio == "required":
                raise DataError(
                    f"{folders.audio}: no WAV file for {len(missing)} of {len(recordings)} annotated recordings "
                    f"(e.g. {', '.join(missing[:5])}); set audio: optional to drop their cycles"
                )
            if missing:
                keep = ~np.isin(np.asarray(cycles.recording, dtype=object), missing)
                dropped = {"recordings": len(missing), "cycles": int((~keep).sum())}
                log.warning(
                    "ICBHI: %d of %d recordings have no WAV file in %s; their %d cycles are dropped",
                    len(missing),
                    len(recordings),
                    folders.audio,
                    dropped["cycles"],
                )
            if not keep.any():
                raise DataError(f"{folders.audio}: none of the {len(recordings)} annotated recordings has a WAV file")
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
            extra.update(
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

        tasks = [t for t in all_tasks() if t.name in (options.tasks or TASK_NAMES)]
        rows = np.flatnonzero(keep)
        split_kept = split[rows]
        labels = {t.name: cycles.labels[t.name][rows] for t in tasks}
        info = DatasetInfo(
            name="icbhi",
            tasks=tuple(tasks),
            input_column="x",
            input_dim=int(x.shape[1]),
            fingerprint=fingerprint,
            extra={
                "loader": self.name,
                "source": options.path,
                "audio": options.audio,
                **extra,
                "dropped": dropped,
                "renamed_recordings": cycles.renamed,
                "split_method": f"official train/test split per recording; val carved from train by patient "
                f"(patients with no test recording, per diagnosis, {options.val_fraction:g} of the cycles), seed {options.seed}",
                "splits": {
                    s: {
                        "cycles": int((split_kept == s).sum()),
                        "patients": sorted(set(cycles.patient[rows][split_kept == s].tolist())),
                        "lung_sound": {
                            c: int(((split_kept == s) & (cycles.labels["lung_sound"][rows] == i)).sum())
                            for i, c in enumerate(LUNG_SOUNDS)
                        },
                    }
                    for s in ("train", "val", "test")
                },
            },
        )
        extra_columns = {
            "recording": pa.array([cycles.recording[i] for i in rows], type=pa.string()),
            "patient": pa.array(cycles.patient[rows].astype(np.int32), type=pa.int32()),
            "start": pa.array(cycles.start[rows].astype(np.float32), type=pa.float32()),
            "end": pa.array(cycles.end[rows].astype(np.float32), type=pa.float32()),
        }
        table = build_table(info, [cycles.ids[i] for i in rows], split_kept.tolist(), x, labels, extra_columns=extra_columns)
        log.info(
            "ICBHI: %d cycles (%s) built in %.1f s",
            len(rows),
            ", ".join(f"{k} {v['cycles']}" for k, v in info.extra["splits"].items()),
            time.perf_counter() - t0,
        )
        return info, table
