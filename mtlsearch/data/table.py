"""``loader: table``: any labelled table (CSV, TSV, Parquet, JSON Lines) as a multitask dataset.

The file (a local path, ``http(s)://`` or ``s3://``, through
:func:`~mtlsearch.data.sources.resolve_path`: checksums, download cache,
progress) is read by :mod:`mtlsearch.data.table_files`. Its columns play these
parts:

**Tasks**, one of:

* ``labels``: column names or globs (``"Class-*"``), one task per column, named
  by the column; values 0/1, true/false, yes/no (binary) or class strings
  (multiclass), blank or NA missing (:mod:`mtlsearch.data.label_values`).
  ``kinds: {column: binary|multiclass}`` overrides the inferred kind;
* ``multilabel_column`` + ``delimiter``: one column listing each row's labels
  (``"Lung;Opacity"``, or a JSON/Parquet list ``["Lung", "Opacity"]``, where an
  empty list is a row with no label and a null one with unknown labels). Every label is a binary task, spelt as most rows spell
  it (labels that differ only in case are one), ranked by the rows carrying it
  (ties: alphabetical); ``top_k`` keeps the most frequent. A blank cell means
  the row's labels are unknown (``-1``); ``none_values`` are labels that mean
  "no finding" (``normal``: all 0, never a task); ``missing_values`` are
  labels that mean "not labelled" (``No Indexing``: ``-1``). Task names are the
  labels with every run of characters other than letters and digits made
  ``_`` (``Pulmonary Atelectasis`` -> ``Pulmonary_Atelectasis``).

A task name that is a column of the canonical table (``id``, ``split``, ``x``,
``text``) gets ``_label`` appended.

**Inputs** (the canonical table's ``x``, concatenated in this order):

* ``features``: numeric columns, as names or globs; a Parquet or JSON column of
  number lists is a vector, flattened. Default: every numeric column that is no
  label, id, split, group, text or audio column — or none when ``text`` or
  ``audio`` is set. A listed column with a value that is not a number is an
  error; a constant one is named in a warning;
* ``text``: a column of raw text, kept as the table's ``text`` column for
  ``text`` encoders, and (``bag_of_words: true``) a bag-of-words vector over
  the ``vocab_size`` terms found in the most *training* rows;
* ``audio``: a column of WAV paths (relative to the table's folder), each clip
  turned into log-mel filterbanks by the ICBHI pipeline (its options:
  :class:`~mtlsearch.data.audio_options.AudioFeatureOptions`); the spectrogram
  is then the whole input (for ``cnn``/``ast``), so ``features`` and the bag of
  words must be off.

**Rows**: ``id_column`` (default: the row number; a repeated or blank id is an
error naming both lines); ``split_column`` with values ``train``/``val``/``test``
(``split_values`` maps your own), else carved by iterative stratification
(``val_fraction``, ``test_fraction``, ``seed``), keeping each
``group_column`` value (a patient) in one split. The label checks, the
descriptions and the table: :mod:`mtlsearch.data.labelled`.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from mtlsearch.data.audio_options import AudioFeatureOptions
from mtlsearch.data.canonical import RESERVED_COLUMNS, DatasetInfo, TaskInfo
from mtlsearch.data.columns import column_safe_name, select_columns, unknown_column_message
from mtlsearch.data.label_values import MISSING_TOKENS, LabelColumn, label_text, parse_label_column
from mtlsearch.data.labelled import (
    INPUT_COLUMN,
    LabelledOptions,
    TaskDescription,
    carve_splits_for,
    check_positives,
    descriptions_file,
    label_task_name,
    labelled_table,
    read_descriptions,
    read_split_column,
    row_ids,
    task_info,
)
from mtlsearch.data.loader import Loader, register
from mtlsearch.data.sources import BagOfWordsOptions, bag_of_words_features, file_sha256, resolve_file, source_fingerprint
from mtlsearch.data.table_files import RawTable, TableFormat, read_table_file
from mtlsearch.errors import DataError

log = logging.getLogger(__name__)

TEXT_COLUMN = "text"
TAKEN_COLUMNS = frozenset({*RESERVED_COLUMNS, INPUT_COLUMN, TEXT_COLUMN})
DEFAULT_SPLIT_VALUES = {"train": "train", "val": "val", "test": "test"}


class TableOptions(LabelledOptions, BagOfWordsOptions, AudioFeatureOptions):
    format: TableFormat = Field("auto", description="csv, tsv, parquet or jsonl; auto: from the file name")
    labels: list[str] | None = Field(None, description="label columns (names or globs), one task each")
    kinds: dict[str, Literal["binary", "multiclass"]] = Field(
        default_factory=dict, description="the kind of a label column, where the values would say otherwise"
    )
    multilabel_column: str | None = Field(None, description="one column listing each row's labels (instead of labels)")
    delimiter: str = Field(";", min_length=1, description="separates the labels in multilabel_column")
    top_k: int | None = Field(None, ge=1, description="multilabel_column: keep the top_k most frequent labels")
    none_values: list[str] = Field(default_factory=list, description="multilabel_column: labels that mean no finding (all 0)")
    missing_values: list[str] = Field(
        default_factory=list, description="more values that mean missing (-1), besides blank, NA, N/A, NaN, null, None, ?"
    )
    features: list[str] | None = Field(
        None, description="numeric input columns (names or globs); default: every numeric column not used otherwise"
    )
    text: str | None = Field(None, description="a column of raw text (text encoders; and a bag of words)")
    bag_of_words: bool = Field(True, description="with text: add a bag-of-words vector of it to the input")
    audio: str | None = Field(None, description="a column of WAV paths, relative to the table's folder")
    id_column: str | None = Field(None, description="the rows' ids (default: the row number)")
    split_column: str | None = Field(None, description="the rows' splits (default: carved by iterative stratification)")
    split_values: dict[str, Literal["train", "val", "test"]] | None = Field(
        None, description="split_column value -> split (default: train, val, test)"
    )
    group_column: str | None = Field(None, description="carved splits keep all rows of one value (a patient) in one split")

    @model_validator(mode="after")
    def _one_label_source(self) -> "TableOptions":
        if (self.labels is None) == (self.multilabel_column is None):
            raise ValueError("give exactly one of labels (label columns) and multilabel_column (one column of label lists)")
        if self.multilabel_column is None and (self.top_k is not None or self.none_values):
            raise ValueError("top_k and none_values apply to multilabel_column only")
        if self.split_values is not None and self.split_column is None:
            raise ValueError("split_values needs split_column")
        if self.split_column is not None and self.group_column is not None:
            raise ValueError("group_column shapes carved splits; with split_column the splits are given")
        return self


def _task_name(label: str, taken: set[str]) -> str:
    """A column-safe, unique (case-insensitive) task name for a label."""
    return column_safe_name(label, taken, frozenset(c.casefold() for c in TAKEN_COLUMNS))


def _require(raw: RawTable, column: str | None, option: str) -> None:
    if column is not None and column not in raw.values:
        raise DataError(unknown_column_message(column, raw.columns, raw.path, option))


class _Labels:
    """What the labels give, before any input is built: the tasks, the ids and the splits (cached per file and options)."""

    def __init__(self, raw: RawTable, columns: list[LabelColumn], titles: dict[str, str], ids: list[str], split: np.ndarray):
        self.raw, self.columns, self.titles, self.ids, self.split = raw, columns, titles, ids, split


def _missing(options: TableOptions) -> set[str]:
    return {v.strip().lower() for v in options.missing_values}


def _label_columns(raw: RawTable, options: TableOptions) -> tuple[list[LabelColumn], dict[str, str]]:
    extra_missing = _missing(options)
    if options.labels is not None:
        names = select_columns(options.labels, raw.columns, raw.path, "labels")
        for k in options.kinds:
            if k not in names:
                raise DataError(unknown_column_message(k, names, raw.path, "kinds", "label column"))
        out = []
        for name in names:
            values = raw.values[name]
            if extra_missing:
                values = [None if label_text(v) is not None and label_text(v).lower() in extra_missing else v for v in values]
            col = parse_label_column(name, values, raw.path, options.kinds.get(name, "auto"), raw.lines)
            out.append(LabelColumn(label_task_name(name, TAKEN_COLUMNS), col.kind, col.classes, col.codes))
        return out, {}
    return _multilabel_columns(raw, options, extra_missing)


def _multilabel_columns(
    raw: RawTable, options: TableOptions, extra_missing: set[str]
) -> tuple[list[LabelColumn], dict[str, str]]:
    _require(raw, options.multilabel_column, "multilabel_column")
    none = {v.strip().casefold() for v in options.none_values}
    missing = extra_missing | MISSING_TOKENS
    rows: list[set[str] | None] = []
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for value in raw.values[options.multilabel_column]:
        listed = isinstance(value, (list, tuple, np.ndarray))  # a JSON or Parquet list of labels: [] is no label
        if listed:
            labels = [t for t in (label_text(v) for v in value) if t]
        else:
            labels = [p.strip() for p in (label_text(value) or "").split(options.delimiter) if p.strip()]
        if (not labels and not listed) or any(p.lower() in missing for p in labels):
            rows.append(None)
            continue
        keys = {p.casefold() for p in labels if p.casefold() not in none}
        rows.append(keys)
        for p in labels:
            if p.casefold() not in none:
                spellings.setdefault(p.casefold(), Counter())[p] += 1
        counts.update(keys)
    ranked = sorted(counts, key=lambda k: (-counts[k], k))
    if not ranked:
        raise DataError(
            f"{raw.path}: multilabel_column {options.multilabel_column!r} holds no label (delimiter {options.delimiter!r})"
        )
    if options.top_k is not None:
        if options.top_k > len(ranked):
            raise DataError(
                f"{raw.path}: multilabel_column {options.multilabel_column!r}: top_k is {options.top_k} but the column holds only "
                f"{len(ranked)} distinct labels"
            )
        ranked = ranked[: options.top_k]
    taken: set[str] = set()
    columns, titles = [], {}
    for key in ranked:
        spelt = spellings[key].most_common(1)[0][0]
        codes = np.array([-1 if r is None else int(key in r) for r in rows], dtype=np.int64)
        name = _task_name(spelt, taken)
        titles[name] = spelt
        columns.append(LabelColumn(name, "binary", ("negative", "positive"), codes))
    return columns, titles


def _ids(raw: RawTable, options: TableOptions) -> list[str]:
    if options.id_column is None:
        return row_ids(raw.num_rows)
    _require(raw, options.id_column, "id_column")
    ids: list[str] = []
    first: dict[str, int] = {}
    for i, v in enumerate(raw.values[options.id_column]):
        text = label_text(v)
        if text is None:
            raise DataError(f"{raw.where(i)}: id_column {options.id_column!r} is blank")
        if text in first:
            raise DataError(
                f"{raw.where(i)}: id {text!r} (id_column {options.id_column!r}) repeats the id of {raw.where(first[text])}"
            )
        first[text] = i
        ids.append(text)
    return ids


def _split(raw: RawTable, options: TableOptions, columns: list[LabelColumn]) -> np.ndarray:
    if options.split_column is not None:
        _require(raw, options.split_column, "split_column")
        mapping = options.split_values or DEFAULT_SPLIT_VALUES
        return read_split_column(raw.values[options.split_column], mapping, raw.path, options.split_column, raw.lines)
    groups = None
    if options.group_column is not None:
        _require(raw, options.group_column, "group_column")
        groups = np.array([label_text(v) or "" for v in raw.values[options.group_column]], dtype=object)
    return carve_splits_for(columns, options, groups)


def _numeric(values, column: str, raw: RawTable, strict: bool) -> np.ndarray | None:
    """A column as a (rows × width) float32 matrix; ``None`` (not strict) or a DataError (strict) if it is not numeric."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float32).reshape(len(values), 1)
    first = next((v for v in values if v is not None), None)
    if isinstance(first, (list, tuple)):
        width = len(first)
        out = np.empty((len(values), width), dtype=np.float32)
        for i, v in enumerate(values):
            if not isinstance(v, (list, tuple)) or len(v) != width:
                if not strict:
                    return None
                raise DataError(f"{raw.where(i)}: feature column {column!r}: expected a list of {width} numbers, found {v!r:.60}")
            out[i] = v
        return out
    out = np.empty(len(values), dtype=np.float32)
    for i, v in enumerate(values):
        try:
            if isinstance(v, str):
                v = v.strip()
            out[i] = float(v) if v not in (None, "") and not isinstance(v, bool) else float("nan")
        except (TypeError, ValueError):
            if not strict:
                return None
            raise DataError(
                f"{raw.where(i)}: feature column {column!r} is not numeric: value {v!r:.60} (features are numbers; "
                "give a text column as text:, a label as labels:)"
            ) from None
        if not np.isfinite(out[i]):
            if not strict:
                return None
            raise DataError(
                f"{raw.where(i)}: feature column {column!r}: the value {v!r} is missing or not finite; fill it or leave the column out"
            )
    return out[:, None]


