"""The Open-I tasks: the label terms ranked by frequency, their task names, and the projection task.

The top ``top_k`` MeSH headings of the kept reports become binary tasks
(:func:`top_terms`, :func:`term_tasks`), named by :func:`task_name`; the
optional ``projection`` metadata task is :func:`projection_task`. The rules
("Labels", the task names): :mod:`mtlsearch.data.openi`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from mtlsearch.data.canonical import RESERVED_COLUMNS, TaskInfo
from mtlsearch.data.columns import column_safe_name
from mtlsearch.data.openi_reports import NO_INDEXING, NORMAL, OpenISource, Report
from mtlsearch.errors import DataError

DEFAULT_TOP_K = 19  # MTLV thesis, section 4.1: "We only selected the 19 top classes"
# the columns of the table besides the tasks, which no task name may take (task_name appends _label)
INPUT_COLUMN = "x"
TEXT_COLUMN = "text"
PROJECTION_TASK = "projection"
PROJECTION_CLASSES = ("Frontal", "Lateral", "Frontal;Lateral")
METADATA_COLUMNS = ("exam", "projections", "images", "indication", "comparison")
EXAM_FEATURES = "exam_features"  # the 'exam' input's column (mtlsearch.data.openi_exam), with exam_features: true
_TAKEN_NAMES = frozenset(
    n.casefold() for n in (*RESERVED_COLUMNS, INPUT_COLUMN, TEXT_COLUMN, *METADATA_COLUMNS, PROJECTION_TASK, EXAM_FEATURES)
)


@dataclass(frozen=True)
class Term:
    name: str  # task name
    term: str  # the heading as most reports spell it
    count: int  # kept reports carrying it


def rank_terms(reports: list[Report]) -> list[tuple[str, int]]:
    """(term, reports carrying it) of every label term, most frequent first (ties: alphabetical, case-insensitive)."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for r in reports:
        for t in r.label_terms:
            counts[t.casefold()] += 1
            spellings.setdefault(t.casefold(), Counter())[t] += 1
    ranked = sorted(counts, key=lambda k: (-counts[k], k))
    return [(spellings[k].most_common(1)[0][0], counts[k]) for k in ranked]


def task_name(term: str, taken: set[str]) -> str:
    """A column-safe task name for ``term``, unique among ``taken`` (case-insensitive), which it joins."""
    return column_safe_name(term, taken, _TAKEN_NAMES)


def top_terms(source: OpenISource, top_k: int) -> list[Term]:
    ranked = rank_terms(source.kept)
    if top_k > len(ranked):
        raise DataError(
            f"{source.path}: top_k is {top_k} but the {len(source.kept)} kept reports carry only {len(ranked)} distinct "
            f"terms besides {NORMAL!r} and {NO_INDEXING!r}"
        )
    taken: set[str] = set()
    return [Term(task_name(t, taken), t, c) for t, c in ranked[:top_k]]


def projection_task() -> TaskInfo:
    """The optional ``projection`` metadata task (see the module doc)."""
    return TaskInfo(
        PROJECTION_TASK,
        "multiclass",
        PROJECTION_CLASSES,
        title="projection",
        role="auxiliary",
        metric="accuracy",
        description="The views (frontal, lateral or both) of the chest X-ray exam the report describes.",
    )


def term_tasks(terms: list[Term]) -> list[TaskInfo]:
    return [
        TaskInfo(
            t.name,
            "binary",
            ("negative", "positive"),
            title=t.term,
            metric="f1",
            description=f"The chest X-ray report is indexed with the MeSH heading '{t.term}' (Open-I manual annotation).",
        )
        for t in terms
    ]
