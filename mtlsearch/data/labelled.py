"""What the generic loaders (``table``, ``arff``) share: split carving, label checks, task descriptions, the table.

A generic loader reads its file into ids, an input matrix and one
:class:`~mtlsearch.data.label_values.LabelColumn` per task, then hands them to
:func:`labelled_table`, which:

1. **splits** the rows: a split the file gives (``split_column``) is kept; else
   test (``test_fraction`` of all rows) and val (``val_fraction`` of the rest)
   are carved by seeded iterative stratification (Sechidis et al., ECML PKDD
   2011; :mod:`mtlsearch.data.splits`) on the binary labels and the one-hot
   classes of the multiclass ones. With a ``group_column`` (a patient id) the
   *groups* are dealt out instead, each group carrying the labels any of its
   rows carries, so one patient's rows never straddle two splits;
2. **checks the labels** per split (:func:`check_positives`): a binary task with
   no positive in train, val or test is an error (it cannot be trained, selected
   or scored), one with fewer than ``min_positives`` in a split gets a warning
   naming it. ``drop_rare: true`` drops both kinds instead, and the log says
   which. For a multiclass task the warning names each class rarer than
   ``min_positives`` in a split; it is never dropped;
3. **describes the tasks** (``descriptions``: inline, or a YAML/CSV sidecar
   file; :func:`read_descriptions`) for embedding clustering;
4. builds the canonical table (:func:`mtlsearch.data.canonical.build_table`).

Nothing is written here: the cache writes the table only once it is built
(:func:`mtlsearch.data.registry.prepare`), so a failed load leaves every stored
table as it was.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field

from mtlsearch.data.canonical import SPLITS, DatasetInfo, TaskInfo, build_table
from mtlsearch.data.columns import unknown_column_message
from mtlsearch.data.label_values import LabelColumn
from mtlsearch.data.sources import SourceOptions, expand_path
from mtlsearch.data.splits import iterative_stratification
from mtlsearch.errors import DataError

log = logging.getLogger(__name__)

INPUT_COLUMN = "x"
"""The input column of a generic loader's table."""
MIN_POSITIVES = 5
"""Default ``min_positives``: a binary task with fewer positives in a split is named in a warning."""
BINARY_METRIC = "f1"
MULTICLASS_METRIC = "macro_f1"


class TaskDescription(BaseModel):
    """A task's readable title and description (embedded by ``grouping_methods.embedding``)."""

    model_config = ConfigDict(extra="forbid")
    title: str = ""
    description: str = ""


class LabelledOptions(SourceOptions):
    """Options of every generic loader: the file, the carved splits, the label checks, the descriptions."""

    path: str = Field(description="the data file: a local path (~, $VAR, ${VAR} expanded), http(s):// or s3://")
    val_fraction: float = Field(0.15, gt=0.0, lt=1.0, description="share of the non-test rows carved out as val")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="share of all rows carved out as test")
    min_positives: int = Field(
        MIN_POSITIVES, ge=0, description="a binary task with fewer positives than this in a split is named in a warning"
    )
    drop_rare: bool = Field(
        False, description="drop the tasks with fewer than min_positives positives in a split (the log says which)"
    )
    descriptions: dict[str, str | TaskDescription] | str | None = Field(
        None,
        description="task titles and descriptions: {task: text} or {task: {title, description}}, "
        "or a YAML file of that mapping or a CSV file with columns task, title, description (relative to the data file)",
    )


# ---------------------------------------------------------------- splits


def stratification_matrix(columns: Sequence[LabelColumn]) -> np.ndarray:
    """Rows × (binary tasks + classes of the multiclass tasks) boolean matrix the splits are stratified on."""
    parts = []
    for c in columns:
        if c.kind == "binary":
            parts.append((c.codes == 1)[:, None])
        else:
            parts.append(c.codes[:, None] == np.arange(len(c.classes))[None, :])
    return np.concatenate(parts, axis=1)


