"""The canonical dataset table every loader writes and every trial reads.

One Parquet file per dataset: columns ``id`` (string), ``split`` (``train`` |
``val`` | ``test``), input columns (for numeric features one
``fixed_size_list<float32>`` column), optional extra columns (a text dataset
keeps each document's raw text in a string column, named by
``DatasetInfo.extra["text_column"]``) and one integer label column per task
(``-1`` = missing). What the columns mean (tasks, inputs, planted groups) is
kept as JSON in the Parquet schema metadata under the key ``mtlsearch``, so the
file is self-describing. Trials open it memory-mapped.

Inputs. ``DatasetInfo.inputs`` lists the table's inputs (:class:`InputInfo`:
``name``, ``kind`` = tabular | text | spectrogram | timeseries, per-example
``shape`` and ``column``). A numeric input is one ``fixed_size_list<float32>``
column holding each example flattened row-major (``[frames, mel]`` for a
spectrogram, ``[steps, channels]`` for a time series, ``[d]`` for tabular
features); a ``text`` input is a string column of raw text (``shape`` ``[]``:
the ``text`` encoder tokenizes it, :mod:`mtlsearch.data.tokens`).
``input_column`` / ``input_dim`` name the main numeric input, the one
:func:`read_splits` reads (single-input models use only it). A table written
before inputs were listed (no ``inputs`` in its metadata) reads as one input
derived from ``input_column``, ``input_dim`` and ``extra["feature_shape"]``
(a 2-D shape is a spectrogram), plus a ``text`` input when
``extra["text_column"]`` names a raw-text column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
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
InputKind = Literal["tabular", "text", "spectrogram", "timeseries"]
INPUT_KINDS: tuple[str, ...] = ("tabular", "text", "spectrogram", "timeseries")


@dataclass(frozen=True)
class InputInfo:
    """One input of a dataset: its ``name`` (what ``model.inputs`` keys), ``kind``, per-example ``shape`` and ``column``.

    ``shape``: ``[d]`` (tabular), ``[frames, mel_bins]`` (spectrogram), ``[steps, channels]`` or ``[length]``
    (timeseries), ``[]`` (text: a raw-text string column, tokenized by the ``text`` encoder).
    ``attributes``: the task names this input gives away (e.g. a patient table holding sex and age gives away
    the ``sex`` and ``age_group`` metadata tasks); a trial never trains such a task with this input.
    """

    name: str
    kind: InputKind
    shape: tuple[int, ...]
    column: str
    attributes: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"input {self.name!r}: kind must be one of {list(INPUT_KINDS)}, got {self.kind!r}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "attributes", tuple(self.attributes))
        if self.kind == "text" and self.shape:
            raise ValueError(f"input {self.name!r}: a text input is a raw-text column, its shape is [] (got {list(self.shape)})")
        if self.kind != "text" and (not self.shape or any(s <= 0 for s in self.shape)):
            raise ValueError(f"input {self.name!r}: a {self.kind} input needs a shape of positive sizes, got {list(self.shape)}")
        if self.kind == "spectrogram" and len(self.shape) != 2:
            raise ValueError(f"input {self.name!r}: a spectrogram's shape is [frames, mel_bins], got {list(self.shape)}")
        if self.kind == "timeseries" and len(self.shape) not in (1, 2):
            raise ValueError(f"input {self.name!r}: a time series' shape is [steps, channels] or [steps], got {list(self.shape)}")

    @property
    def width(self) -> int:
        """Floats per example in the table column (0 for a text input, whose width the tokenizer sets)."""
        return math.prod(self.shape) if self.kind != "text" else 0

    @classmethod
    def from_dict(cls, d: dict) -> "InputInfo":
        return cls(**{**d, "shape": tuple(d["shape"]), "attributes": tuple(d.get("attributes", ()))})


def derived_inputs(input_column: str, input_dim: int, extra: dict) -> tuple[InputInfo, ...]:
    """The inputs of a table written before inputs were listed: its one numeric column (a spectrogram when
    ``extra["feature_shape"]`` is 2-D and matches ``input_dim``), and its raw text (``extra["text_column"]``)."""
    shape = tuple(int(s) for s in extra.get("feature_shape") or ())
    if not shape or math.prod(shape) != input_dim:
        shape = (int(input_dim),)
    kind = "spectrogram" if len(shape) == 2 else "tabular"
    out = [InputInfo(input_column, kind, shape, input_column)]
    text = extra.get("text_column")
    if text and text != input_column:
        out.append(InputInfo(text, "text", (), text))
    return tuple(out)


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
    """What a canonical table holds: its tasks, its inputs and (synthetic data) the planted groups.

    ``input_column``/``input_dim``: the main numeric input (what :func:`read_splits` reads).
    ``inputs``: every input (:class:`InputInfo`); left empty, it is derived from ``input_column``,
    ``input_dim`` and ``extra`` (:func:`derived_inputs`), so every loader written for one input still works.
    """

    name: str
    tasks: tuple[TaskInfo, ...]
    input_column: str
    input_dim: int
    fingerprint: str
    planted_groups: tuple[tuple[str, ...], ...] | None = None
    extra: dict = field(default_factory=dict)
    inputs: tuple[InputInfo, ...] = ()

    def __post_init__(self) -> None:
        inputs = tuple(i if isinstance(i, InputInfo) else InputInfo.from_dict(i) for i in self.inputs)
        if not inputs:
            inputs = derived_inputs(self.input_column, self.input_dim, self.extra)
        names = [i.name for i in inputs]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset {self.name!r}: input names must be distinct, got {names}")
        main = [i for i in inputs if i.column == self.input_column]
        if not main or main[0].kind == "text" or main[0].width != self.input_dim:
            raise ValueError(
                f"dataset {self.name!r}: input_column {self.input_column!r} (size {self.input_dim}) must be the column "
                f"of one numeric input of that size; the inputs are {[(i.name, i.column, list(i.shape)) for i in inputs]}"
            )
        object.__setattr__(self, "inputs", inputs)

    def input(self, name: str) -> InputInfo:
        """The input called ``name``; KeyError naming the known inputs."""
        for i in self.inputs:
            if i.name == name:
                return i
        raise KeyError(f"dataset {self.name!r} has no input {name!r}; its inputs are {self.input_names}")

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

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
            inputs=tuple(InputInfo.from_dict(i) for i in d.get("inputs", ())),  # absent (older tables): derived
        )


def build_table(
    info: DatasetInfo,
    ids: list[str],
    splits: list[str],
    features: np.ndarray | Mapping[str, np.ndarray],
    labels: dict[str, np.ndarray],
    extra_columns: dict[str, pa.Array] | None = None,
) -> pa.Table:
    """Assemble the canonical table from arrays (one row per example).

    ``features``: the main input's ``(n, input_dim)`` array, or a mapping from the name of every numeric
    input of ``info.inputs`` to its array ``(n, *shape)`` (or ``(n, prod(shape))``), each stored flattened
    row-major in its own ``fixed_size_list<float32>`` column. A ``text`` input's column is a string column
    given in ``extra_columns``. ``extra_columns`` (e.g. ``{"text": pa.array(texts, pa.string())}``) are
    kept next to the input columns; trials read only the input and label columns.
    """
    numeric = [i for i in info.inputs if i.kind != "text"]
    if not isinstance(features, Mapping):
        if len(numeric) != 1:
            raise ValueError(
                f"dataset {info.name!r} has {len(numeric)} numeric inputs {[i.name for i in numeric]}: "
                "pass features as a mapping {input name: array}"
            )
        features = {numeric[0].name: features}
    if set(features) != {i.name for i in numeric}:
        raise ValueError(
            f"build_table: features for inputs {sorted(features)}, but the dataset's numeric inputs are "
            f"{[i.name for i in numeric]}"
        )
    columns = {
        "id": pa.array(ids, type=pa.string()),
        "split": pa.array(splits, type=pa.string()),
    }
    for inp in numeric:
        array = np.asarray(features[inp.name])
        if array.shape[0] != len(ids) or math.prod(array.shape[1:]) != inp.width:
            raise ValueError(
                f"build_table: input {inp.name!r} has shape {list(inp.shape)} per example, got an array of shape "
                f"{list(array.shape)} for {len(ids)} rows"
            )
        if inp.column in columns:
            raise ValueError(f"input column {inp.column!r} collides with a reserved or input column")
        flat = pa.array(array.astype(np.float32, copy=False).reshape(-1), type=pa.float32())
        columns[inp.column] = pa.FixedSizeListArray.from_arrays(flat, inp.width)
    for name, column in (extra_columns or {}).items():
        if name in columns or name in info.task_names:
            raise ValueError(f"extra column {name!r} collides with a reserved, input or task column")
        columns[name] = column
    for inp in info.inputs:
        if inp.kind == "text" and inp.column not in columns:
            raise ValueError(f"build_table: text input {inp.name!r} needs its string column {inp.column!r} in extra_columns")
    input_columns = {i.column for i in info.inputs}
    for task in info.tasks:
        if task.name in RESERVED_COLUMNS or task.name in input_columns:
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


def read_input_splits(path: Path | str, names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Numeric inputs by name, each cut into train/val/test arrays ``(n, width)`` float32 (table order).

    Raises KeyError naming the dataset's inputs for an unknown name, ValueError for a text input
    (its token ids come from :mod:`mtlsearch.data.tokens`).
    """
    info = read_info(path)
    chosen = [info.input(n) for n in names]
    text = [i.name for i in chosen if i.kind == "text"]
    if text:
        raise ValueError(f"inputs {text} are raw text: their token ids come from the text encoder, not the table")
    table = pq.read_table(str(path), memory_map=True, columns=list(dict.fromkeys(["split", *(i.column for i in chosen)])))
    split = np.asarray(table.column("split").to_pylist())
    out: dict[str, dict[str, np.ndarray]] = {}
    for inp in chosen:
        col = table.column(inp.column).combine_chunks()
        x = col.values.to_numpy(zero_copy_only=False).reshape(len(table), inp.width)
        out[inp.name] = {s: x[split == s] for s in SPLITS}
    return out
