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

Inputs (``info.inputs``, for ``model.inputs``): ``x`` (tabular bag of words), ``text`` (the
report, for a ``text`` encoder) and, with ``exam_features: true``, ``exam``: the projection and
exam-description flags of :mod:`mtlsearch.data.openi_exam` (column ``exam_features``; needs the
projections CSV; it gives away the ``projection`` task, so the two never meet in one trial).

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

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from mtlsearch.data.canonical import DatasetInfo, InputInfo, TaskInfo, build_table
from mtlsearch.data.loader import Loader, register
from mtlsearch.data.openi_csv_reader import PROJECTIONS_FILE, read_projections, read_reports_csv
from mtlsearch.data.openi_exam import EXAM_ATTRIBUTES, EXAM_COLUMNS, EXAM_FEATURES_COLUMN, EXAM_INPUT, exam_features
from mtlsearch.data.openi_labels import (
    DEFAULT_TOP_K,
    INPUT_COLUMN,
    METADATA_COLUMNS,
    PROJECTION_CLASSES,
    PROJECTION_TASK,
    TEXT_COLUMN,
    projection_task,
    rank_terms,
    term_tasks,
    top_terms,
)
from mtlsearch.data.openi_reports import NO_INDEXING, OpenISource, Report, clean_text, preprocess
from mtlsearch.data.openi_xml_reader import read_reports_xml
from mtlsearch.data.sources import (
    TextSourceOptions,
    bag_of_words_features,
    file_sha256,
    resolve_file,
    resolve_path,
    source_checksum,
    source_fingerprint,
    tree_signature,
)
from mtlsearch.data.splits import stratified_splits
from mtlsearch.errors import DataError

# ---------------------------------------------------------------- options and loaders


def _inputs(vocab: int, exam: bool) -> tuple[InputInfo, ...]:
    out = [
        InputInfo(INPUT_COLUMN, "tabular", (vocab,), INPUT_COLUMN, description="bag of words of the report"),
        InputInfo(TEXT_COLUMN, "text", (), TEXT_COLUMN, description="the report: findings, then impression"),
    ]
    if exam:
        out.append(
            InputInfo(
                EXAM_INPUT,
                "tabular",
                (len(EXAM_COLUMNS),),
                EXAM_FEATURES_COLUMN,
                attributes=EXAM_ATTRIBUTES,
                description="projection and exam-description flags: " + ", ".join(EXAM_COLUMNS),
            )
        )
    return tuple(out)


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

    exam_features: bool = Field(
        False,
        description="add the tabular input 'exam' (projection and exam-description flags, mtlsearch.data.openi_exam) "
        "beside the bag of words 'x' and the report 'text'",
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
            return resolve_file(options.projections_path, "Open-I projections CSV")
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
        drop += () if options.exam_features else ("exam_features",)  # likewise
        return source_fingerprint(self, options, checksums, drop=drop)

    def inputs(self, options: _OpenIOptions) -> tuple[InputInfo, ...]:
        """``x`` (bag of words; at most ``vocab_size`` wide: the built table has the terms found), ``text``
        (the report), and ``exam`` with ``exam_features``."""
        return _inputs(options.vocab_size, options.exam_features)

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
        features = {INPUT_COLUMN: x}
        if options.exam_features:
            if proj_path is None:
                raise DataError(
                    f"{path}: exam_features needs the projections CSV (projections_path, or {PROJECTIONS_FILE} next to the reports)"
                )
            features[EXAM_INPUT] = exam_features(extra_columns["exam"], [projections.get(r.uid, ([], set()))[1] for r, _ in rows])
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
            inputs=_inputs(len(vocabulary), options.exam_features),
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
            features,
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
        return resolve_file(options.path, self.what)

    def _read(self, path: Path) -> list[Report]:
        return read_reports_csv(path)


@register
class OpenIXmlLoader(_OpenILoader):
    name = "openi_xml"
    Options = OpenIXmlOptions
    what = "Open-I XML reports (folder or archive)"

    def _read(self, path: Path) -> list[Report]:
        return read_reports_xml(path)
