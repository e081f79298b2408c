"""A streaming reader of (MEKA/MULAN multi-label) ARFF files, dense and sparse.

ARFF (Weka's format): a header of ``@relation NAME``, ``@attribute NAME TYPE``
lines (``numeric``/``real``/``integer``, a nominal ``{a,b,...}``; keywords in any
case, names optionally quoted) and ``@data``; then one instance per line, either
dense (``v1,v2,...``, one value per attribute) or sparse (``{index value, ...}``,
0-based attribute indices, omitted attributes are 0). ``%`` starts a comment
line. Values are stored as Weka does internally: numbers as floats, nominal
values as the index of the value in the attribute's declaration (so an omitted
sparse nominal value is the first declared value).

MEKA puts its options into the relation name: ``@relation 'NAME: -C 23'`` says
the first 23 attributes are the labels (``-C -23``: the last 23).

The file is read line by line (``.gz`` files are decompressed on the fly) and
the values are collected as coordinate lists, so memory follows the number of
non-zero values. Every problem is a :class:`~mtlsearch.errors.DataError` naming
the file and the line: an empty file, a file cut short (in its header, in a row,
or a ``.gz`` stream that ends early: the line after the last complete one), a
repeated attribute name, a malformed row. A UTF-8 byte-order mark is skipped.
"""

from __future__ import annotations

import gzip
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from mtlsearch.errors import DataError

NUMERIC_TYPES = frozenset({"numeric", "real", "integer"})
_MEKA_LABELS = re.compile(r"(?:^|\s)-C\s+(-?\d+)(?=\s|$)")


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str  # "numeric" or "nominal" (other ARFF types are rejected)
    values: tuple[str, ...] = ()  # the declared values of a nominal attribute


@dataclass
class ArffHeader:
    path: str
    relation: str
    attributes: list[Attribute]
    data_line: int  # 1-based line number of the @data line
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def num_attributes(self) -> int:
        return len(self.attributes)

    def meka_label_count(self) -> int:
        """The ``-C`` option of a MEKA relation name (negative: labels are the last attributes)."""
        m = _MEKA_LABELS.search(self.relation)
        if not m:
            raise DataError(
                f"{self.path}: no MEKA label count in the relation name {self.relation!r}: "
                "a multi-label ARFF must say how many attributes are labels, as in @relation 'NAME: -C 23'"
            )
        c = int(m.group(1))
        if c == 0 or abs(c) > self.num_attributes:
            raise DataError(f"{self.path}: MEKA label count -C {c} does not fit the {self.num_attributes} declared attributes")
        return c

    def label_indices(self) -> list[int]:
        """Attribute indices of the MEKA labels, in declaration order."""
        c = self.meka_label_count()
        n = self.num_attributes
        return list(range(c)) if c > 0 else list(range(n + c, n))


@dataclass
class ArffData:
    """The instances of an ARFF file as coordinate lists (row, attribute, value); absent = 0."""

    header: ArffHeader
    num_rows: int
    rows: np.ndarray  # int64
    cols: np.ndarray  # int64
    values: np.ndarray  # float64
    row_lines: np.ndarray  # 1-based line number of each instance, for error messages

    def dense(self, columns: list[int] | None = None, dtype=np.float32) -> np.ndarray:
        """A dense ``num_rows × len(columns)`` matrix of the given attributes (default all)."""
        if columns is None:
            out = np.zeros((self.num_rows, self.header.num_attributes), dtype=dtype)
            out[self.rows, self.cols] = self.values
            return out
        where = np.full(self.header.num_attributes, -1, dtype=np.int64)
        where[np.asarray(columns, dtype=np.int64)] = np.arange(len(columns))
        keep = where[self.cols] >= 0
        out = np.zeros((self.num_rows, len(columns)), dtype=dtype)
        out[self.rows[keep], where[self.cols[keep]]] = self.values[keep]
        return out


def _open(path: Path) -> IO[str]:
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline=None)
        return open(path, encoding="utf-8-sig", errors="replace", newline=None)
    except OSError as e:
        raise DataError(f"{path}: cannot open ({e.strerror or e})") from None


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1].replace("\\" + s[0], s[0])
    return s