def _feature_columns(raw: RawTable, options: TableOptions, used: set[str]) -> tuple[list[str], list[np.ndarray]]:
    if options.features is not None:
        names = select_columns(options.features, raw.columns, raw.path, "features")
        clash = [n for n in names if n in used]
        if clash:
            raise DataError(
                f"{raw.path}: features: column(s) {', '.join(map(repr, clash))} are already labels, id, split, group, text or audio"
            )
        return names, [_numeric(raw.values[n], n, raw, strict=True) for n in names]
    if options.text is not None or options.audio is not None:
        return [], []
    names, blocks, skipped = [], [], []
    for n in raw.columns:
        if n in used:
            continue
        block = _numeric(raw.values[n], n, raw, strict=False)
        if block is None:
            skipped.append(n)
        else:
            names.append(n)
            blocks.append(block)
    if skipped:
        log.info("%s: columns left out of the default features (not all numeric): %s", raw.path, ", ".join(skipped))
    return names, blocks


def _audio_features(raw: RawTable, options: TableOptions) -> tuple[np.ndarray, dict]:
    from mtlsearch.data import audio as audio_mod
    from mtlsearch.data.icbhi_features import cycle_features

    _require(raw, options.audio, "audio")
    base = Path(raw.path).parent
    frames = audio_mod.num_frames(int(round(options.cycle_seconds * options.sample_rate)), options.sample_rate)
    if frames == 0:
        raise DataError(f"cycle_seconds {options.cycle_seconds} is shorter than one 25 ms frame")
    x = np.empty((raw.num_rows, frames * options.num_mel_bins), dtype=np.float32)
    for i, v in enumerate(raw.values[options.audio]):
        text = label_text(v)
        if text is None:
            raise DataError(f"{raw.where(i)}: audio column {options.audio!r} is blank (expected a WAV path)")
        wav = Path(text) if Path(text).is_absolute() else base / text
        if not wav.is_file():
            raise DataError(f"{raw.where(i)}: audio column {options.audio!r}: WAV file {text!r} ({wav}) not found")
        span = (0.0, 1e9, Path(raw.path), raw.lines[i] if raw.lines else i + 1)  # the whole clip
        x[i] = cycle_features(wav, [span], options)[0]
    extra = {
        "feature_shape": [frames, options.num_mel_bins],
        "feature_layout": "frames x mel bins, row-major (frame t, bin m at t * num_mel_bins + m)",
        "sample_rate": options.sample_rate,
        "cycle_seconds": options.cycle_seconds,
        "padding": options.padding,
        "normalization": options.normalization,
    }
    return x, extra