def carve_splits(
    columns: Sequence[LabelColumn],
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    order: int = 1,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """``train``/``val``/``test`` per row by iterative stratification; with ``groups``, whole groups go to one split."""
    y = stratification_matrix(columns)
    ratios = [(1 - test_fraction) * (1 - val_fraction), (1 - test_fraction) * val_fraction, test_fraction]
    names = np.array(SPLITS, dtype=object)
    if groups is None:
        return names[iterative_stratification(y, ratios, seed, order=order)]
    keys, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    per_group = np.zeros((len(keys), y.shape[1]), dtype=bool)
    np.logical_or.at(per_group, inverse, y)
    return names[iterative_stratification(per_group, ratios, seed, order=order)][inverse]


def carve_splits_for(columns: Sequence[LabelColumn], options: Any, groups: np.ndarray | None = None) -> np.ndarray:
    """:func:`carve_splits` with a loader's split options (``val_fraction``, ``test_fraction``, ``seed``,
    ``stratification_order``)."""
    return carve_splits(
        columns,
        val_fraction=options.val_fraction,
        test_fraction=options.test_fraction,
        seed=options.seed,
        order=options.stratification_order,
        groups=groups,
    )


def read_split_column(values: Sequence[object], mapping: dict[str, str], where: str, column: str, lines=None) -> np.ndarray:
    """The split of each row from a column whose values ``mapping`` names (default ``train``/``val``/``test``)."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        text = "" if v is None else str(v).strip()
        split = mapping.get(text, mapping.get(text.lower()))
        if split is None:
            line = f":{lines[i]}" if lines is not None else f" (row {i + 1})"
            known = ", ".join(f"{k!r}" for k in mapping)
            raise DataError(
                f"{where}{line}: split column {column!r}: value {text!r} is not a split (expected one of {known}; "
                "map your own values with split_values: {value: train|val|test})"
            )
        out[i] = split
    return out


def label_task_name(column: str, reserved: frozenset[str]) -> str:
    """The task of a label column is named by it, with ``_label`` appended where the name is a column of the table."""
    return f"{column}_label" if column in reserved else column


def row_ids(n: int) -> list[str]:
    """``row0``, ``row1``, ... zero-padded to one width: the ids of rows a file does not name."""
    width = len(str(n - 1))
    return [f"row{i:0{width}d}" for i in range(n)]


# ---------------------------------------------------------------- label checks


def _counts(column: LabelColumn, split: np.ndarray) -> dict[str, np.ndarray]:
    """Per split: positives (binary, shape (1,)) or examples per class (multiclass)."""
    out = {}
    for s in SPLITS:
        codes = column.codes[split == s]
        out[s] = (
            np.array([(codes == 1).sum()])
            if column.kind == "binary"
            else np.bincount(codes[codes >= 0], minlength=len(column.classes))
        )
    return out


def check_positives(
    columns: Sequence[LabelColumn], split: np.ndarray, where: str, *, min_positives: int, drop_rare: bool
) -> list[LabelColumn]:
    """The tasks to keep; errors for a binary task with no positive in a non-empty split, warnings for rare ones."""
    sizes = {s: int((split == s).sum()) for s in SPLITS}
    keep, dropped, rare, absent = [], [], [], []
    for c in columns:
        counts = _counts(c, split)
        if c.kind == "multiclass":
            for s in SPLITS:
                few = [f"{c.classes[k]!r} {n}" for k, n in enumerate(counts[s]) if sizes[s] and n < min_positives]
                if few:
                    log.warning(
                        "%s: multiclass task %r has classes rarer than min_positives %d in %s: %s",
                        where,
                        c.name,
                        min_positives,
                        s,
                        ", ".join(few),
                    )
            keep.append(c)
            continue
        pos = {s: int(counts[s][0]) for s in SPLITS}
        text = ", ".join(f"{s} {pos[s]}" for s in SPLITS)
        if any(sizes[s] and pos[s] == 0 for s in SPLITS):
            (dropped if drop_rare else absent).append(f"{c.name!r} ({text})")
            if drop_rare:
                continue
        elif any(sizes[s] and pos[s] < min_positives for s in SPLITS):
            if drop_rare:
                dropped.append(f"{c.name!r} ({text})")
                continue
            rare.append(f"{c.name!r} ({text})")
        keep.append(c)
    if absent:
        raise DataError(
            f"{where}: {'a task has' if len(absent) == 1 else f'{len(absent)} tasks have'} no positive in a split, so "
            f"{'it' if len(absent) == 1 else 'they'} cannot be trained, selected on val or scored on test: "
            f"{'; '.join(absent)} (positives per split); leave {'it' if len(absent) == 1 else 'them'} out of labels, "
            "or set drop_rare: true"
        )
    if rare:
        log.warning(
            "%s: %d task(s) have fewer than min_positives %d positives in a split (their scores will be noisy; "
            "drop_rare: true drops them): %s",
            where,
            len(rare),
            min_positives,
            "; ".join(rare),
        )
    if dropped:
        log.warning(
            "%s: drop_rare dropped %d task(s) with fewer than %d positives in a split: %s",
            where,
            len(dropped),
            min_positives,
            "; ".join(dropped),
        )
    if not keep:
        raise DataError(f"{where}: no task is left after drop_rare (min_positives {min_positives}); lower min_positives")
    return keep


# ---------------------------------------------------------------- descriptions


def read_descriptions(
    spec: dict[str, str | TaskDescription] | str | None, names: Sequence[str], base: Path | None, where: str
) -> dict[str, TaskDescription]:
    """Task name -> its title and description, from inline options or a YAML/CSV sidecar file (``base``: its folder)."""
    if spec is None:
        return {}
    source = where
    if isinstance(spec, str):
        path = descriptions_file(spec, base)
        if not path.is_file():
            raise DataError(f"{where}: descriptions: file {spec!r} ({path}) not found")
        source = str(path)
        spec = _read_description_file(path)
    out: dict[str, TaskDescription] = {}
    for name, value in spec.items():
        if name not in names:
            raise DataError(unknown_column_message(name, list(names), source, "descriptions", "task"))
        out[name] = value if isinstance(value, TaskDescription) else TaskDescription(description=str(value))
    return out


def descriptions_file(spec: dict | str | None, base: Path | None) -> Path | None:
    """The sidecar file a ``descriptions`` option names (its content goes into the table's fingerprint), or None."""
    if not isinstance(spec, str):
        return None
    path = Path(expand_path(spec))
    return base / path if not path.is_absolute() and base is not None else path


def _read_description_file(path: Path) -> dict[str, str | TaskDescription]:
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            fields = [h.strip() for h in reader.fieldnames or []]
            key = next((k for k in ("task", "name", "label") if k in fields), None)
            if key is None or not {"title", "description"} & set(fields):
                raise DataError(
                    f"{path}:1: a descriptions CSV needs a column task (or name) and title and/or description (header: {', '.join(fields)})"
                )
            return {
                row[key].strip(): TaskDescription(
                    title=(row.get("title") or "").strip(), description=(row.get("description") or "").strip()
                )
                for row in reader
                if row.get(key)
            }
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a YAML mapping of task descriptions ({e})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a mapping task -> description or {{title, description}}, found {type(data).__name__}")
    out: dict[str, str | TaskDescription] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            try:
                out[str(name)] = TaskDescription(**value)
            except Exception as e:
                raise DataError(f"{path}: task {name!r}: expected title and/or description ({e})") from None
        else:
            out[str(name)] = str(value)
    return out


# ---------------------------------------------------------------- the table


def task_info(column: LabelColumn, description: TaskDescription | None) -> TaskInfo:
    d = description or TaskDescription()
    metric = BINARY_METRIC if column.kind == "binary" else MULTICLASS_METRIC
    return TaskInfo(column.name, column.kind, column.classes, description=d.description, title=d.title, metric=metric)


def split_summary(columns: Sequence[LabelColumn], split: np.ndarray) -> dict:
    """Per split: its size and, per task, its positives (binary) or examples per class (multiclass)."""
    counts = {c.name: _counts(c, split) for c in columns}
    out = {}
    for s in SPLITS:
        positives = {}
        for c in columns:
            n = counts[c.name][s]
            positives[c.name] = int(n[0]) if c.kind == "binary" else {cls: int(v) for cls, v in zip(c.classes, n)}
        out[s] = {"size": int((split == s).sum()), "positives": positives}
    return out


def labelled_table(
    *,
    name: str,
    where: str,
    ids: list[str],
    split: np.ndarray,
    x: np.ndarray,
    columns: Sequence[LabelColumn],
    descriptions: dict[str, TaskDescription],
    fingerprint: str,
    extra: dict,
    extra_columns: dict[str, pa.Array] | None = None,
) -> tuple[DatasetInfo, pa.Table]:
    """The canonical table and its description (the tasks already checked by :func:`check_positives`)."""
    tasks = tuple(task_info(c, descriptions.get(c.name)) for c in columns)
    info = DatasetInfo(
        name=name,
        tasks=tasks,
        input_column=INPUT_COLUMN,
        input_dim=int(x.shape[1]),
        fingerprint=fingerprint,
        extra={**extra, "splits": split_summary(columns, split)},
    )
    labels = {c.name: c.codes for c in columns}
    return info, build_table(info, ids, [str(s) for s in split], x, labels, extra_columns=extra_columns)