def _split_name(rest: str, where: str) -> tuple[str, str]:
    """Split ``NAME REST`` where NAME may be quoted."""
    rest = rest.strip()
    if not rest:
        raise DataError(f"{where}: missing name")
    q = rest[0]
    if q in "'\"":
        i = 1
        while i < len(rest):
            if rest[i] == "\\":
                i += 2
                continue
            if rest[i] == q:
                return _unquote(rest[: i + 1]), rest[i + 1 :].strip()
            i += 1
        raise DataError(f"{where}: unclosed quote in {rest!r}")
    parts = rest.split(None, 1)
    return parts[0], (parts[1].strip() if len(parts) > 1 else "")


def _split_values(text: str) -> list[str]:
    """Split a comma-separated list, honouring quotes (fast path when there are none)."""
    if "'" not in text and '"' not in text:
        return [v.strip() for v in text.split(",")]
    out, cur, quote, i = [], [], None, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and i + 1 < len(text):
                cur.append(text[i : i + 2])
                i += 2
                continue
            if ch == quote:
                quote = None
            cur.append(ch)
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch == ",":
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur).strip())
    return out


class _Lines:
    """``(line number, stripped line)`` of a text file; ``lineno`` is the last line read (for read errors)."""

    def __init__(self, f: IO[str]):
        self.lineno = 0
        self._it = self._lines(f)

    def _lines(self, f: IO[str]) -> Iterator[tuple[int, str]]:
        for raw in f:
            self.lineno += 1
            yield self.lineno, raw.strip()

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return self._it


def _read_error(path: Path, lines: _Lines | None, e: BaseException) -> DataError:
    """A stream that ends early (truncated ``.gz``) or cannot be read, with the line it stopped at."""
    if lines is None or lines.lineno == 0:
        return DataError(f"{path}: cannot read ({e})")
    return DataError(f"{path}:{lines.lineno + 1}: cannot read past line {lines.lineno} ({e}; truncated file?)")


def _read_header(path: Path, lines: _Lines) -> ArffHeader:
    relation: str | None = None
    attributes: list[Attribute] = []
    declared: dict[str, int] = {}  # attribute name -> line
    for lineno, line in lines:
        if not line or line.startswith("%"):
            continue
        where = f"{path}:{lineno}"
        keyword, *tail = line.split(None, 1)
        rest = tail[0] if tail else ""
        kw = keyword.lower()
        if kw == "@relation":
            if not rest.strip():
                raise DataError(f"{where}: @relation without a name")
            relation = _unquote(rest)
        elif kw == "@attribute":
            name, typ = _split_name(rest, where)
            if name in declared:
                raise DataError(f"{where}: attribute {name!r} is declared twice (also on line {declared[name]})")
            declared[name] = lineno
            if typ.startswith("{"):
                if not typ.endswith("}"):
                    raise DataError(f"{where}: nominal attribute {name!r}: declaration {typ!r} is not closed with '}}'")
                values = tuple(_unquote(v) for v in _split_values(typ[1:-1]))
                attributes.append(Attribute(name, "nominal", values))
            elif typ.lower() in NUMERIC_TYPES:
                attributes.append(Attribute(name, "numeric"))
            else:
                raise DataError(
                    f"{where}: attribute {name!r} has type {typ or '(none)'!r}; only numeric and nominal attributes are supported"
                )
        elif kw == "@data":
            if relation is None:
                raise DataError(f"{where}: @data before any @relation line")
            if not attributes:
                raise DataError(f"{where}: @data before any @attribute line")
            header = ArffHeader(str(path), relation, attributes, lineno)
            header._index = {a.name: i for i, a in enumerate(attributes)}
            return header
        else:
            raise DataError(f"{where}: expected @relation, @attribute or @data, found {line[:60]!r}")
    if relation is None and not attributes:
        raise DataError(f"{path}: the file is empty (expected an ARFF file: @relation, @attribute lines, @data and the rows)")
    raise DataError(
        f"{path}: no @data line (the file ends in its header after line {lines.lineno}: truncated, or not an ARFF file)"
    )


