"""Open-I reports: what one report holds, its text cleaning and MeSH headings, and the preprocessing.

:class:`Report` is one report as a reader returns it (:mod:`mtlsearch.data.openi_csv_reader`,
:mod:`mtlsearch.data.openi_xml_reader`); :func:`clean_text` strips the ``XXXX``
de-identification tokens, :func:`heading` reduces a MeSH major term to its
heading; :func:`preprocess` drops the reports with an empty text and the
duplicates (steps 1-3 of :mod:`mtlsearch.data.openi`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mtlsearch.errors import DataError

NORMAL = "normal"
NO_INDEXING = "No Indexing"
_DEID = re.compile(r"X{4,}")
_DEID_BEFORE_PUNCT = re.compile(r"\s*X{4,}(?=[.,;:!?)])")  # "sternotomy XXXX." -> "sternotomy."
_SPACE = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """``text`` without ``XXXX`` de-identification tokens, whitespace collapsed."""
    return _SPACE.sub(" ", _DEID.sub(" ", _DEID_BEFORE_PUNCT.sub("", text or ""))).strip()


def heading(term: str) -> str:
    """The MeSH heading of a major term: the part before the first ``/`` (``Cardiomegaly/mild`` -> ``Cardiomegaly``)."""
    return _SPACE.sub(" ", term.split("/", 1)[0]).strip()


def distinct_headings(raw: list[str]) -> tuple[str, ...]:
    """Headings of ``raw`` terms, empty ones left out, each once (first spelling, case-insensitive)."""
    out: dict[str, str] = {}
    for t in raw:
        h = heading(t)
        if h and h.casefold() not in out:
            out[h.casefold()] = h
    return tuple(out.values())


@dataclass
class Report:
    """One report as read from the source (texts raw; :func:`clean_text` applies later)."""

    uid: str
    terms: tuple[str, ...]
    findings: str = ""
    impression: str = ""
    indication: str = ""
    comparison: str = ""
    exam: str = ""
    images: tuple[str, ...] = ()
    where: str = ""

    @property
    def text(self) -> str:
        return " ".join(t for t in (clean_text(self.findings), clean_text(self.impression)) if t)

    @property
    def label_terms(self) -> tuple[str, ...]:
        return tuple(t for t in self.terms if t.casefold() not in (NORMAL, NO_INDEXING.casefold()))

    @property
    def unindexed(self) -> bool:
        """No term but ``No Indexing`` (or none at all): the labels are unknown."""
        return not self.label_terms and not any(t.casefold() == NORMAL for t in self.terms)


@dataclass
class OpenISource:
    """A source's reports after the preprocessing: the kept ones and why the others were dropped."""

    path: Path
    read: int
    kept: list[Report]
    texts: list[str]
    dropped_empty: list[str] = field(default_factory=list)  # uids
    dropped_duplicate: list[tuple[str, str]] = field(default_factory=list)  # (uid, uid of the kept copy)
    duplicates_with_other_terms: int = 0


def preprocess(path: Path, reports: list[Report]) -> OpenISource:
    """Drop the reports with an empty text, then those whose text an earlier report already has."""
    src = OpenISource(path=path, read=len(reports), kept=[], texts=[])
    first: dict[str, Report] = {}
    for r in reports:
        text = r.text
        if not text:
            src.dropped_empty.append(r.uid)
            continue
        seen = first.get(text)
        if seen is not None:
            src.dropped_duplicate.append((r.uid, seen.uid))
            if {t.casefold() for t in seen.terms} != {t.casefold() for t in r.terms}:
                src.duplicates_with_other_terms += 1
            continue
        first[text] = r
        src.kept.append(r)
        src.texts.append(text)
    if not src.kept:
        raise DataError(f"{path}: no report with a non-empty FINDINGS or IMPRESSION text ({len(reports)} read)")
    return src
