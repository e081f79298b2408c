"""Open-I loaders: Indiana University chest X-ray reports, one binary task per frequent MeSH term.

The Open-I chest X-ray collection (Demner-Fushman et al. 2016) indexes each
radiology report by hand with MeSH terms (the ``<major>`` tags of NLM's XML; the
``automatic`` tags, from MTI, are not used). As in the MTLV thesis, the labels
are the ``top_k`` most frequent terms (19 by default), the input text is the
report's FINDINGS followed by its IMPRESSION, and three preprocessing steps
apply, in this order:

1. the ``XXXX`` de-identification tokens are stripped (any run of four or more
   capital X, also inside a word: ``x-XXXX`` -> ``x-``; a token right before
   punctuation goes with the spaces before it: ``sternotomy XXXX.`` ->
   ``sternotomy.``) and whitespace is collapsed;
2. reports whose text is then empty are dropped;
3. duplicate reports (the same text as an earlier report, in source order; for
   XML reports, in order of their numeric id) are dropped: the first is kept
   with its labels.

Labels. A MeSH major term is written ``Heading/qualifier/...``
(``Cardiomegaly/borderline``, ``Opacity/lung/base/left``); the label is the
heading before the first ``/`` (``Cardiomegaly``, ``Opacity``), which is what
the Indiana CSV's ``Problems`` column holds. Headings that differ only in case
(``Thoracic Vertebrae``, ``Thoracic vertebrae``) are one term, spelt as most
reports spell it. Terms are ranked by the number of kept reports carrying them
(ties: alphabetical) and the first ``top_k`` become tasks. Two terms are never
tasks:

* ``normal`` marks a report with no finding: it is an example whose labels are
  all 0, never a class (MTLV's 19 classes do not include it either);
* ``No Indexing`` marks a report nobody indexed (92 reports of the Indiana
  CSV, 35 once duplicates are dropped): its labels are unknown, so by default
  (``no_indexing: missing``) they are stored as ``-1`` (missing; losses and
  metrics skip them) and the report is kept for its text and metadata;
  ``drop`` leaves such reports out and ``negative`` treats them as normal. A
  report with no term at all is unindexed too.

MTLV's 19 labels (thesis, Table A.1: 3,955 XML reports, 3,159 kept) join some
headings with a qualifier (``lung hyperdistention``, ``spine degenerative``);
here a label is the heading alone, so on the Indiana CSV the top 19 include
anatomical headings (``Lung``, ``Spine``, ``Markings``) whose qualifiers carry
the finding.

Each task is named by its term with every run of characters other than
letters and digits replaced by ``_`` (``Pulmonary Atelectasis`` ->
``Pulmonary_Atelectasis``, ``Catheters, Indwelling`` ->
``Catheters_Indwelling``); ``_label`` is appended to a name that would be a
column of the table (``id``, ``split``, ``x``, ``text``, the metadata columns),
``_2``, ``_3``... to a name already taken. ``title`` is the term as written.
Every task is binary, scored by F1.

Splits: Open-I has no official split, so test (``test_fraction`` of all
reports) and val (``val_fraction`` of the rest; MTLV: 80/20 train/test, val 15%
of train) are carved by seeded iterative stratification
(:mod:`mtlsearch.data.splits`). Inputs: a bag-of-words vector over the
``vocab_size`` terms found in the most *training* reports (column ``x``), and
the text in a ``text`` column (``info.extra["text_column"]``). Metadata string
columns (for metadata tasks): ``exam`` (the exam description: the CSV's
``image`` field, the XML's first image caption), ``projections`` (the sorted
distinct projections of the report's images, ``;``-joined, e.g.
``Frontal;Lateral``; empty when unknown), ``images`` (the image file names or
ids, ``;``-joined), ``indication`` and ``comparison`` (de-identified like the
text).

Metadata task (optional, ``metadata_tasks: [projection]``; off by default, so
the tasks and fingerprints of existing specs are unchanged): ``projection``,
multiclass over the views the report's exam holds — ``Frontal``, ``Lateral`` or
``Frontal;Lateral`` (the ``projections`` column); any other combination, or no
projection known, is missing (``-1``). Role ``auxiliary``, scored by accuracy:
never in Δm, searchable as a Tri-MTL metadata task (``search.space.metadata``).
It needs the projections CSV. It does not take part in the split stratification.

Two sources:

``openi_csv``
    the cleaned Indiana CSV (``indiana_reports.csv``): columns ``uid``,
    ``Problems`` (``;``-separated terms), ``findings``, ``impression``
    (required) and ``image``, ``indication``, ``comparison``, ``MeSH``
    (optional). The projections come from ``indiana_projections.csv``
    (``uid``, ``filename``, ``projection``), by default the file of that name
    next to the reports if there is one.

``openi_xml``
    NLM's original reports (``ecgen-radiology/<n>.xml``, one ``<eCitation>``
    per report) in a folder or a ``.tar``/``.tar.gz`` archive: the id is
    ``<IUXRId id>`` (else ``<uId id>``, else the file name), the text the
    ``<AbstractText Label="FINDINGS">`` and ``"IMPRESSION"`` elements, the terms
    the ``<MeSH><major>`` elements, the images the ``<parentImage id>``s (the
    exam is the first ``<caption>``). The XML holds no projection; an Indiana
    projections CSV (``projections_path``, or ``indiana_projections.csv`` next
    to the source) is matched by id.

``path`` and ``projections_path`` may use ``~``, ``$VAR`` and ``${VAR}``. The
fingerprint holds the checksums of the reports and the projections file (not
their paths). ``tasks`` reads the source (a few ms for the CSV) to rank the
terms; the parsed source is cached in the process, keyed by the files' sizes
and modification times.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from mtlsearch.data.canonical import RESERVED_COLUMNS, DatasetInfo, TaskInfo, build_table
from mtlsearch.data.loader import Loader, register
from mtlsearch.data.sources import (
    TextSourceOptions,
    bag_of_words_features,
    file_sha256,
    is_archive,
    iter_files,
    resolve_path,
    source_checksum,
    source_fingerprint,
    tree_signature,
)
from mtlsearch.data.splits import stratified_splits
from mtlsearch.errors import DataError

DEFAULT_TOP_K = 19  # MTLV thesis, section 4.1: "We only selected the 19 top classes"
NORMAL = "normal"
NO_INDEXING = "No Indexing"
CSV_REQUIRED = ("uid", "Problems", "findings", "impression")
PROJECTIONS_REQUIRED = ("uid", "filename", "projection")
PROJECTIONS_FILE = "indiana_projections.csv"
INPUT_COLUMN = "x"
TEXT_COLUMN = "text"
PROJECTION_TASK = "projection"
PROJECTION_CLASSES = ("Frontal", "Lateral", "Frontal;Lateral")
METADATA_COLUMNS = ("exam", "projections", "images", "indication", "comparison")
_TAKEN_NAMES = frozenset(n.casefold() for n in (*RESERVED_COLUMNS, INPUT_COLUMN, TEXT_COLUMN, *METADATA_COLUMNS, PROJECTION_TASK))
_DEID = re.compile(r"X{4,}")
_DEID_BEFORE_PUNCT = re.compile(r"\s*X{4,}(?=[.,;:!?)])")  # "sternotomy XXXX." -> "sternotomy."
_SPACE = re.compile(r"\s+")
_NOT_NAME = re.compile(r"[^0-9A-Za-z]+")


# ---------------------------------------------------------------- reports


def clean_text(text: str | None) -> str:
    """``text`` without ``XXXX`` de-identification tokens, whitespace collapsed."""
    return _SPACE.sub(" ", _DEID.sub(" ", _DEID_BEFORE_PUNCT.sub("", text or ""))).strip()


def heading(term: str) -> str:
    """The MeSH heading of a major term: the part before the first ``/`` (``Cardiomegaly/mild`` -> ``Cardiomegaly``)."""
    return _SPACE.sub(" ", term.split("/", 1)[0]).strip()


def _terms(raw: list[str]) -> tuple[str, ...]:
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


# ---------------------------------------------------------------- CSV


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text ({e.reason})") from None


def _read_csv_rows(path: Path, required: tuple[str, ...], what: str):
    """(header index by name, iterator of (line, row)) of a CSV; empty file and missing columns are DataErrors."""
    text = _decode(path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty (expected a {what} CSV with a header naming {', '.join(required)})")
    # strict: a quoted field still open at the end of the file (a file cut short) is an error, not a field
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as e:
        raise DataError(f"{path}:1: malformed CSV header ({e})") from None
    index = {h: i for i, h in reversed(list(enumerate(header)))}
    missing = [c for c in required if c not in index]
    if missing:
        raise DataError(
            f"{path}:1: the {what} CSV lacks the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)} (header: {', '.join(header)})"
        )

    def rows():
        line = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                hint = ": a quoted field is not closed (truncated file?)" if "end of data" in str(e) else ""
                raise DataError(f"{path}:{line}: malformed CSV ({e}){hint}") from None
            if row and len(row) != len(header):
                raise DataError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
            if row:
                yield line, row
            line = reader.line_num + 1

    return index, rows()


def read_reports_csv(path: Path) -> list[Report]:
    """The reports of an Indiana reports CSV, in file order."""
    index, rows = _read_csv_rows(path, CSV_REQUIRED, "Open-I reports")
    reports: list[Report] = []
    lines: dict[str, int] = {}

    def get(row, name):
        i = index.get(name)
        return row[i] if i is not None else ""

    for line, row in rows:
        uid = get(row, "uid").strip()
        if not uid:
            raise DataError(f"{path}:{line}: empty uid")
        if uid in lines:
            raise DataError(f"{path}:{line}: uid {uid!r} repeats the report of line {lines[uid]}")
        lines[uid] = line
        reports.append(
            Report(
                uid=uid,
                terms=_terms(get(row, "Problems").split(";")),
                findings=get(row, "findings"),
                impression=get(row, "impression"),
                indication=get(row, "indication"),
                comparison=get(row, "comparison"),
                exam=get(row, "image"),
                where=f"{path}:{line}",
            )
        )
    if not reports:
        raise DataError(f"{path}: no reports after the header line")
    return reports


def read_projections(path: Path) -> dict[str, tuple[list[str], set[str]]]:
    """uid -> (image file names, projections) of an Indiana projections CSV."""
    index, rows = _read_csv_rows(path, PROJECTIONS_REQUIRED, "Open-I projections")
    out: dict[str, tuple[list[str], set[str]]] = {}
    for line, row in rows:
        uid = row[index["uid"]].strip()
        if not uid:
            raise DataError(f"{path}:{line}: empty uid")
        files, projections = out.setdefault(uid, ([], set()))
        if row[index["filename"]].strip():
            files.append(row[index["filename"]].strip())
        if row[index["projection"]].strip():
            projections.add(row[index["projection"]].strip())
    return out


# ---------------------------------------------------------------- XML


def _text_of(el: ET.Element | None) -> str:
    return "".join(el.itertext()) if el is not None else ""


def parse_report_xml(content: bytes, where: str, fallback_id: str) -> Report:
    """One NLM Open-I report (``<eCitation>``); a malformed file is a DataError naming the file and the parser's line."""
    try:
        root = ET.fromstring(content)
    except ET.ParseError as e:
        line = e.position[0] if getattr(e, "position", None) else 1
        raise DataError(f"{where}:{line}: malformed XML ({e})") from None
    if root.tag != "MedlineCitation" and root.find(".//MedlineCitation") is None:
        raise DataError(f"{where}: not an Open-I report: no <MedlineCitation> element (root <{root.tag}>)")
    uid = ""
    for tag, strip in (("IUXRId", ""), ("uId", "CXR")):
        el = root.find(f".//{tag}")
        if el is not None and el.get("id", "").strip():
            uid = el.get("id").strip()
            if strip and uid.startswith(strip) and uid[len(strip) :].isdigit():
                uid = uid[len(strip) :]
            break
    sections: dict[str, str] = {}
    for el in root.iter("AbstractText"):
        label = (el.get("Label") or "").strip().upper()
        if label and label not in sections:
            sections[label] = _text_of(el)
    images, captions = [], []
    for el in root.iter("parentImage"):
        if el.get("id"):
            images.append(el.get("id").strip())
        captions.append(clean_text(_text_of(el.find("caption"))))
    majors = [_text_of(el) for mesh in root.iter("MeSH") for el in mesh.iter("major")]
    return Report(
        uid=uid or fallback_id,
        terms=_terms(majors),
        findings=sections.get("FINDINGS", ""),
        impression=sections.get("IMPRESSION", ""),
        indication=sections.get("INDICATION", ""),
        comparison=sections.get("COMPARISON", ""),
        exam=next((c for c in captions if c), ""),
        images=tuple(images),
        where=where,
    )


