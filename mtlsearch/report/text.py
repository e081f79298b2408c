"""Plain-text tables of the leaderboard and the confirmation (fixed-width columns, no dependencies)."""

from __future__ import annotations

import math


def fmt(v: float | None, spec: str = "+.2f") -> str:
    """``v`` formatted with ``spec``; ``nan`` for a missing or NaN value."""
    return "nan" if v is None or math.isnan(v) else format(v, spec)


def format_cost(worker_seconds: float) -> str:
    """A training cost in worker·s: one decimal from 10 up, else 3 significant digits (short trials cost
    fractions of a second, and a Pareto set ranks them by it)."""
    return f"{worker_seconds:.1f}" if abs(worker_seconds) >= 10 else f"{worker_seconds:.3g}"


def table(header: list[str], body: list[list[str]]) -> str:
    """Left-aligned columns as wide as their widest cell, a rule under the header."""
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in body])
