"""The ICBHI tasks: three primary ones (lung sound, disease, diagnosis) and four Tri-MTL metadata tasks.

Their classes, roles and metrics (see "Tasks" in :mod:`mtlsearch.data.icbhi`);
:func:`mtlsearch.data.icbhi_cycles.read_cycles` computes every task's label per cycle.
"""

from __future__ import annotations

from mtlsearch.data.canonical import TaskInfo
from mtlsearch.data.icbhi_files import DEVICE_NAMES, DEVICES, DIAGNOSES, LOCATION_NAMES, LOCATIONS

LUNG_SOUNDS = ("normal", "crackle", "wheeze", "both")
ADULT_AGE = 18.0  # adult: older than 18 years; pediatric: 18 or younger (Tri-MTL)


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
