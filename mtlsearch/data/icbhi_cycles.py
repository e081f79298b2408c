"""The annotated cycles of an ICBHI source: its folders, every cycle with its labels, and the split.

:func:`locate` finds the annotation, audio and metadata folders (and the
metadata files in them); :func:`read_cycles` parses every annotation file and
the metadata into :class:`Cycles` (no audio is read); :func:`carve_val` adds the
val split to the official train/test split. The rules (file-name matching,
val carving): the module docstring of :mod:`mtlsearch.data.icbhi`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtlsearch.data.icbhi_files import (
    DEVICES,
    DIAGNOSES,
    LOCATIONS,
    Demographics,
    parse_recording_name,
    read_annotation_file,
    read_demographics,
    read_diagnoses,
    read_filename_differences,
    read_official_split,
)
from mtlsearch.data.icbhi_tasks import ADULT_AGE
from mtlsearch.data.sources import resolve_path
from mtlsearch.data.unpack import is_unpackable, unpacked_folder
from mtlsearch.errors import DataError

log = logging.getLogger(__name__)

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
    """The annotation, audio and metadata folders of an ICBHI source (see :mod:`mtlsearch.data.icbhi`)."""
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
    demographics: dict[int, Demographics] = field(default_factory=dict)  # per patient (the clinical input)

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
        demographics=demographics,
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