def _natural(uid: str) -> tuple:
    return (0, int(uid), "") if uid.isdigit() else (1, 0, uid)


def read_reports_xml(path: Path) -> list[Report]:
    """The reports of a folder or archive of Open-I XML files, in order of their ids (numeric ids by value)."""
    reports: dict[str, Report] = {}
    archive = is_archive(path)
    for parts, content in iter_files(path, "of Open-I XML reports (ecgen-radiology/<n>.xml)"):
        if not parts or not parts[-1].lower().endswith(".xml") or any(p.startswith(".") for p in parts):
            continue
        where = f"{path}:{'/'.join(parts)}" if archive else str(path.joinpath(*parts))
        r = parse_report_xml(content, where, fallback_id=parts[-1][: -len(".xml")])
        if r.uid in reports:
            raise DataError(f"{where}: report id {r.uid!r} repeats {reports[r.uid].where}")
        reports[r.uid] = r
    if not reports:
        raise DataError(f"{path}: no .xml reports found")
    return [reports[u] for u in sorted(reports, key=_natural)]


# ---------------------------------------------------------------- labels


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
    base = _NOT_NAME.sub("_", term).strip("_") or "term"
    if base.casefold() in _TAKEN_NAMES:
        base += "_label"
    name, k = base, 2
    while name.casefold() in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name.casefold())
    return name


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


