"""Intervals over seeds: how far a mean of a few training runs can be trusted.

A candidate confirmed with seeds ``s = 1..S`` has one paired Δm per seed,
``d_s = Δm(candidate trained with s, STL baselines trained with s)``: candidate
and baselines share the seed (initialisation and data order), so the seed's
luck common to both cancels in ``d_s``. Over the ``S`` values, the Student-t
interval at level ``1 − α``::

    d̄ ± t_{1−α/2, S−1} · s_d / √S,     s_d² = Σ_s (d_s − d̄)² / (S − 1)

It treats the seeds as independent draws of the training randomness (the
splits stay fixed, so it says nothing about another sample of patients). Two
candidates are compared the same way, on ``d_s⁽¹⁾ − d_s⁽²⁾`` over the seeds
they share (a paired t-interval): they can be told apart when it excludes 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

LEVEL = 0.95
"""The coverage of every interval mtlsearch reports."""


@dataclass(frozen=True)
class Interval:
    """The mean of ``n`` values with its two-sided interval ``[low, high]`` at ``level`` (NaN bounds when n < 2)."""

    mean: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def above(self, value: float = 0.0) -> bool:
        """The whole interval lies above ``value`` (False when it is undefined)."""
        return self.low > value

    def below(self, value: float = 0.0) -> bool:
        return self.high < value

    def to_dict(self) -> dict:
        return asdict(self)


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """The Student-t interval of the mean of ``values`` (NaN values make it undefined)."""
    from scipy.stats import t

    n = len(values)
    if n == 0 or any(math.isnan(v) for v in values):
        return Interval(math.nan, math.nan, math.nan, n, level)
    mean = sum(values) / n
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, level)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(1 - (1 - level) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, level)


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """The interval of the mean of ``a_s − b_s``, the two measured on the same seeds ``s``."""
    if len(a) != len(b):
        raise ValueError(f"paired values need the same seeds: {len(a)} against {len(b)}")
    return t_interval([x - y for x, y in zip(a, b)], level)
