"""``loader: arff``: a MEKA or MULAN multi-label ARFF file as a multitask dataset.

Both toolkits store a multi-label dataset as one Weka ARFF file (dense or
sparse rows, read by :mod:`mtlsearch.data.arff`) whose label attributes are
ordinary attributes; they differ in how they say which attributes are labels:

* **MEKA** (Read et al., "MEKA: A Multi-label/Multi-target Extension to WEKA",
  JMLR 17(21), 2016) puts it in the relation name: ``@relation 'NAME: -C 23'``
  makes the first 23 attributes the labels, ``-C -23`` the last 23;
* **MULAN** (Tsoumakas et al., "MULAN: A Java Library for Multi-Label
  Learning", JMLR 12, 2011) keeps the label names in a separate XML file,
  ``<labels xmlns="http://mulan.sourceforge.net/labels"><label name="..."/>...</labels>``
  (labels may nest, for a hierarchy: every ``label`` element counts), and its
  files usually put the labels last.

``labels`` says which attributes are the tasks, one task each:

* left out: MEKA's ``-C`` option of the relation name (the labels in declaration order);
* ``{first: N}`` / ``{last: N}``: the first or last N attributes;
* a list of attribute names or globs (``["Class-*"]``): in the order the list
  gives them, a glob's matches in declaration order (:mod:`mtlsearch.data.columns`);
* ``{mulan_xml: PATH}``: the names in MULAN's label file (relative to the ARFF
  file's folder unless absolute), in the file's order.

A label declared nominal ``{0,1}`` (its stored values are indices into the
declaration, mapped back to the declared 0/1) or numeric holding only 0/1 is a
**binary** task; any other nominal label is a **multiclass** task whose classes
are its declared values, in declaration order. A label with one value in every
row is an error (nothing to learn). A label named ``id``, ``split`` or ``x``
(a column of the canonical table) becomes the task ``<name>_label``.

**Features** are every other attribute: a numeric one is kept as it is; a
nominal ``{0,1}`` one (many MULAN/MEKA word-presence features are declared so)
is kept as its 0/1 value; any other nominal feature is **one-hot encoded**, one
0/1 column per declared value named ``attr=value`` (the names are in
``extra["feature_names"]``), since its declared values have no order.

ARFF has no split: test (``test_fraction`` of all rows) and val
(``val_fraction`` of the rest) are carved by seeded iterative stratification,
then the label checks (``min_positives``, ``drop_rare``), the task
``descriptions`` and the table follow :mod:`mtlsearch.data.labelled`. Rows are
named ``row00000``, ``row00001``, ... in file order. ``tasks`` reads the header
only: it lists the selected labels before ``drop_rare`` could drop any.

Every problem is a :class:`~mtlsearch.errors.DataError` naming the file, the
option or attribute and what was expected.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mtlsearch.data.arff import ArffData, ArffHeader, Attribute, read_arff, read_header
from mtlsearch.data.canonical import RESERVED_COLUMNS, DatasetInfo, TaskInfo
from mtlsearch.data.columns import select_columns, unknown_column_message
from mtlsearch.data.download import is_url
from mtlsearch.data.label_values import BINARY_CLASSES, LabelColumn, parse_label_column
from mtlsearch.data.labelled import (
    INPUT_COLUMN,
    LabelledOptions,
    carve_splits_for,
    check_positives,
    descriptions_file,
    label_task_name,
    labelled_table,
    read_descriptions,
    row_ids,
    task_info,
)
from mtlsearch.data.loader import Loader, register
from mtlsearch.data.sources import expand_path, file_sha256, resolve_file, resolve_path, source_fingerprint
from mtlsearch.errors import DataError

log = logging.getLogger(__name__)

TAKEN_COLUMNS = frozenset({*RESERVED_COLUMNS, INPUT_COLUMN})
LABELS_HELP = "labels: {first: N}, {last: N}, a list of attribute names or globs, or {mulan_xml: PATH}"


# ---------------------------------------------------------------- options


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FirstLabels(_Strict):
    """The first N attributes are the labels (MEKA's ``-C N``)."""

    first: int = Field(ge=1)


class LastLabels(_Strict):
    """The last N attributes are the labels (MEKA's ``-C -N``; MULAN's usual layout)."""

    last: int = Field(ge=1)


class MulanLabels(_Strict):
    """The labels MULAN's label XML file names."""

    mulan_xml: str = Field(min_length=1)


LabelSelection = FirstLabels | LastLabels | MulanLabels | Annotated[list[str], Field(min_length=1)]
_LABEL_MODELS: dict[str, type[BaseModel]] = {"first": FirstLabels, "last": LastLabels, "mulan_xml": MulanLabels}


class ArffOptions(LabelledOptions):
    path: str = Field(description="the MEKA/MULAN ARFF file (.arff or .arff.gz): a local path, http(s):// or s3://")
    labels: LabelSelection | None = Field(
        None,
        description="the label attributes: {first: N}, {last: N}, names or globs, or {mulan_xml: PATH}; "
        "default: MEKA's -C option in the relation name",
    )

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_shape(cls, v: Any) -> Any:
        """One clear message for a value of the wrong shape (instead of one per union member)."""
        if v is None or isinstance(v, BaseModel):
            return v
        if isinstance(v, (list, tuple)):
            if not v or not all(isinstance(p, str) and p for p in v):
                raise ValueError(f"expected a non-empty list of attribute names or globs, got {list(v)!r}")
            return list(v)
        if isinstance(v, str):
            return [v]  # one name or glob
        if isinstance(v, dict):
            keys = [k for k in _LABEL_MODELS if k in v]
            if len(keys) != 1 or len(v) != 1:
                raise ValueError(f"expected {LABELS_HELP}; got a mapping with keys {sorted(map(str, v))}")
            return _LABEL_MODELS[keys[0]].model_validate(v)
        raise ValueError(f"expected {LABELS_HELP}; got {type(v).__name__} {v!r}")


# ---------------------------------------------------------------- which attributes are labels


def _meka_indices(header: ArffHeader) -> list[int]:
    try:
        return header.label_indices()
    except DataError as e:
        raise DataError(f"{e}; or set labels: in the spec's loader options ({LABELS_HELP})") from None


def mulan_label_names(path: Path) -> list[str]:
    """The ``name`` of every ``label`` element of a MULAN label file (nested ones too), in document order."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DataError(f"{path}: not a MULAN label XML file ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read the MULAN label XML file ({e.strerror or e})") from None

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    if local(root.tag) != "labels":
        raise DataError(f"{path}: the root element is <{local(root.tag)}>; a MULAN label file has <labels>")
    names: list[str] = []
    for el in root.iter():
        if local(el.tag) != "label":
            continue
        name = el.get("name")
        if not name:
            raise DataError(f"{path}: a <label> element has no name attribute")
        if name in names:
            raise DataError(f"{path}: label {name!r} is named twice")
        names.append(name)
    if not names:
        raise DataError(f"{path}: no <label name=...> element (expected MULAN's <labels><label name='...'/>...</labels>)")
    return names


def mulan_xml_path(spec: str, arff: Path) -> Path:
    """The local path of ``labels: {mulan_xml: PATH}`` (relative to the ARFF file's folder unless absolute or a URL)."""
    expanded = expand_path(spec)
    if not is_url(expanded) and not Path(expanded).is_absolute():
        expanded = str(arff.parent / expanded)
    path = resolve_path(expanded, "MULAN label XML file (labels: mulan_xml)")
    if not path.is_file():
        raise DataError(f"MULAN label XML file (labels: mulan_xml) {spec!r} ({path}) is not a file")
    return path


def label_indices(header: ArffHeader, labels: LabelSelection | None, path: Path) -> list[int]:
    """Attribute indices of the labels ``labels`` selects, in task order."""
    n = header.num_attributes
    names = [a.name for a in header.attributes]
    if labels is None:
        return _meka_indices(header)
    if isinstance(labels, (FirstLabels, LastLabels)):
        k = labels.first if isinstance(labels, FirstLabels) else labels.last
        if k >= n:
            option = f"{{{'first' if isinstance(labels, FirstLabels) else 'last'}: {k}}}"
            raise DataError(
                f"{path}: labels: {option} takes {k} attributes but the file declares {n} attributes "
                f"(expected at most {n - 1}, so that at least one is left as a feature)"
            )
        return list(range(k)) if isinstance(labels, FirstLabels) else list(range(n - k, n))
    if isinstance(labels, MulanLabels):
        xml = mulan_xml_path(labels.mulan_xml, path)
        index = {a: i for i, a in enumerate(names)}
        out = []
        for name in mulan_label_names(xml):
            if name not in index:
                raise DataError(unknown_column_message(name, names, f"{xml} (for {path})", "labels: mulan_xml", "attribute"))
            out.append(index[name])
        return out
    index = {a: i for i, a in enumerate(names)}
    return [index[a] for a in select_columns(labels, names, str(path), "labels", "attribute")]


def _is_01(attr: Attribute) -> bool:
    return attr.type == "nominal" and set(attr.values) == {"0", "1"} and len(attr.values) == 2


def task_name(attr: Attribute) -> str:
    return label_task_name(attr.name, TAKEN_COLUMNS)


def declared_task(attr: Attribute) -> LabelColumn:
    """The task a label attribute's declaration gives (no values read: empty codes)."""
    empty = np.zeros(0, dtype=np.int64)
    if attr.type == "numeric" or _is_01(attr):
        return LabelColumn(task_name(attr), "binary", BINARY_CLASSES, empty)
    return LabelColumn(task_name(attr), "multiclass", tuple(attr.values), empty)


# ---------------------------------------------------------------- labels and features from the rows


def _stored(data: ArffData, index: int) -> np.ndarray:
    return data.dense([index], dtype=np.float64)[:, 0]


def _nominal_01(attr: Attribute, stored: np.ndarray) -> np.ndarray:
    """The declared 0/1 of a nominal ``{0,1}`` (or ``{1,0}``) attribute from its stored indices."""
    declared = np.array([int(v) for v in attr.values], dtype=np.int64)
    return declared[stored.astype(np.int64)]


def label_column(data: ArffData, index: int, where: str) -> LabelColumn:
    """One label attribute's task: binary (nominal ``{0,1}`` or numeric 0/1) or multiclass (other nominal)."""
    attr = data.header.attributes[index]
    stored = _stored(data, index)
    name = task_name(attr)
    if attr.type == "numeric":
        bad = np.flatnonzero((stored != 0) & (stored != 1))
        if bad.size:
            row = int(bad[0])
            raise DataError(
                f"{where}:{data.row_lines[row]}: label attribute {attr.name!r} (index {index}) is numeric and holds "
                f"{stored[row]:g}; a numeric label must be 0/1 (declare a multiclass label nominal: {{a,b,c}})"
            )
        values = stored.astype(np.int64)
    elif _is_01(attr):
        values = _nominal_01(attr, stored)
    else:
        codes = stored.astype(np.int64)
        if np.unique(codes).size < 2:  # let the shared check word the constant-column error
            parse_label_column(name, [attr.values[c] for c in codes], where, "multiclass")
        return LabelColumn(name, "multiclass", tuple(attr.values), codes)
    return parse_label_column(name, values, where, "binary", data.row_lines)


def feature_matrix(data: ArffData, features: Sequence[int]) -> tuple[np.ndarray, list[str]]:
    """The input matrix of the feature attributes and its column names (other nominal ones one-hot, ``attr=value``)."""
    attrs = data.header.attributes
    names: list[str] = []
    kept: list[int] = []  # attributes stored as their value (numeric) or 0/1 (nominal {0,1})
    positions: list[int] = []
    one_hot: list[tuple[int, int]] = []  # (attribute, first output column)
    for i in features:
        a = attrs[i]
        if a.type == "numeric" or _is_01(a):
            kept.append(i)
            positions.append(len(names))
            names.append(a.name)
        else:
            one_hot.append((i, len(names)))
            names.extend(f"{a.name}={v}" for v in a.values)
    if not one_hot and all(attrs[i].type == "numeric" for i in kept):
        return data.dense(kept, dtype=np.float32), names
    x = np.zeros((data.num_rows, len(names)), dtype=np.float32)
    if kept:
        block = data.dense(kept, dtype=np.float32)
        for k, i in enumerate(kept):
            if attrs[i].type == "nominal":
                block[:, k] = _nominal_01(attrs[i], block[:, k])
        x[:, positions] = block
    rows = np.arange(data.num_rows)
    for i, start in one_hot:
        x[rows, start + _stored(data, i).astype(np.int64)] = 1.0
    return x, names


def features_and_labels(data: ArffData, labels: Sequence[int], where: str) -> tuple[np.ndarray, list[LabelColumn], list[str]]:
    """The input matrix, one task per label attribute (in the given order) and the feature names."""
    if data.num_rows == 0:
        raise DataError(f"{where}: no instances after @data")
    chosen = set(labels)
    features = [i for i in range(data.header.num_attributes) if i not in chosen]
    if not features:
        raise DataError(f"{where}: no feature attributes besides the {len(chosen)} labels")
    columns = [label_column(data, i, where) for i in labels]
    x, names = feature_matrix(data, features)
    return x, columns, names


def split_method(order: int, seed: int) -> str:
    return f"iterative stratification (order {order}), seed {seed}"


# ---------------------------------------------------------------- the loader


def arff_table(
    loader: str,
    options: Any,
    data: ArffData,
    x: np.ndarray,
    columns: Sequence[LabelColumn],
    feature_names: list[str],
    split: np.ndarray,
    descriptions: dict,
    fingerprint: str,
    name: str | None = None,
) -> tuple[DatasetInfo, pa.Table]:
    """The canonical table of an ARFF file's rows (ids ``row…``), with what its info records of the source.

    ``options`` are the loader's (``path``, ``stratification_order``, ``seed``); ``name``
    defaults to the file name before its first dot."""
    path = Path(data.header.path)
    return labelled_table(
        name=name or path.name.split(".")[0],
        where=str(path),
        ids=row_ids(data.num_rows),
        split=split,
        x=x,
        columns=columns,
        descriptions=descriptions,
        fingerprint=fingerprint,
        extra={
            "loader": loader,
            "source": options.path,
            "relation": data.header.relation,
            "feature_names": feature_names,
            "split_method": split_method(options.stratification_order, options.seed),
        },
    )


def arff_path(path: str, what: str = "ARFF file") -> Path:
    return resolve_file(path, what)


@register
class ArffLoader(Loader):
    name = "arff"
    version = 1
    Options = ArffOptions

    def tasks(self, options: ArffOptions) -> list[TaskInfo]:
        path = arff_path(options.path)
        header = read_header(path)  # only the header is read
        columns = [declared_task(header.attributes[i]) for i in label_indices(header, options.labels, path)]
        descriptions = read_descriptions(options.descriptions, [c.name for c in columns], path.parent, str(path))
        return [task_info(c, descriptions.get(c.name)) for c in columns]

    def fingerprint(self, options: ArffOptions) -> str:
        path = arff_path(options.path)
        checksum: str | dict = file_sha256(path)
        if isinstance(options.labels, MulanLabels):
            checksum = {"arff": checksum, "mulan_xml": file_sha256(mulan_xml_path(options.labels.mulan_xml, path))}
        sidecar = descriptions_file(options.descriptions, path.parent)
        if sidecar is not None and sidecar.is_file():  # an edited descriptions file rebuilds the table
            checksum = {**(checksum if isinstance(checksum, dict) else {"arff": checksum}), "descriptions": file_sha256(sidecar)}
        return source_fingerprint(self, options, checksum)

    def build(self, options: ArffOptions, fingerprint: str) -> tuple[DatasetInfo, pa.Table]:
        path = arff_path(options.path)
        where = str(path)
        data = read_arff(path)
        header = data.header
        indices = label_indices(header, options.labels, path)
        x, columns, feature_names = features_and_labels(data, indices, where)
        log.info("%s: %d rows, %d label attributes, %d input columns", where, data.num_rows, len(columns), x.shape[1])
        descriptions = read_descriptions(options.descriptions, [c.name for c in columns], path.parent, where)
        split = carve_splits_for(columns, options)
        columns = check_positives(columns, split, where, min_positives=options.min_positives, drop_rare=options.drop_rare)
        return arff_table(self.name, options, data, x, columns, feature_names, split, descriptions, fingerprint)