# ---------------------------------------------------------------- options and loaders


class _OpenIOptions(TextSourceOptions):
    projections_path: str | None = Field(
        None,
        description=f"Indiana projections CSV (uid, filename, projection); default: {PROJECTIONS_FILE} next to the source, if present",
    )
    top_k: int = Field(
        DEFAULT_TOP_K,
        ge=1,
        description="tasks: the top_k MeSH headings carried by the most kept reports ('normal' and 'No Indexing' are never tasks)",
    )
    no_indexing: Literal["missing", "drop", "negative"] = Field(
        "missing",
        description="reports with no term but 'No Indexing': labels -1 (missing), left out, or all 0 like a normal report",
    )
    test_fraction: float = Field(
        0.2, gt=0.0, lt=1.0, description="share of all kept reports carved out as the test split (MTLV: 0.2)"
    )
    val_fraction: float = Field(
        0.15, gt=0.0, lt=1.0, description="share of the remaining reports carved out as the val split (MTLV: 0.15)"
    )
    metadata_tasks: list[Literal["projection"]] = Field(
        default_factory=list,
        description="metadata tasks to add (role auxiliary, not in Δm): projection = the exam's views (needs the projections CSV)",
    )


class OpenICsvOptions(_OpenIOptions):
    path: str = Field(
        description="the Indiana reports CSV (uid, MeSH, Problems, image, indication, comparison, findings, impression); ~, $VAR and ${VAR} are expanded"
    )


