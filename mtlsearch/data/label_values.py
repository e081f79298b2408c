"""Turning a column of raw label values into one task's integer codes (``-1`` = missing).

A label column holds one task. Its values may be numbers, booleans or strings:

* **missing**: a blank cell, ``NA``, ``N/A``, ``NaN``, ``null``, ``None`` or ``?``
  (any case), and a null or NaN value of a typed file (Parquet, JSON Lines) give
  ``-1``, which losses and metrics skip;
* **binary**: ``1``/``0``, ``true``/``false``, ``yes``/``no``, ``y``/``n``,
  ``t``/``f``, ``positive``/``negative``, ``pos``/``neg`` (any case; ``1.0`` is
  ``1``). Class 1 (``positive``) is the first of each pair;
* **multiclass**: any other strings (``mild``/``moderate``/``severe``), one class
  per distinct value, the classes sorted (numerically when every value is a
  number).

``kind: auto`` (the default) takes ``binary`` when every present value is a
binary token and ``multiclass`` when none is. A column that mixes binary tokens
with other values (``0, 1, 2``; ``yes, no, maybe``) is taken for a binary
column with a bad value: a :class:`~mtlsearch.errors.DataError` names the file,
the column, the value and its line, and says to declare the column multiclass
(``kinds: {column: multiclass}``) if it is one. A column with a single
distinct value (or none) is an error too: it has nothing to learn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mtlsearch.errors import DataError

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
TRUE_TOKENS = frozenset({"1", "true", "yes", "y", "t", "positive", "pos"})
FALSE_TOKENS = frozenset({"0", "false", "no", "n", "f", "negative", "neg"})
BINARY_CLASSES = ("negative", "positive")

LabelKind = Literal["auto", "binary", "multiclass"]


@dataclass(frozen=True)
class LabelColumn:
    """One task read from a column: its kind, class names and codes (``-1`` missing)."""

    name: str
    kind: Literal["binary", "multiclass"]
    classes: tuple[str, ...]
    codes: np.ndarray  # int64, one per row


def label_text(value: object) -> str | None:
    """A raw value as the text it is compared by, or ``None`` when it means missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    return None if text.lower() in MISSING_TOKENS else text


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _line(lines: Sequence[int] | None, row: int) -> str:
    return f":{lines[row]}" if lines is not None else f" (row {row + 1})"


def parse_label_column(
    name: str, values: Sequence[object], where: str, kind: LabelKind = "auto", lines: Sequence[int] | None = None
) -> LabelColumn:
    """The task of column ``name``; ``lines`` are the file lines of the rows (for errors), if the format has lines."""
    texts = [label_text(v) for v in values]
    present = [(i, t) for i, t in enumerate(texts) if t is not None]
    binary = [t.lower() in TRUE_TOKENS or t.lower() in FALSE_TOKENS for _, t in present]
    if kind == "auto":
        kind = "binary" if present and all(binary) else "multiclass" if not any(binary) else "binary"
        mixed = any(binary) and not all(binary)
    else:
        mixed = kind == "binary" and not all(binary)
    if mixed:
        row, bad = next((i, t) for (i, t), b in zip(present, binary) if not b)
        seen = sorted({t for _, t in present})
        raise DataError(
            f"{where}{_line(lines, row)}: label column {name!r}: value {bad!r} is not binary "
            f"(expected 0/1, true/false or yes/no; the column holds {', '.join(seen[:8])}{', ...' if len(seen) > 8 else ''}); "
            f"if the column is multiclass, say so with kinds: {{{name}: multiclass}}"
        )
    codes = np.full(len(texts), -1, dtype=np.int64)
    if kind == "binary":
        for i, t in present:
            codes[i] = 1 if t.lower() in TRUE_TOKENS else 0
        classes = BINARY_CLASSES
        distinct = set(codes[codes >= 0].tolist())
    else:
        distinct_texts = {t for _, t in present}
        numbers = {t: _number(t) for t in distinct_texts}
        if distinct_texts and all(v is not None for v in numbers.values()):
            classes = tuple(sorted(distinct_texts, key=lambda t: (numbers[t], t)))
        else:
            classes = tuple(sorted(distinct_texts))
        index = {c: k for k, c in enumerate(classes)}
        for i, t in present:
            codes[i] = index[t]
        distinct = set(classes)
    if len(distinct) < 2:
        only = (classes[next(iter(distinct))] if kind == "binary" else next(iter(distinct))) if distinct else None
        what = f"every labelled row is {only!r}" if only is not None else "every value is missing"
        raise DataError(f"{where}: label column {name!r} is constant ({what}): it has nothing to learn; leave it out of labels")
    return LabelColumn(name, kind, classes, codes)
