"""``mtlsearch init DATA_FILE``: a commented spec that validates and launches as written, from a data file.

:func:`init_spec` reads the file's header and a sample (the first
:data:`SAMPLE_ROWS` rows of a table; an ARFF file's header) and infers:

* the **loader** from the suffix: ``.arff``/``.arff.gz`` is ``loader: arff``,
  anything :func:`~mtlsearch.data.table_files.table_format` knows is
  ``loader: table``;
* the **labels**: an ARFF file with MEKA's ``-C N`` (or a MULAN ``<stem>.xml``
  beside it) says which attributes are labels, and ``labels:`` is left out; a
  table needs ``--labels`` (names or globs) or ``--multilabel COLUMN``. Without
  them the :class:`~mtlsearch.errors.UsageError` lists the columns and the likely
  label columns (every sample value a binary token; or a column of delimited
  label lists) and shows the command to run;
* the **inputs**: every numeric column (the loader's default), ``--text`` (a
  text column: bag of words for the default ``mlp``; a ``text`` encoder is a
  commented alternative) or ``--audio`` (WAV paths: a ``cnn`` over log-mel
  spectrograms);
* the **rows**: a column named ``split`` holding train/val/test is the
  ``split_column``; a column ``id``/``uid``/``*_id`` with unique values the
  ``id_column`` (an ``*_id`` column that repeats is suggested as ``--group``);
  ``--group COLUMN`` keeps each value's rows in one carved split.

It then builds the dataset with the loader's own code (the whole file, nothing
written), so the summary shows what a launch will train on: the tasks and their
positives per split, the input width, the splits, and the loader's warnings.
The spec is rendered from a template (so each section keeps its one-line
comment), written next to its destination, validated by
:func:`mtlsearch.spec.load_spec`, and only then moved into place; an existing
file is replaced only with ``force``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mtlsearch.data.canonical import SPLITS, DatasetInfo
from mtlsearch.data.label_values import FALSE_TOKENS, TRUE_TOKENS, label_text
from mtlsearch.data.table_files import RawTable, read_table_file, table_format
from mtlsearch.errors import DataError, MtlsearchError, UsageError
from mtlsearch.logs import ROOT

log = logging.getLogger(__name__)

SAMPLE_ROWS = 500
"""Rows of a table read to detect label, id and split columns."""

MAX_GROUPS = 6
"""The largest k the search tries (fewer with fewer tasks: at most tasks - 1)."""

SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}
"""Values of a ``split`` column that init recognises, and the split each one is."""

_ID_NAME = re.compile(r"(?i)(id|uid|.+_id)")
_COMMENT_COLUMN = 38  # where the comments of the YAML start, as in search_spaces/quickstart.yaml


@dataclass
class InitRequest:
    """The ``mtlsearch init`` arguments."""

    data_file: str
    labels: list[str] | None = None
    multilabel: str | None = None
    delimiter: str | None = None
    top_k: int | None = None
    text: str | None = None
    audio: str | None = None
    group: str | None = None
    out: str | None = None
    force: bool = False


@dataclass
class Inferred:
    """What init chose: the loader, its options (in the order the YAML lists them) and why."""

    format: str
    loader: str
    options: dict
    notes: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)


@dataclass
class InitResult:
    """The written spec, its text, the dataset it describes and the summary printed for it."""

    out: Path
    text: str
    info: DatasetInfo
    summary: str


# ---------------------------------------------------------------- the file


def file_format(path: Path) -> str:
    """``arff`` for ``.arff``/``.arff.gz``, else the table format of the suffix (a DataError when unknown)."""
    name = path.name.lower()
    if name.endswith(".arff") or name.endswith(".arff.gz"):
        return "arff"
    try:
        return table_format(path)
    except DataError as e:
        raise DataError(f"{e}; for an ARFF file use the suffix .arff or .arff.gz") from None


def file_stem(path: Path) -> str:
    """The file name without ``.gz`` and its format suffix (``ds.v2.csv.gz`` -> ``ds.v2``)."""
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    return Path(name).stem or name


def experiment_name(path: Path) -> str:
    """An experiment name from the file stem: letters, digits, ``_``, ``.``, ``-``; starting with a letter or digit."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", file_stem(path)).lstrip("_.-")[:100]
    return name or "experiment"


# ---------------------------------------------------------------- columns of a table sample


def _texts(raw: RawTable, column: str) -> list[str]:
    return [t for t in (label_text(v) for v in raw.values[column]) if t is not None]


