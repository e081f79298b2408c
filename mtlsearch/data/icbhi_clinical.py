"""The ICBHI patient and recording data as a tabular input (``clinical``), with an explicit missing-value code.

Fields (the loader's ``clinical`` option picks some, in this order):

* ``age``: years / 100, then a missing flag;
* ``sex``: 1 for F, 0 for M, then a missing flag;
* ``bmi`` (adults only), ``child_weight`` (kg / 100) and ``child_height`` (cm / 200): the value
  (BMI / 50), then a missing flag. Children have no BMI and adults no weight or height, so each
  number comes with its own flag: 0 where the value is missing, flag 1 — never a value that
  could be read as a measurement;
* ``chest_location``: one-hot over the 7 positions; ``device``: one-hot over the 4 devices
  (both known for every recording).

The fixed scales keep values near [0, 1] without statistics from any split. Each field gives away
tasks (:data:`FIELD_TASKS`): age → ``age_group``, and so do BMI, weight and height (which of them
is missing tells adult from child), sex → ``sex``, chest location → ``chest_location``, device →
``device``; the input records them as its ``attributes``, and a trial never trains such a task
with this input (the spec check says so).
"""

from __future__ import annotations

import numpy as np

from mtlsearch.data.icbhi_cycles import Cycles
from mtlsearch.data.icbhi_files import DEVICES, LOCATIONS

CLINICAL_INPUT = "clinical"
CLINICAL_FIELDS = ("age", "sex", "bmi", "child_weight", "child_height", "chest_location", "device")
FIELD_TASKS = {
    "age": ("age_group",),
    "sex": ("sex",),
    "bmi": ("age_group",),
    "child_weight": ("age_group",),
    "child_height": ("age_group",),
    "chest_location": ("chest_location",),
    "device": ("device",),
}
_SCALE = {"age": 100.0, "bmi": 50.0, "child_weight": 100.0, "child_height": 200.0}


def field_columns(field: str) -> list[str]:
    """The names of the columns one field encodes to."""
    if field == "chest_location":
        return [f"chest_location={loc}" for loc in LOCATIONS]
    if field == "device":
        return [f"device={d}" for d in DEVICES]
    value = "female" if field == "sex" else f"{field}/{_SCALE[field]:g}"
    return [value, f"{field}_missing"]


def clinical_columns(fields: list[str]) -> list[str]:
    return [c for f in fields for c in field_columns(f)]


def clinical_attributes(fields: list[str]) -> tuple[str, ...]:
    """The tasks these fields give away, in :data:`FIELD_TASKS` order, once each."""
    return tuple(dict.fromkeys(t for f in fields for t in FIELD_TASKS[f]))


def clinical_features(cycles: Cycles, fields: list[str]) -> np.ndarray:
    """``(cycles, len(clinical_columns(fields)))`` float32: each cycle's patient and recording fields."""
    cols: list[np.ndarray] = []
    n = len(cycles)
    for field in fields:
        if field in ("chest_location", "device"):
            k = len(LOCATIONS) if field == "chest_location" else len(DEVICES)
            cols.append(np.eye(k, dtype=np.float32)[cycles.labels[field]])
            continue
        value = np.zeros(n, np.float32)
        missing = np.ones(n, np.float32)
        for i, patient in enumerate(cycles.patient.tolist()):
            demo = cycles.demographics.get(patient)
            raw = None if demo is None else getattr(demo, field)
            if field == "sex" and raw is not None:
                raw = 1.0 if raw == "F" else 0.0
            elif raw is not None:
                raw = raw / _SCALE[field]
            if raw is not None:
                value[i], missing[i] = raw, 0.0
        cols.append(np.stack([value, missing], axis=1))
    return np.concatenate(cols, axis=1) if cols else np.zeros((n, 0), np.float32)