class OpenIXmlOptions(_OpenIOptions):
    path: str = Field(
        description="a folder or .tar(.gz) archive of NLM Open-I XML reports (ecgen-radiology/<n>.xml); ~, $VAR and ${VAR} are expanded"
    )


_CACHE: dict[tuple, OpenISource] = {}
_CACHE_SIZE = 4


class _OpenILoader(Loader):
    version = 1
    what: str  # "Open-I reports CSV" ...

    def _read(self, path: Path) -> list[Report]:
        raise NotImplementedError

    def _path(self, options: _OpenIOptions) -> Path:
        return resolve_path(options.path, self.what)

    def _projections_path(self, options: _OpenIOptions, path: Path) -> Path | None:
        if options.projections_path is not None:
            p = resolve_path(options.projections_path, "Open-I projections CSV")
            if not p.is_file():
                raise DataError(f"Open-I projections CSV {options.projections_path!r} ({p}) is not a file")
            return p
        default = path.parent / PROJECTIONS_FILE
        return default if default.is_file() else None

    def _source(self, path: Path) -> OpenISource:
        """The preprocessed reports of ``path``, cached by the source's sizes and modification times."""
        st = path.stat()
        key = (self.name, str(path.resolve()), tree_signature(path) if path.is_dir() else (st.st_size, st.st_mtime_ns))
        src = _CACHE.get(key)
        if src is None:
            src = preprocess(path, self._read(path))
            while len(_CACHE) >= _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = src
        return src

    def tasks(self, options: _OpenIOptions) -> list[TaskInfo]:
        return term_tasks(top_terms(self._source(self._path(options)), options.top_k)) + self._metadata_tasks(options)

    def _metadata_tasks(self, options: _OpenIOptions) -> list[TaskInfo]:
        return [projection_task()] if PROJECTION_TASK in options.metadata_tasks else []

    def fingerprint(self, options: _OpenIOptions) -> str:
        path = self._path(options)
        proj = self._projections_path(options, path)
        checksums = {"reports": source_checksum(path), "projections": file_sha256(proj) if proj else None}
        # metadata_tasks left out when empty: the fingerprints of specs written before the option stay the same
        drop = ("path", "projections_path") + (() if options.metadata_tasks else ("metadata_tasks",))
        return source_fingerprint(self, options, checksums, drop=drop)

    def build(self, options: _OpenIOptions, fingerprint: str) -> tuple[DatasetInfo, pa.Table]:
        path = self._path(options)
        src = self._source(path)
        terms = top_terms(src, options.top_k)
        tasks = term_tasks(terms)
        proj_path = self._projections_path(options, path)
        projections = read_projections(proj_path) if proj_path else {}
        meta_tasks = self._metadata_tasks(options)
        if meta_tasks and proj_path is None:
            raise DataError(
                f"{path}: the {PROJECTION_TASK!r} metadata task needs the projections CSV "
                f"(projections_path, or {PROJECTIONS_FILE} next to the reports)"
            )

        keys = [t.term.casefold() for t in terms]
        rows = [(r, text) for r, text in zip(src.kept, src.texts)]
        unindexed = sum(r.unindexed for r, _ in rows)
        if options.no_indexing == "drop":
            rows = [(r, text) for r, text in rows if not r.unindexed]
            if not rows:
                raise DataError(
                    f"{path}: every kept report is unindexed ({NO_INDEXING!r}); nothing is left with no_indexing: drop"
                )
        y = np.zeros((len(rows), len(terms)), dtype=np.int64)
        for i, (r, _) in enumerate(rows):
            if r.unindexed and options.no_indexing == "missing":
                y[i] = -1
                continue
            have = {t.casefold() for t in r.label_terms}
            y[i] = [k in have for k in keys]
        split = stratified_splits(
            y,
            val_fraction=options.val_fraction,
            test_fraction=options.test_fraction,
            seed=options.seed,
            order=options.stratification_order,
        )
        texts = [text for _, text in rows]
        x, vocabulary = bag_of_words_features(
            texts,
            split == "train",
            vocab_size=options.vocab_size,
            weighting=options.weighting,
            stop_words=options.stop_words,
            where=path,
        )

        def images(r: Report) -> list[str]:
            return list(r.images) or projections.get(r.uid, ([], set()))[0]

        extra_columns = {
            TEXT_COLUMN: texts,
            "exam": [clean_text(r.exam) for r, _ in rows],
            "projections": [";".join(sorted(projections.get(r.uid, ([], set()))[1])) for r, _ in rows],
            "images": [";".join(images(r)) for r, _ in rows],
            "indication": [clean_text(r.indication) for r, _ in rows],
            "comparison": [clean_text(r.comparison) for r, _ in rows],
        }
        labels = {t.name: y[:, k] for k, t in enumerate(tasks)}
        if meta_tasks:
            views = extra_columns["projections"]
            labels[PROJECTION_TASK] = np.array(
                [PROJECTION_CLASSES.index(v) if v in PROJECTION_CLASSES else -1 for v in views], dtype=np.int64
            )
        info = DatasetInfo(
            name="openi",
            tasks=tuple(tasks + meta_tasks),
            input_column=INPUT_COLUMN,
            input_dim=len(vocabulary),
            fingerprint=fingerprint,
            extra={
                "loader": self.name,
                "source": options.path,
                "projections_source": str(proj_path) if proj_path else None,
                "text_column": TEXT_COLUMN,
                "metadata_columns": list(METADATA_COLUMNS),
                "vocabulary": vocabulary,
                "weighting": options.weighting,
                "label_rule": "MeSH major headings (the part before the first '/'), merged case-insensitively; the top_k carried by the most "
                "kept reports are tasks; 'normal' is no task (a normal report has every label 0); "
                f"unindexed reports ('No Indexing'): {options.no_indexing}",
                "terms": [{"name": t.name, "term": t.term, "count": t.count} for t in terms],
                "distinct_terms": len(rank_terms(src.kept)),
                "reports": {
                    "read": src.read,
                    "dropped_empty_text": len(src.dropped_empty),
                    "dropped_duplicate_text": len(src.dropped_duplicate),
                    "duplicates_with_other_terms": src.duplicates_with_other_terms,
                    "unindexed": unindexed,
                    "dropped_unindexed": unindexed if options.no_indexing == "drop" else 0,
                    "kept": len(rows),
                },
                "split_method": f"train/val/test carved by iterative stratification (order {options.stratification_order}), seed {options.seed}",
                "splits": {
                    s: {
                        "size": int((split == s).sum()),
                        "positives": {t.name: int((y[split == s, k] == 1).sum()) for k, t in enumerate(tasks)},
                    }
                    for s in ("train", "val", "test")
                },
            },
        )
        table = build_table(
            info,
            [r.uid for r, _ in rows],
            split.tolist(),
            x,
            labels,
            extra_columns={k: pa.array(v, type=pa.string()) for k, v in extra_columns.items()},
        )
        return info, table


@register
class OpenICsvLoader(_OpenILoader):
    name = "openi_csv"
    Options = OpenICsvOptions
    what = "Open-I reports CSV"

    def _path(self, options: _OpenIOptions) -> Path:
        path = super()._path(options)
        if not path.is_file():
            raise DataError(f"{self.what} {options.path!r} ({path}) is not a file")
        return path

    def _read(self, path: Path) -> list[Report]:
        return read_reports_csv(path)


@register
class OpenIXmlLoader(_OpenILoader):
    name = "openi_xml"
    Options = OpenIXmlOptions
    what = "Open-I XML reports (folder or archive)"

    def _read(self, path: Path) -> list[Report]:
        return read_reports_xml(path)
