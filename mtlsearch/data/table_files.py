"""Reading a data table: CSV, TSV, Parquet or JSON Lines, into columns of raw values.

The format comes from the file name (``.csv``, ``.tsv``/``.tab``, ``.parquet``/``.pq``,
``.jsonl``/``.ndjson``/``.json``; a ``.gz`` suffix on a text format is
decompressed) or the ``format`` option. Text formats must be UTF-8 (a byte-order
mark is skipped). Every problem is a :class:`~mtlsearch.errors.DataError` naming
the file and, for the text formats, the line:

* an empty file, or one with a header and no row;
* an encoding error (the line and the byte);
* a row with more or fewer fields than the header, a quoted field still open at
  the end of the file, a JSON line that does not parse, or a Parquet file whose
  footer is missing (each of them: a file cut short);
* a header naming a column twice.

CSV and TSV values stay strings; Parquet and JSON values keep their types (a
number, a boolean, a null, a list of numbers for a vector column); a Parquet
number column with no null is kept as a NumPy array.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mtlsearch.errors import DataError

TableFormat = Literal["auto", "csv", "tsv", "parquet", "jsonl"]
SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclass
class RawTable:
    """A file's columns in file order, their values (one list per column) and each row's line (text formats)."""

    path: str
    format: str
    columns: list[str]
    values: dict[str, list]
    lines: list[int] | None  # 1-based line of each row; None for Parquet

    @property
    def num_rows(self) -> int:
        return len(self.values[self.columns[0]]) if self.columns else 0

    def where(self, row: int) -> str:
        """``path:line`` (text formats) or ``path (row N)`` of a row."""
        return f"{self.path}:{self.lines[row]}" if self.lines is not None else f"{self.path} (row {row + 1})"


def table_format(path: Path, fmt: TableFormat = "auto") -> str:
    """The format of ``path``: ``fmt`` unless ``auto``, else from the suffix (under a ``.gz``)."""
    if fmt != "auto":
        return fmt
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    found = SUFFIXES.get(Path(name).suffix)
    if found is None:
        raise DataError(
            f"{path}: cannot tell the table format from the name (expected a suffix {', '.join(SUFFIXES)}, "
            "optionally .gz; or set format: csv|tsv|parquet|jsonl)"
        )
    return found


def read_table_file(path: Path, fmt: TableFormat = "auto", max_rows: int | None = None) -> RawTable:
    """Read the whole file (or its first ``max_rows`` rows, for a sample)."""
    kind = table_format(path, fmt)
    if kind == "parquet":
        return _read_parquet(path, max_rows)
    text = decode_text(path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty (expected a {kind.upper()} table with a header and rows)")
    if kind == "jsonl":
        return _read_jsonl(path, text, max_rows)
    return _read_delimited(path, text, "\t" if kind == "tsv" else ",", kind, max_rows)


def decode_text(path: Path) -> str:
    """The file's text (UTF-8, a byte-order mark skipped; ``.gz`` decompressed); a DataError names the line of a bad byte."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read ({e}; a truncated .gz?)") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not UTF-8 text (byte {raw[e.start : e.start + 1]!r} at offset {e.start}: {e.reason}); "
            "save the file as UTF-8"
        ) from None


def _check_header(path: Path, header: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        if not h:
            raise DataError(f"{path}:1: column {i + 1} of the header has no name")
        if h in seen:
            raise DataError(f"{path}:1: column {h!r} is named twice in the header (columns {seen[h] + 1} and {i + 1})")
        seen[h] = i


def delimited_rows(
    path: Path, text: str, delimiter: str = ",", kind: str = "csv"
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header of a CSV/TSV text and an iterator of its (line, fields) rows, blank lines skipped.

    A malformed row, a quoted field still open at the end of the file and a row
    with more or fewer fields than the header are DataErrors naming the line.
    """
    # strict: a quoted field still open at the end of the file (a file cut short) is an error, not a field
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as e:
        raise DataError(f"{path}:1: malformed {kind.upper()} header ({e})") from None
    last_line = text.rstrip("\r\n").count("\n") + 1

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                hint = ": a quoted field is not closed (a file cut short?)" if "end of data" in str(e) else ""
                raise DataError(f"{path}:{line}: malformed {kind.upper()} ({e}){hint}") from None
            if row and len(row) != len(header):
                cut = " (the last line: a file cut short?)" if reader.line_num >= last_line and len(row) < len(header) else ""
                raise DataError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}{cut}")
            if row:
                yield line, row
            line = reader.line_num + 1

    return header, rows()


def _read_delimited(path: Path, text: str, delimiter: str, kind: str, max_rows: int | None) -> RawTable:
    header, numbered = delimited_rows(path, text, delimiter, kind)
    _check_header(path, header)
    rows: list[list[str]] = []
    lines: list[int] = []
    for line, row in numbered:
        if max_rows is not None and len(rows) >= max_rows:
            break
        rows.append(row)
        lines.append(line)
    if not rows:
        raise DataError(f"{path}: no rows after the header line")
    values = {h: [r[i] for r in rows] for i, h in enumerate(header)}
    return RawTable(str(path), kind, header, values, lines)


def _read_jsonl(path: Path, text: str, max_rows: int | None) -> RawTable:
    records: list[dict] = []
    lines: list[int] = []
    columns: dict[str, None] = {}
    all_lines = text.splitlines()
    for number, raw in enumerate(all_lines, 1):
        if not raw.strip():
            continue
        if max_rows is not None and len(records) >= max_rows:
            break
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as e:
            cut = " (the last line: a file cut short?)" if number == len(all_lines) else ""
            raise DataError(f"{path}:{number}: not a JSON object ({e.msg} at column {e.colno}){cut}") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected one JSON object per line, found {type(record).__name__}")
        records.append(record)
        lines.append(number)
        columns.update(dict.fromkeys(record))
    if not records:
        raise DataError(f"{path}: no JSON objects in the file")
    header = list(columns)
    values = {h: [r.get(h) for r in records] for h in header}
    return RawTable(str(path), "jsonl", header, values, lines)


def _read_parquet(path: Path, max_rows: int | None) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(str(path))
        table = pf.read() if max_rows is None else pa.Table.from_batches([next(pf.iter_batches(batch_size=max_rows))])
    except (pa.ArrowException, OSError, StopIteration) as e:
        raise DataError(f"{path}: cannot read the Parquet file ({e}; a file cut short, or not Parquet?)") from None
    if table.num_rows == 0:
        raise DataError(f"{path}: the Parquet file has no rows")
    _check_header(path, table.column_names)
    values = {name: _parquet_values(table.column(name)) for name in table.column_names}
    return RawTable(str(path), "parquet", list(table.column_names), values, None)


def _parquet_values(column) -> list:
    import pyarrow as pa

    if (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)) and column.null_count == 0:
        return column.to_numpy()
    return column.to_pylist()