def read_header(path: str | Path) -> ArffHeader:
    """Read only the header (up to ``@data``)."""
    path = Path(path)
    lines = None
    try:
        with _open(path) as f:
            lines = _Lines(f)
            return _read_header(path, lines)
    except (OSError, EOFError) as e:
        raise _read_error(path, lines, e) from None


def read_arff(path: str | Path) -> ArffData:
    """Read a whole ARFF file (dense and sparse rows may be mixed)."""
    path = Path(path)
    holder: list[_Lines] = []
    try:
        return _read_arff(path, holder)
    except (OSError, EOFError) as e:
        raise _read_error(path, holder[0] if holder else None, e) from None


def _read_arff(path: Path, holder: list) -> ArffData:
    with _open(path) as f:
        lines = _Lines(f)
        holder.append(lines)
        header = _read_header(path, lines)
        attrs = header.attributes
        n_attr = len(attrs)
        # per attribute: None for numeric, else {declared value: index}
        nominal: list[dict[str, int] | None] = [
            None if a.type == "numeric" else {v: i for i, v in enumerate(a.values)} for a in attrs
        ]
        rows, cols, vals, row_lines = array("q"), array("q"), array("d"), array("q")
        n = 0

        def value(text: str, col: int, lineno: int) -> float:
            if text == "?":
                raise DataError(
                    f"{path}:{lineno}: attribute {attrs[col].name!r} (index {col}) is missing ('?'); missing values are not supported"
                )
            table = nominal[col]
            if table is None:
                try:
                    v = float(text)
                except ValueError:
                    raise DataError(
                        f"{path}:{lineno}: attribute {attrs[col].name!r} (index {col}) is numeric but the value is {text!r}"
                    ) from None
                if v != v or v in (float("inf"), float("-inf")):
                    raise DataError(f"{path}:{lineno}: attribute {attrs[col].name!r} (index {col}): value {text!r} is not finite")
                return v
            idx = table.get(text)
            if idx is None:
                idx = table.get(_unquote(text))
            if idx is None:
                raise DataError(
                    f"{path}:{lineno}: attribute {attrs[col].name!r} (index {col}): value {text!r} is not one of its declared values "
                    f"{{{','.join(attrs[col].values)}}}"
                )
            return float(idx)

        for lineno, line in lines:
            if not line or line.startswith("%"):
                continue
            if line.startswith("{"):
                if not line.endswith("}"):
                    raise DataError(f"{path}:{lineno}: sparse row does not end with '}}' (truncated row?)")
                body = line[1:-1].strip()
                if body:
                    for item in _split_values(body):
                        parts = item.split(None, 1)
                        if len(parts) != 2:
                            raise DataError(f"{path}:{lineno}: sparse entry {item!r} is not 'index value' (truncated row?)")
                        try:
                            col = int(parts[0])
                        except ValueError:
                            raise DataError(
                                f"{path}:{lineno}: sparse entry {item!r}: index {parts[0]!r} is not an integer"
                            ) from None
                        if not 0 <= col < n_attr:
                            raise DataError(
                                f"{path}:{lineno}: attribute index {col} out of range (the header declares {n_attr} attributes, 0..{n_attr - 1})"
                            )
                        v = value(parts[1].strip(), col, lineno)
                        if v != 0.0:
                            rows.append(n)
                            cols.append(col)
                            vals.append(v)
            else:
                items = _split_values(line)
                if len(items) != n_attr:
                    raise DataError(
                        f"{path}:{lineno}: dense row has {len(items)} values, the header declares {n_attr} attributes"
                        + (" (truncated row?)" if len(items) < n_attr else "")
                    )
                for col, text in enumerate(items):
                    v = value(text, col, lineno)
                    if v != 0.0:
                        rows.append(n)
                        cols.append(col)
                        vals.append(v)
            row_lines.append(lineno)
            n += 1
    return ArffData(
        header=header,
        num_rows=n,
        rows=np.frombuffer(rows, dtype=np.int64) if rows else np.zeros(0, np.int64),
        cols=np.frombuffer(cols, dtype=np.int64) if cols else np.zeros(0, np.int64),
        values=np.frombuffer(vals, dtype=np.float64) if vals else np.zeros(0, np.float64),
        row_lines=np.frombuffer(row_lines, dtype=np.int64) if row_lines else np.zeros(0, np.int64),
    )
