"""The canonical dataset table every loader writes and every trial reads.

One Parquet file per dataset: columns ``id`` (string), ``split`` (``train`` |
``val`` | ``test``), input columns (for numeric features one
``fixed_size_list<float32>`` column), optional extra columns (a text dataset
keeps each document's raw text in a string column, named by
``DatasetInfo.extra["text_column"]``) and one integer label column per task
(``-1`` = missing). What the columns mean (tasks, inputs, planted groups) is
kept as JSON in the Parquet schema metadata under the key ``mtlsearch``, so the
file is self-describing. Trials open it memory-mapped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mtlsearch.errors import DataError
from mtlsearch.store.atomic import atomic_write_table

SPLITS = ("train", "val", "test")
METADATA_KEY = b"mtlsearch"
RESERVED_COLUMNS = frozenset({"id", "split"})

TaskKind = Literal["binary", "multiclass"]
TaskRole = Literal["primary", "auxiliary", "metadata"]


@dataclass(frozen=True)
class TaskInfo:
    """One prediction task: what it predicts and how it is scored.

    ``title`` is the label's readable name where ``name`` is a code (embedding
    clustering embeds it). ``classes`` names the label values 0..C-1; a binary task has two classes and
    class 1 is the positive one. ``metric`` is the task's primary metric (a name in
    :data:`mtlsearch.metrics.task_metrics.METRICS`) and ``direction`` says whether higher
    (``max``) or lower (``min``) is better; Δm uses it.
    """

    name: str
    kind: TaskKind
    classes: tuple[str, ...]
    description: str = ""
    title: str = ""  # human-readable label name (e.g. a MeSH heading for "C01"); embedded by task-name clustering
    role: TaskRole = "primary"
    metric: str = "f1"
    direction: Literal["max", "min"] = "max"

    @property
    def num_outputs(self) -> int:
        """Logits the task's head emits: 1 for binary (sigmoid), C for multiclass (softmax)."""
        return 1 if self.kind == "binary" else len(self.classes)

    @classmethod
    def from_dict(cls, d: dict) -> "TaskInfo":
        return cls(**{**d, "classes": tuple(d["classes"])})


@dataclass(frozen=True)
class DatasetInfo:
    """What a canonical table holds: its tasks, its input column and (synthetic data) the planted groups."""

    name: str
    tasks: tuple[TaskInfo, ...]
    input_column: str
    input_dim: int
    fingerprint: str
    planted_groups: tuple[tuple[str, ...], ...] | None = None
    extra: dict = field(default_factory=dict)

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def task(self, name: str) -> TaskInfo:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)

    def primary_tasks(self) -> list[TaskInfo]:
        return [t for t in self.tasks if t.role == "primary"]

    def scored_by(self, metric: str) -> "DatasetInfo":
        """This dataset with every primary task scored by ``metric`` (``evaluation.metric``; higher is better),
        or unchanged for ``"task"`` (each task keeps its own metric)."""
        if metric == "task":
            return self
        tasks = tuple(replace(t, metric=metric, direction="max") if t.role == "primary" else t for t in self.tasks)
        return replace(self, tasks=tasks)

    def to_json(self) -> str:
        d = asdict(self)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DatasetInfo":
        d = json.loads(text)
        groups = d.get("planted_groups")
        return cls(
            name=d["name"],
            tasks=tuple(TaskInfo.from_dict(t) for t in d["tasks"]),
            input_column=d["input_column"],
            input_dim=d["input_dim"],
            fingerprint=d["fingerprint"],
            planted_groups=tuple(tuple(g) for g in groups) if groups is not None else None,
            extra=d.get("extra", {}),
        )


