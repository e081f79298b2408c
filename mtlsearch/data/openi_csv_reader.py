"""Reading the Indiana University chest X-ray CSVs: the reports CSV and the projections CSV.

``indiana_reports.csv`` (:func:`read_reports_csv`: one :class:`~mtlsearch.data.openi_reports.Report`
a row) and ``indiana_projections.csv`` (:func:`read_projections`: the image
files and views of each report); their columns: ``openi_csv`` in
:mod:`mtlsearch.data.openi`. A malformed file is a DataError naming the file and the line.
"""

from __future__ import annotations

from pathlib import Path

from mtlsearch.data.openi_reports import Report, distinct_headings
from mtlsearch.data.table_files import decode_text, delimited_rows
from mtlsearch.errors import DataError

CSV_REQUIRED = ("uid", "Problems", "findings", "impression")
PROJECTIONS_REQUIRED = ("uid", "filename", "projection")
PROJECTIONS_FILE = "indiana_projections.csv"


def _read_csv_rows(path: Path, required: tuple[str, ...], what: str):
    """(header index by name, iterator of (line, row)) of a CSV; empty file and missing columns are DataErrors."""
    text = decode_text(path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty (expected a {what} CSV with a header naming {', '.join(required)})")
    header, rows = delimited_rows(path, text)
    index = {h: i for i, h in reversed(list(enumerate(header)))}
    missing = [c for c in required if c not in index]
    if missing:
        raise DataError(
            f"{path}:1: the {what} CSV lacks the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)} (header: {', '.join(header)})"
        )
    return index, rows


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
                terms=distinct_headings(get(row, "Problems").split(";")),
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
