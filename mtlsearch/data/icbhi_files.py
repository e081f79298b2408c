"""ICBHI 2017's text files: recording names, annotation files and metadata files, one parser each.

The vocabularies the files use (diagnoses, chest locations, acquisition modes,
devices); the file-name stem
``patient_recordingindex_chestlocation_acquisitionmode_device``
(:func:`parse_recording_name`); and the parsers of an annotation file (a line
``start end crackle wheeze`` per cycle), the official split, the diagnoses, the
demographics and ``filename_differences.txt``. A malformed line is a DataError
naming the file and the line. Where these files lie in a source, and what the
loader makes of them: :mod:`mtlsearch.data.icbhi`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from mtlsearch.errors import DataError

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

STEM_PATTERN = re.compile(r"^(\d+)_(\d+[a-z]\d+)_([A-Za-z]{2})_([a-z]{2})_([A-Za-z0-9]+)$")
"""The shape of an ICBHI file stem (:func:`parse_recording_name` also checks the location, mode and device)."""


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
    m = STEM_PATTERN.match(stem)
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
    bmi: float | None = None  # adults (kg/m²)
    child_weight: float | None = None  # children (kg)
    child_height: float | None = None  # children (cm)


def _number_or_na(fields: list[str], k: int, what: str, where: str) -> float | None:
    """Field ``k`` as a number, or None when it is ``NA`` or absent."""
    if len(fields) <= k or fields[k].upper() == "NA":
        return None
    try:
        return float(fields[k])
    except ValueError:
        raise DataError(f"{where}: {what} must be a number or NA, found {fields[k]!r}") from None


def read_demographics(path: Path) -> dict[int, Demographics]:
    """Patient -> age, sex, adult BMI, child weight and height (``NA`` or absent -> None)."""
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
        out[int(fields[0])] = Demographics(
            age,
            None if sex == "NA" else sex,
            bmi=_number_or_na(fields, 3, "adult BMI", where),
            child_weight=_number_or_na(fields, 4, "child weight", where),
            child_height=_number_or_na(fields, 5, "child height", where),
        )
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