def build_table(
    info: DatasetInfo,
    ids: list[str],
    splits: list[str],
    features: np.ndarray,
    labels: dict[str, np.ndarray],
    extra_columns: dict[str, pa.Array] | None = None,
) -> pa.Table:
    """Assemble the canonical table from arrays (one row per example).

    ``extra_columns`` (e.g. ``{"text": pa.array(texts, pa.string())}``) are kept
    next to the input column; trials read only the input and label columns.
    """
    n, dim = features.shape
    flat = pa.array(features.astype(np.float32, copy=False).reshape(-1), type=pa.float32())
    columns = {
        "id": pa.array(ids, type=pa.string()),
        "split": pa.array(splits, type=pa.string()),
        info.input_column: pa.FixedSizeListArray.from_arrays(flat, dim),
    }
    for name, column in (extra_columns or {}).items():
        if name in columns or name in info.task_names:
            raise ValueError(f"extra column {name!r} collides with a reserved, input or task column")
        columns[name] = column
    for task in info.tasks:
        if task.name in RESERVED_COLUMNS or task.name == info.input_column:
            raise ValueError(f"task name {task.name!r} collides with a reserved column")
        columns[task.name] = pa.array(labels[task.name].astype(np.int64), type=pa.int64())
    table = pa.table(columns)
    return table.replace_schema_metadata({METADATA_KEY: info.to_json().encode()})


def write_table(table: pa.Table, path: Path | str) -> None:
    """Write a canonical table atomically (never a half-written file at ``path``)."""
    atomic_write_table(table, str(path))


def split_sizes(path: Path | str) -> dict[str, int]:
    """Rows per split (``train``, ``val``, ``test``) of a canonical table; reads only the split column."""
    column = pq.read_table(str(path), columns=["split"]).column("split").to_pylist()
    return {s: column.count(s) for s in SPLITS}


def check_splits(sizes: dict[str, int], where: str) -> list[str]:
    """Warnings for a table whose val or test split is empty; a :class:`DataError` when train is.

    Trials are selected on validation and reported on test, so an empty val
    split leaves Δm(val) undefined (NaN): ASHA cannot compare trials and the
    leaderboard cannot rank them.
    """
    if sizes["train"] == 0:
        raise DataError(f"{where}: the train split is empty ({_sizes_text(sizes)}); there is nothing to train on")
    out = []
    if sizes["val"] == 0:
        out.append(
            f"{where}: the val split is empty ({_sizes_text(sizes)}): Δm(val) will be NaN, so ASHA cannot compare "
            "trials and the leaderboard cannot rank them; this run can only show that every stage works"
        )
    if sizes["test"] == 0:
        out.append(f"{where}: the test split is empty ({_sizes_text(sizes)}): no test scores will be reported")
    return out


def _sizes_text(sizes: dict[str, int]) -> str:
    return ", ".join(f"{s} {sizes[s]}" for s in SPLITS)


def read_info(path: Path | str) -> DatasetInfo:
    """Read only the metadata of a canonical table."""
    schema = pq.read_schema(str(path))
    return DatasetInfo.from_json(schema.metadata[METADATA_KEY].decode())


@dataclass
class SplitArrays:
    """One split as arrays: features ``x`` (n × d float32) and labels ``y`` (n × T int64, -1 missing)."""

    x: np.ndarray
    y: np.ndarray


def read_splits(path: Path | str, task_names: list[str]) -> dict[str, SplitArrays]:
    """Read a canonical table memory-mapped and cut it into train/val/test arrays.

    Label columns come in the order of ``task_names``.
    """
    info = read_info(path)
    table = pq.read_table(str(path), memory_map=True, columns=list(dict.fromkeys(["split", info.input_column, *task_names])))
    col = table.column(info.input_column).combine_chunks()
    x = col.values.to_numpy(zero_copy_only=False).reshape(len(table), info.input_dim)
    y = np.stack([table.column(t).to_numpy() for t in task_names], axis=1) if task_names else np.zeros((len(table), 0), np.int64)
    split = np.asarray(table.column("split").to_pylist())
    return {s: SplitArrays(x=x[split == s], y=y[split == s]) for s in SPLITS}
