"""Choosing columns (or ARFF attributes) by name or glob pattern, with the close matches of a name that is not there.

A pattern is a column name or an ``fnmatch`` glob (``Class-*``, ``lab_?``,
``[A-C]*``), matched case-sensitively against the whole name. Columns come out
in the order the patterns list them and, within one glob, in the file's order;
a column matched twice is kept once. A plain name that matches nothing, or a
glob that matches nothing, is a :class:`~mtlsearch.errors.DataError` naming the
file, the option and the closest names (:func:`difflib.get_close_matches`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from fnmatch import fnmatchcase

from mtlsearch.errors import DataError

_GLOB_CHARS = frozenset("*?[")
_NOT_NAME = re.compile(r"[^0-9A-Za-z]+")


def column_safe_name(label: str, taken: set[str], reserved: frozenset[str]) -> str:
    """A column-safe task name for ``label``, unique among ``taken`` (case-insensitive), which it joins.

    Every run of characters other than letters and digits becomes ``_``
    (``Pulmonary Atelectasis`` -> ``Pulmonary_Atelectasis``); ``_label`` is
    appended to a name in ``reserved`` (casefolded column names of the table),
    ``_2``, ``_3``... to one already taken.
    """
    base = _NOT_NAME.sub("_", label).strip("_") or "label"
    if base.casefold() in reserved:
        base += "_label"
    name, k = base, 2
    while name.casefold() in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name.casefold())
    return name


def is_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


def close_matches(name: str, available: Sequence[str], n: int = 3) -> list[str]:
    """The names of ``available`` closest to ``name`` (case-insensitive first, then difflib's ratio)."""
    lower = {a.lower(): a for a in available}
    exact_case = [lower[name.lower()]] if name.lower() in lower else []
    rest = difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.6)
    out = exact_case + [lower[r] for r in rest if lower[r] not in exact_case]
    return out[:n]


def unknown_column_message(name: str, available: Sequence[str], where: str, option: str, what: str = "column") -> str:
    """``where: option: no column 'x' (did you mean ...?; the file has: ...)``."""
    hints = close_matches(name, available)
    listed = ", ".join(available[:12]) + (f", ... ({len(available)} in all)" if len(available) > 12 else "")
    hint = f"did you mean {' or '.join(repr(h) for h in hints)}? " if hints else ""
    kind = "glob matches no" if is_glob(name) else "no"
    return f"{where}: {option}: {kind} {what} {name!r} ({hint}the file has: {listed})"


def select_columns(patterns: Sequence[str], available: Sequence[str], where: str, option: str, what: str = "column") -> list[str]:
    """The columns of ``available`` that ``patterns`` name, in the patterns' order (each once)."""
    out: list[str] = []
    seen: set[str] = set()
    present = set(available)
    for pattern in patterns:
        if is_glob(pattern) and pattern not in present:
            hits = [a for a in available if fnmatchcase(a, pattern)]
        else:
            hits = [pattern] if pattern in present else []
        if not hits:
            raise DataError(unknown_column_message(pattern, available, where, option, what))
        for h in hits:
            if h not in seen:
                seen.add(h)
                out.append(h)
    return out
