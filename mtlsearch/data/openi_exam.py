"""The Open-I exam and projection fields as a tabular input (``exam``), for multimodal models.

Per report, ``EXAM_COLUMNS`` (all 0/1 flags, so no scaling is needed):

* ``frontal``, ``lateral``: whether the projections CSV lists a Frontal / Lateral image for the
  report, and ``projections_missing`` (1 when it lists no projection for the report; both flags then 0);
* ``exam_pa``, ``exam_ap``, ``exam_lateral``, ``exam_frontal``, ``exam_portable``, ``exam_two_views``,
  ``exam_one_view``: whether the exam description (the CSV's ``image`` field) mentions PA, AP,
  lateral, frontal, portable, two views, one view (word match, case-insensitive); ``exam_missing``:
  1 when the description is empty.

The projections give away the ``projection`` metadata task (and the exam description names the
views too), so the input's ``attributes`` are ``("projection",)``: a trial never trains that task with it.
"""

from __future__ import annotations

import re

import numpy as np

EXAM_INPUT = "exam"
EXAM_FEATURES_COLUMN = "exam_features"
EXAM_ATTRIBUTES = ("projection",)
_PATTERNS = {
    "exam_pa": r"\bpa\b",
    "exam_ap": r"\bap\b",
    "exam_lateral": r"\blat(eral)?\b",
    "exam_frontal": r"\bfrontal\b",
    "exam_portable": r"\bportable\b",
    "exam_two_views": r"\b(2|two)\s*(v|views?)\b",
    "exam_one_view": r"\b(1|one|single)\s*(v|views?)\b",
}
EXAM_COLUMNS = ("frontal", "lateral", "projections_missing", *_PATTERNS, "exam_missing")


def exam_features(exams: list[str], projections: list[set[str]]) -> np.ndarray:
    """``(reports, len(EXAM_COLUMNS))`` float32 from each report's exam text and its images' projections."""
    out = np.zeros((len(exams), len(EXAM_COLUMNS)), np.float32)
    compiled = [re.compile(p, re.IGNORECASE) for p in _PATTERNS.values()]
    for i, (exam, views) in enumerate(zip(exams, projections)):
        out[i, 0] = float("Frontal" in views)
        out[i, 1] = float("Lateral" in views)
        out[i, 2] = float(not views)
        for k, rx in enumerate(compiled):
            out[i, 3 + k] = float(bool(rx.search(exam or "")))
        out[i, -1] = float(not (exam or "").strip())
    return out