_CACHE: dict[tuple, _Labels] = {}
_CACHE_SIZE = 4


@register
class TableLoader(Loader):
    name = "table"
    version = 1
    Options = TableOptions

    def _path(self, options: TableOptions) -> Path:
        return resolve_file(options.path, "data table")

    def _labels(self, options: TableOptions) -> _Labels:
        path = self._path(options)
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, options.model_dump_json())
        if key in _CACHE:
            return _CACHE[key]
        raw = read_table_file(path, options.format)
        for option in ("text", "audio", "group_column"):
            _require(raw, getattr(options, option), option)
        columns, titles = _label_columns(raw, options)
        ids = _ids(raw, options)
        split = _split(raw, options, columns)
        columns = check_positives(columns, split, raw.path, min_positives=options.min_positives, drop_rare=options.drop_rare)
        labels = _Labels(raw, columns, titles, ids, split)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = labels
        return labels

    def _descriptions(self, options: TableOptions, labels: _Labels):
        names = [c.name for c in labels.columns]
        descriptions = read_descriptions(options.descriptions, names, Path(labels.raw.path).parent, labels.raw.path)
        for name, title in labels.titles.items():  # a multilabel task's title is its label as written
            d = descriptions.get(name) or TaskDescription()
            if not d.title:
                descriptions[name] = d.model_copy(update={"title": title})
        return descriptions

    def tasks(self, options: TableOptions) -> list[TaskInfo]:
        labels = self._labels(options)
        descriptions = self._descriptions(options, labels)
        return [task_info(c, descriptions.get(c.name)) for c in labels.columns]

    def fingerprint(self, options: TableOptions) -> str:
        path = self._path(options)
        checksum: str | dict = file_sha256(path)
        sidecar = descriptions_file(options.descriptions, path.parent)
        if sidecar is not None and sidecar.is_file():  # an edited descriptions file rebuilds the table
            checksum = {"table": checksum, "descriptions": file_sha256(sidecar)}
        return source_fingerprint(self, options, checksum)

    def build(self, options: TableOptions, fingerprint: str) -> tuple[DatasetInfo, pa.Table]:
        labels = self._labels(options)
        raw, split = labels.raw, labels.split
        used = {
            c
            for c in (
                options.id_column,
                options.split_column,
                options.group_column,
                options.text,
                options.audio,
                options.multilabel_column,
            )
            if c
        }
        if options.labels is not None:
            used |= set(select_columns(options.labels, raw.columns, raw.path, "labels"))
        names, blocks = _feature_columns(raw, options, used)
        extra: dict = {"loader": self.name, "source": options.path, "format": raw.format}
        feature_names: list[str] = []
        for n, b in zip(names, blocks):
            feature_names += [n] if b.shape[1] == 1 else [f"{n}[{j}]" for j in range(b.shape[1])]
            if b.shape[0] and np.all(b == b[0]):
                log.warning(
                    "%s: feature column %r is constant (%s in every row): it carries no information", raw.path, n, b[0].tolist()
                )
        extra_columns = {}
        if options.text is not None:
            texts = [label_text(v) or "" for v in raw.values[options.text]]
            extra_columns[TEXT_COLUMN] = pa.array(texts, type=pa.string())
            extra["text_column"] = TEXT_COLUMN
            if options.bag_of_words:
                bow, vocabulary = bag_of_words_features(
                    texts,
                    split == "train",
                    vocab_size=options.vocab_size,
                    weighting=options.weighting,
                    stop_words=options.stop_words,
                    where=f"{raw.path}: text column {options.text!r}",
                )
                blocks.append(bow)
                feature_names += [f"{options.text}:{t}" for t in vocabulary]
                extra["vocabulary"] = vocabulary
        if options.audio is not None:
            if blocks:
                raise DataError(
                    f"{raw.path}: audio column {options.audio!r}: the spectrogram is the whole input, so features and the "
                    "bag of words must be off (features: [], bag_of_words: false)"
                )
            audio_x, audio_extra = _audio_features(raw, options)
            blocks.append(audio_x)
            extra.update(audio_extra)
        if not blocks:
            raise DataError(
                f"{raw.path}: no input: no numeric feature column besides the labels, and no text or audio column "
                "(set features:, text: or audio:)"
            )
        x = np.concatenate(blocks, axis=1)
        if "feature_shape" not in extra:
            extra["feature_names"] = feature_names
        extra["split_method"] = (
            f"split column {options.split_column!r}"
            if options.split_column
            else f"iterative stratification (order {options.stratification_order}), seed {options.seed}"
            + (f", whole groups of {options.group_column!r}" if options.group_column else "")
        )
        stem = Path(raw.path).name.split(".")[0]
        return labelled_table(
            name=stem,
            where=raw.path,
            ids=labels.ids,
            split=split,
            x=x,
            columns=labels.columns,
            descriptions=self._descriptions(options, labels),
            fingerprint=fingerprint,
            extra=extra,
            extra_columns=extra_columns,
        )