def binary_columns(raw: RawTable, skip: Sequence[str] = ()) -> list[str]:
    """The columns whose sample values are all binary tokens (0/1, yes/no, ...) and take both values."""
    out = []
    for c in raw.columns:
        if c in skip:
            continue
        present = {t.lower() for t in _texts(raw, c)}
        if present and present <= TRUE_TOKENS | FALSE_TOKENS and present & TRUE_TOKENS and present & FALSE_TOKENS:
            out.append(c)
    return out


def multilabel_columns(raw: RawTable, skip: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``(column, delimiter)`` of the string columns that look like label lists (``"a;b"`` in a fifth of the rows)."""
    out = []
    for c in raw.columns:
        texts = _texts(raw, c)
        if c in skip or not texts or any(not isinstance(v, str) for v in raw.values[c] if v is not None):
            continue
        for d in (";", "|"):
            with_d = [t for t in texts if d in t]
            if len(with_d) >= max(2, len(texts) // 5) and max(len(t) for t in texts) <= 200:
                out.append((c, d))
                break
    return out


def label_patterns(candidates: Sequence[str], columns: Sequence[str]) -> list[str]:
    """The ``--labels`` patterns for ``candidates``: one ``prefix*`` glob where it selects exactly them, else their names."""
    prefix = os.path.commonprefix(list(candidates))
    if len(candidates) > 1 and len(prefix) >= 2:
        glob = [c for c in columns if c.startswith(prefix)]
        if glob == list(candidates):
            return [f"{prefix}*"]
    return list(candidates)


def split_column(raw: RawTable) -> tuple[str, dict[str, str] | None] | None:
    """A column named ``split`` whose sample values are split names, with the ``split_values`` it needs (None: the defaults)."""
    for c in raw.columns:
        if c.lower() != "split":
            continue
        values = set(_texts(raw, c))
        if values and all(v.lower() in SPLIT_NAMES for v in values):
            if values <= set(SPLIT_NAMES.values()):
                return c, None
            mapping = {v: SPLIT_NAMES[v.lower()] for v in sorted(values)}
            for s in SPLITS:
                mapping.setdefault(s, s)
            return c, mapping
    return None


def id_columns(raw: RawTable, skip: Sequence[str] = ()) -> tuple[str | None, list[str]]:
    """The first ``id``/``uid``/``*_id`` column with unique sample values, and the ``*_id`` columns that repeat (groups)."""
    unique, repeated = None, []
    for c in raw.columns:
        if c in skip or not _ID_NAME.fullmatch(c):
            continue
        texts = [label_text(v) for v in raw.values[c]]
        if None not in texts and len(set(texts)) == len(texts):
            unique = unique or c
        elif c.lower() not in ("id", "uid"):
            repeated.append(c)
    return unique, repeated


def _require_column(raw: RawTable, column: str | None, flag: str) -> None:
    from mtlsearch.data.columns import unknown_column_message

    if column is not None and column not in raw.columns:
        raise UsageError(unknown_column_message(column, raw.columns, raw.path, flag))


def _no_labels_message(path: str, raw: RawTable, skip: Sequence[str], argv_rest: str) -> str:
    listed = ", ".join(raw.columns[:30]) + (f", ... ({len(raw.columns)} in all)" if len(raw.columns) > 30 else "")
    binary = binary_columns(raw, skip)
    lists = multilabel_columns(raw, skip)
    lines = [
        f"{path}: which columns are the labels? A table does not say: pass --labels (column names or globs, "
        f"one task each) or --multilabel COLUMN (one column of label lists)",
        f"  the file's columns: {listed}",
    ]
    if binary:
        lines.append(f"  likely label columns (every sample value 0/1, yes/no or true/false): {', '.join(binary)}")
        patterns = " ".join(f'"{p}"' if any(ch in p for ch in "*?[ ") else p for p in label_patterns(binary, raw.columns))
        lines.append(f"  e.g.: mtlsearch init {path} --labels {patterns}{argv_rest}")
    for c, d in lists:
        lines.append(
            f"  column {c!r} looks like label lists: mtlsearch init {path} --multilabel {c} --delimiter '{d}'{argv_rest}"
        )
    if not binary and not lists:
        lines.append("  no column looks like a label column in the first rows (binary values, or label lists)")
    return "\n".join(lines)


def infer_table(request: InitRequest, path: Path) -> Inferred:
    """The ``loader: table`` options for a CSV/TSV/Parquet/JSON Lines file, from its first :data:`SAMPLE_ROWS` rows."""
    fmt = table_format(path)
    raw = read_table_file(path, fmt, max_rows=SAMPLE_ROWS)
    for column, flag in ((request.multilabel, "--multilabel"), (request.text, "--text"), (request.audio, "--audio")):
        _require_column(raw, column, flag)
    _require_column(raw, request.group, "--group")
    notes: list[str] = []
    hints: list[str] = []
    split = split_column(raw)
    if split is not None and request.group is not None:
        notes.append(f"split_column: none; not {split[0]!r}, since --group {request.group} asks for carved splits")
        split = None
    skip = [c for c in (request.text, request.audio, request.group, request.multilabel, split and split[0]) if c]
    id_col, repeated = id_columns(raw, skip)
    skip += [id_col] if id_col else []
    if request.labels is None and request.multilabel is None:
        rest = "".join(f" --{k} {v}" for k, v in (("text", request.text), ("audio", request.audio)) if v)
        raise UsageError(_no_labels_message(request.data_file, raw, skip, rest))
    options: dict = {"path": str(path)}
    if request.labels is not None:
        from mtlsearch.data.columns import select_columns

        names = select_columns(request.labels, raw.columns, raw.path, "--labels")
        clash = [n for n in names if n in skip]
        if clash:
            raise UsageError(f"{path}: --labels selects {', '.join(map(repr, clash))}, used as id, split, group, text or audio")
        options["labels"] = list(request.labels)
    else:
        options["multilabel_column"] = request.multilabel
        options["delimiter"] = request.delimiter or ";"
        if request.top_k is not None:
            options["top_k"] = request.top_k
    if request.text:
        options["text"] = request.text
    if request.audio:
        options["audio"] = request.audio
    if id_col:
        options["id_column"] = id_col
        notes.append(f"id_column {id_col!r}: unique in the first {raw.num_rows} rows")
    if split is not None:
        options["split_column"] = split[0]
        if split[1] is not None:
            options["split_values"] = split[1]
        notes.append(f"split_column {split[0]!r}: its values are {', '.join(sorted(set(_texts(raw, split[0]))))}")
    else:
        if request.group:
            options["group_column"] = request.group
            notes.append(f"group_column {request.group!r}: each value's rows stay in one split")
        elif repeated:
            hints.append(
                f"column(s) {', '.join(map(repr, repeated))} repeat values: if rows of one value (a patient) must stay "
                f"in one split, rerun with --group {repeated[0]}"
            )
        options.update(val_fraction=0.15, test_fraction=0.2, seed=0)
    return Inferred(fmt, "table", options, notes, hints)


# ---------------------------------------------------------------- ARFF


def _arff_labels(patterns: list[str]) -> list[str] | dict:
    m = re.fullmatch(r"(first|last):(\d+)", patterns[0]) if len(patterns) == 1 else None
    return {m.group(1): int(m.group(2))} if m else list(patterns)


def infer_arff(request: InitRequest, path: Path) -> Inferred:
    """The ``loader: arff`` options: no ``labels`` when MEKA's ``-C`` says which attributes are labels."""
    from mtlsearch.data.arff import read_header

    for flag, value in (("--multilabel", request.multilabel), ("--text", request.text), ("--audio", request.audio)):
        if value:
            raise UsageError(f"{path}: {flag} applies to tables (CSV, TSV, Parquet, JSON Lines), not to ARFF files")
    if request.group:
        raise UsageError(f"{path}: --group applies to tables; the arff loader carves its splits row by row")
    header = read_header(path)
    options: dict = {"path": str(path)}
    notes: list[str] = []
    xml = path.parent / f"{file_stem(path)}.xml"
    if request.labels is not None:
        options["labels"] = _arff_labels(request.labels)
    else:
        try:
            count = header.meka_label_count()
            notes.append(
                f"labels: MEKA's -C {count} in the relation name: the {'first' if count > 0 else 'last'} {abs(count)} attributes"
            )
        except DataError:
            if xml.is_file():
                options["labels"] = {"mulan_xml": xml.name}
                notes.append(f"labels: the MULAN label file {xml.name} beside the ARFF file")
            else:
                binary = [a.name for a in header.attributes if a.type == "nominal" and set(a.values) == {"0", "1"}]
                names = [a.name for a in header.attributes]
                listed = ", ".join(names[:30]) + (f", ... ({len(names)} in all)" if len(names) > 30 else "")
                hint = ""
                if binary:
                    patterns = " ".join(f'"{p}"' if any(ch in p for ch in "*?[ ") else p for p in label_patterns(binary, names))
                    hint = f"\n  likely labels (declared {{0,1}}): {', '.join(binary[:30])}\n  e.g.: mtlsearch init {path} --labels {patterns}"
                raise UsageError(
                    f"{path}: the relation name {header.relation!r} has no MEKA -C option and there is no MULAN file {xml.name}: "
                    f"pass --labels (attribute names or globs, or first:N / last:N)\n  the file's attributes: {listed}{hint}"
                ) from None
    options.update(val_fraction=0.15, test_fraction=0.2, seed=0)
    return Inferred("arff", "arff", options, notes)


# ---------------------------------------------------------------- the dataset


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _warnings() -> Iterator[list[str]]:
    handler = _Collect()
    logger = logging.getLogger(ROOT)
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def build_dataset(inferred: Inferred) -> tuple[DatasetInfo, list[str]]:
    """Build the dataset with its loader (whole file, nothing written): its description and the warnings logged."""
    from mtlsearch.data.registry import get_loader

    loader = get_loader(inferred.loader)
    options = loader.Options.model_validate(inferred.options)
    with _warnings() as messages:
        try:
            info, _ = loader.build(options, "init")
        except DataError as e:
            column = inferred.options.get("id_column")
            if column is None or "id_column" not in str(e):
                raise
            del inferred.options["id_column"]  # unique in the sample, not in the file: row numbers instead
            inferred.notes[:] = [n for n in inferred.notes if not n.startswith("id_column")]
            inferred.notes.append(f"id_column: none (row numbers); {column!r} is not unique in the whole file ({e})")
            return build_dataset(inferred)
    return info, list(messages)


# ---------------------------------------------------------------- the spec


def hidden_dims(input_dim: int) -> list[int]:
    """An mlp's two widths for an input this wide: 64..256, a power of two near a quarter of it, then half that."""
    first = min(256, max(64, 2 ** math.ceil(math.log2(max(1, input_dim) / 4))))
    return [first, first // 2]


def max_groups(num_tasks: int) -> int:
    """The largest k the grouping search tries: ``min(MAX_GROUPS, tasks - 1)``, at least 2."""
    return max(2, min(MAX_GROUPS, num_tasks - 1))


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if re.fullmatch(r"[A-Za-z0-9_/][A-Za-z0-9_./-]*", s) and yaml.safe_load(s) == s:
        return s
    return json.dumps(s)  # a JSON string is a YAML double-quoted scalar


def to_yaml(v) -> str:
    """A value as one line of flow-style YAML."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {to_yaml(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(to_yaml(x) for x in v) + "]"
    return _scalar(v)


def _line(text: str, comment: str = "") -> str:
    if not comment:
        return text
    return f"{text.ljust(_COMMENT_COLUMN - 1)} # {comment}" if len(text) < _COMMENT_COLUMN - 1 else f"{text}   # {comment}"


_OPTION_COMMENTS = {
    "path": "the data file, as given to mtlsearch init, made absolute",
    "multilabel_column": "one column of label lists: every label is a binary task",
    "delimiter": "separates the labels of a row",
    "top_k": "keep the top_k most frequent labels",
    "text": "raw text: kept for text encoders, and a bag of words in the input",
    "audio": "WAV paths (relative to the table's folder): log-mel spectrograms are the input",
    "id_column": "the rows' ids (unique)",
    "split_column": "the file's own train/val/test split",
    "split_values": "split_column value -> split",
    "group_column": "each value's rows (a patient) stay in one carved split",
    "val_fraction": "carved by iterative stratification: this share of the non-test rows is val",
    "test_fraction": "and this share of all rows is test",
    "seed": "seed of the carved split",
}


def _labels_comment(inferred: Inferred, info: DatasetInfo) -> str:
    kinds = {t.kind for t in info.tasks}
    kind = "binary" if kinds == {"binary"} else "multiclass" if kinds == {"multiclass"} else "binary or multiclass"
    if inferred.loader == "arff":
        return f"the label attributes: {len(info.tasks)} {kind} tasks"
    return f"label columns (names or globs): {len(info.tasks)} {kind} tasks, one per column"


def render_spec(inferred: Inferred, info: DatasetInfo, experiment: str, data_name: str, out_name: str) -> str:
    """The spec's YAML text, one comment per section (as in ``search_spaces/quickstart.yaml``)."""
    options = inferred.options
    tasks = len(info.tasks)
    rows = sum(info.extra["splits"][s]["size"] for s in SPLITS)
    audio, text = options.get("audio"), options.get("text")
    grouped = tasks >= 3
    k = max_groups(tasks)
    o = []
    loader_comment = (
        "a MEKA/MULAN multi-label ARFF file; see `mtlsearch data inspect SPEC`"
        if inferred.loader == "arff"
        else f"a {inferred.format.upper()} table; see `mtlsearch data inspect SPEC`"
    )
    if inferred.loader == "arff" and "labels" not in options:
        o.append(_line("    # labels: left out: MEKA's -C option in the relation name says which attributes are labels"))
    for key, value in options.items():
        comment = _labels_comment(inferred, info) if key == "labels" else _OPTION_COMMENTS.get(key, "")
        o.append(_line(f"    {key}: {to_yaml(value)}", comment))
    if audio:
        encoder = _line("  encoder: {type: cnn}", "a small 2-D CNN over the (frames x mel bins) spectrograms")
        alternative = ""
    else:
        dims = hidden_dims(info.input_dim)
        encoder = _line(f"  encoder: {{type: mlp, hidden_dims: {to_yaml(dims)}}}", f"over the {info.input_dim} input columns")
        alternative = (
            _line(
                "  # encoder: {type: text}",
                "or fine-tune a transformer on the text column (bundled all-MiniLM-L6-v2; slow on CPU)",
            )
            + "\n"
            if text
            else ""
        )
    batch_size = 32 if audio else 64 if rows < 20000 else 128
    if grouped:
        architecture = "    architecture: {choice: [STL, MTL, GMHL, GMTL]}"
        grouping = (
            _line("    grouping:", "sampled only for GMHL / GMTL") + "\n"
            "      method: {choice: [embedding, head_coupling]}\n"
            + _line(f"      k: {{int: [2, {k}]}}", f"groups: 2 to min({MAX_GROUPS}, tasks - 1) of the {tasks} tasks")
            + "\n"
        )
        methods = (
            _line("grouping_methods:", "computed once before the search, stored, reused")
            + "\n"
            + _line("  embedding: {text: name}", "MTLV: k-medoids on the task names' embeddings (bundled all-MiniLM-L6-v2)")
            + "\n"
            + _line(
                "  head_coupling: {}",
                "how the tasks' heads share one all-task model; that run stops once the matrix settles",
            )
            + "\n\n"
        )
    else:
        architecture = _line(
            "    architecture: {choice: [STL, MTL]}",
            f"only {tasks} task(s): grouping them (GMHL, GMTL) makes no sense",
        )
        grouping, methods = "", ""
    return f"""\
# mtlsearch spec for {data_name}, written by `mtlsearch init`: {tasks} tasks, {rows} rows.
# Which tasks to train together, and how: single-task baselines (STL), one shared encoder (MTL),
# and task groups (GMHL: one head group each, GMTL: one encoder each) from the two grouping methods.
#     mtlsearch validate {out_name}
#     mtlsearch launch {out_name}
# then:  mtlsearch results {experiment}

experiment: {experiment}
seed: 0
{_line("storage: ./mtlsearch_results", "local folder (created if missing); --storage overrides it")}

dataset:
{_line(f"  loader: {inferred.loader}", loader_comment)}
  options:
{chr(10).join(o)}

{_line("model:", "the encoder of every sharing-plan group (and of the STL baselines)")}
{encoder}
{alternative}
{_line("train:", "fixed settings; the STL baselines use exactly these")}
  epochs: 10
  batch_size: {batch_size}
  lr: 0.001
{_line("  workers: 1", "1: the trial trains in its own Tune trial; 2+: DDP over Ray Train workers")}
{_line("  cpus_per_worker: 1", "a trial holds 1 CPU (torch uses 1 thread)")}

evaluation:
{_line("  thresholds: val_tuned", "binary decisions at each task's threshold chosen on val (fixed: p > 0.5)")}

{methods}search:
{_line("  num_samples: 16", "trials")}
{_line("  confirm: {top: 3, seeds: 3, each_architecture: true}", "then the top 3 by Δm(val), the best of each architecture and STL with 3 new seeds: Δm(test) ± 95%")}
{_line("  searcher: optuna", "Optuna TPE, seeded by `seed`")}
{_line("  scheduler: {enabled: true, grace_period: 2, reduction_factor: 2}", "ASHA on Δm(val)")}
  space:
{architecture}
{grouping}    lr: {{loguniform: [0.0003, 0.01]}}
"""


# ---------------------------------------------------------------- the summary


def _positives(info: DatasetInfo, task: str) -> str:
    splits = info.extra["splits"]
    per = [splits[s]["positives"][task] for s in SPLITS]
    if isinstance(per[0], dict):
        classes = list(per[0])
        return ", ".join(f"{c} {sum(p[c] for p in per)}" for c in classes)
    return f"{sum(per)} ({'/'.join(str(p) for p in per)})"


def summarize(inferred: Inferred, info: DatasetInfo, warnings: list[str], out: Path) -> str:
    """What init read and chose, the dataset a launch will train on, and the next commands."""
    splits = info.extra["splits"]
    rows = sum(splits[s]["size"] for s in SPLITS)
    options = inferred.options
    lines = [f"{options['path']}: {inferred.format}, {rows} rows; loader {inferred.loader}"]
    lines.append(f"tasks ({len(info.tasks)}): positives in all (train/val/test)")
    width = max(len(t.name) for t in info.tasks)
    for t in info.tasks:
        kind = "" if t.kind == "binary" else f"  [{t.kind}]"
        lines.append(f"  {t.name.ljust(width)}  {_positives(info, t.name)}{kind}")
    names = info.extra.get("feature_names") or []
    text = options.get("text")
    numeric = [n for n in names if not (text and n.startswith(f"{text}:"))]
    inputs = [f"{info.input_dim} input columns"]
    if numeric:
        inputs.append(f"{len(numeric)} numeric feature columns")
    if text:
        inputs.append(f"text {text!r} (bag of words: {len(names) - len(numeric)} terms)")
    if options.get("audio"):
        inputs.append(f"audio {options['audio']!r} (log-mel {info.extra.get('feature_shape')})")
    lines.append(f"inputs: {', '.join(inputs)}")
    sizes = ", ".join(f"{s} {splits[s]['size']}" for s in SPLITS)
    how = "given by the split column" if "split_column" in options else "carved by iterative stratification, seed 0"
    lines.append(f"splits: {sizes} ({how})")
    if inferred.notes:
        lines.append("chose:")
        lines += [f"  {n}" for n in inferred.notes]
    lines += [f"hint: {h}" for h in inferred.hints]
    lines += [f"warning: {w}" for w in warnings]
    lines.append(f"wrote {out} (validated)")
    lines.append("next:")
    lines.append(f"  mtlsearch validate {out}")
    lines.append(f"  mtlsearch launch {out}")
    return "\n".join(lines)


# ---------------------------------------------------------------- init


def _write_validated(text: str, out: Path) -> None:
    """Write ``text`` beside ``out``, validate it with ``load_spec``, then move it to ``out``."""
    from mtlsearch.spec import load_spec

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.init-tmp.yaml")
    tmp.write_text(text, encoding="utf-8")
    try:
        load_spec(tmp)
    except MtlsearchError as e:
        tmp.unlink(missing_ok=True)
        raise MtlsearchError(
            f"the spec mtlsearch init wrote for {out} does not validate (a bug in mtlsearch init): {e}"
        ) from None
    os.replace(tmp, out)


def init_spec(request: InitRequest) -> InitResult:
    """Infer a spec for ``request.data_file``, write it (validated) and return it with its summary."""
    path = Path(request.data_file).expanduser().absolute()
    if not path.is_file():
        raise DataError(f"{request.data_file}: no such file (expected a CSV, TSV, Parquet, JSON Lines or ARFF data file)")
    experiment = experiment_name(path)
    out = Path(request.out or f"{file_stem(path)}.yaml")
    if out.exists() and not request.force:
        raise UsageError(f"{out} exists; mtlsearch init does not overwrite it (pass --force, or --out another file)")
    if request.labels is not None and request.multilabel is not None:
        raise UsageError("give --labels (label columns) or --multilabel (one column of label lists), not both")
    if (request.top_k is not None or request.delimiter is not None) and request.multilabel is None:
        raise UsageError("--top-k and --delimiter apply to --multilabel only")
    if request.text and request.audio:
        raise UsageError("give --text or --audio, not both (an audio spectrogram is the whole input)")
    fmt = file_format(path)
    inferred = infer_arff(request, path) if fmt == "arff" else infer_table(request, path)
    log.debug("init %s: loader %s, options %s", path, inferred.loader, inferred.options)
    info, warnings = build_dataset(inferred)
    text = render_spec(inferred, info, experiment, path.name, str(out))
    _write_validated(text, out)
    return InitResult(out, text, info, summarize(inferred, info, warnings, out))
