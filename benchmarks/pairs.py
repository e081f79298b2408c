"""Paired, alternating measurements for the benchmarks that print a ratio.

Machine noise (another process, thermal or frequency drift) moves over
seconds to minutes, so timing contender A and then contender B once lets the
noise decide their ratio. Here every contender is measured once per *round*,
for ``rounds ≥ 5`` rounds, and each ratio is formed within a round (a *pair*):

* Order: strict alternation, no shuffling. The order reverses every round
  (A B | B A | A B | …, with three contenders A B C | C B A | …), so a drift
  that is linear in time favours each contender equally often and cancels
  over the rounds.
* Summary: the median of the per-round ratios and their min–max spread.
* Verdict against a target such as ``≥ 0.9``: ``met`` when the whole spread
  is on the good side, ``missed`` when it is all on the bad side, ``not
  decided`` when it straddles the target (or when there are fewer than
  :data:`MIN_PAIRS` pairs).

Only the standard library is used.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from typing import Callable, Mapping, TextIO

MIN_PAIRS = 5
"""Fewer pairs than this never decide a target."""

Measurement = Callable[[], "float | Mapping[str, float]"]
"""One fresh measurement of a contender: a number (recorded under the contender's name) or several named numbers."""


@dataclass(frozen=True)
class Target:
    """A ratio's target: ``ratio >= value`` (``direction='>='``) or ``ratio <= value`` (``'<='``)."""

    value: float
    direction: str = ">="

    def __post_init__(self) -> None:
        if self.direction not in (">=", "<="):
            raise ValueError(f"direction must be '>=' or '<=', not {self.direction!r}")

    def __str__(self) -> str:
        return f"{'≥' if self.direction == '>=' else '≤'} {self.value:g}"

    def good(self, ratio: float) -> bool:
        """Whether ``ratio`` is on the target's good side."""
        return ratio >= self.value if self.direction == ">=" else ratio <= self.value


@dataclass(frozen=True)
class RatioSummary:
    """The per-round ratios ``numerator / denominator`` of one comparison, and their summary."""

    name: str
    ratios: tuple[float, ...]
    target: Target | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def low(self) -> float:
        return min(self.ratios)

    @property
    def high(self) -> float:
        return max(self.ratios)

    @property
    def verdict(self) -> str:
        """``met``, ``missed`` or ``not decided`` (by the whole min–max spread); ``-`` without a target."""
        if self.target is None:
            return "-"
        if len(self.ratios) < MIN_PAIRS:
            return f"not decided ({len(self.ratios)} < {MIN_PAIRS} pairs)"
        good = [self.target.good(r) for r in (self.low, self.high)]
        return "met" if all(good) else "missed" if not any(good) else "not decided"


def alternate(contenders: Mapping[str, Measurement], rounds: int, log: TextIO | None = sys.stderr) -> list[dict[str, float]]:
    """Measure every contender once per round, ``rounds`` times, in an order that reverses every round.

    ``contenders`` maps a name to a function taking a fresh measurement. Round
    ``i`` runs them in the mapping's order when ``i`` is even and in reverse
    when odd. Returns one dict per round of every recorded value (a contender
    returning a mapping contributes its keys, which must not collide). With
    ``log``, a line per round is written there.
    """
    names = list(contenders)
    out: list[dict[str, float]] = []
    for i in range(rounds):
        row: dict[str, float] = {}
        for name in names if i % 2 == 0 else reversed(names):
            value = contenders[name]()
            values = dict(value) if isinstance(value, Mapping) else {name: float(value)}
            if set(values) & set(row):
                raise ValueError(f"{name}: measurement names {sorted(set(values) & set(row))} already recorded")
            row.update(values)
        out.append(row)
        if log is not None:
            print(f"  round {i + 1}/{rounds}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()), file=log, flush=True)
    return out


def ratio(
    rows: list[dict[str, float]], name: str, numerator: str, denominator: str, target: Target | None = None
) -> RatioSummary:
    """The per-round ratios ``rows[i][numerator] / rows[i][denominator]`` as a :class:`RatioSummary`."""
    return RatioSummary(name, tuple(r[numerator] / r[denominator] for r in rows), target)


def format_table(summaries: list[RatioSummary]) -> str:
    """A plain-text table, one row per ratio: name, pairs, median, min–max, target, verdict."""
    head = ("ratio", "pairs", "median", "min–max", "target", "verdict")
    rows = [
        (s.name, str(len(s.ratios)), f"{s.median:.3f}", f"{s.low:.3f}–{s.high:.3f}", str(s.target or "-"), s.verdict)
        for s in summaries
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) if i in (0, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()  # noqa: E731
    return "\n".join([line(head), "-" * len(line(head)), *map(line, rows)])


def print_table(summaries: list[RatioSummary], file: TextIO = sys.stdout) -> None:
    """Print :func:`format_table`."""
    print(format_table(summaries), file=file, flush=True)
