"""How far a measured affinity matrix can be trusted, and when the measuring run may stop.

An affinity run (:func:`mtlsearch.grouping.affinity.compute_affinity`) averages
one T×T measurement every few training steps. Its right length depends on the
data, the model and the learning rate. Too short, and the heads have not yet
aligned with the shared features: the groups are noise. Too long, and each task
has features of its own, so late measurements wash the groups out (issue 3: 8
epochs at lr 3e-3 fell to ARI 0.57). So every run checks itself at every
epoch's end, and its result reports the checks. With ``length: calibrated``
(:class:`Calibration` with ``stops``) it also stops at the first check where
both of these hold:

* **Split-half reliability** ``r ≥`` :data:`SPLIT_HALF_MIN`. The measurements
  are dealt alternately into two halves (steps 0, 2, 4, … and 1, 3, 5, …), each
  half is averaged, and ``r`` is the Pearson correlation of the two means'
  *interaction* entries: off-diagonal, less their best additive fit
  ``μ + a_i + b_j`` (:func:`interaction`). Row and column effects (a task that helps every
  other, one that every other helps) are consistent from the first steps,
  whatever the groups, and do not decide a partition, so they are left out. A
  high ``r`` says two independent halves of the run agree on *which pairs* of
  tasks go together. This is test-retest reliability of the kind Fifty et al.
  rely on when they average TAG's lookahead affinity over training ("Efficiently
  Identifying Task Groupings for Multi-Task Learning", NeurIPS 2021).
* **Stable groups.** For every k the caller will select at (``ks``), the groups
  selected from the running mean (:func:`mtlsearch.grouping.selection.select_groups`)
  are the same as at the previous check.

A run that does not converge by its epoch cap ends there and says so. Its
matrix is then the running mean at its most reliable check (the highest
split-half ``r``), not at the cap. When a run is too long for the data, the
late measurements, taken once each task has features of its own, would
otherwise wash out groups it had found. At the end the result also carries, per k, the *grouping
agreement*: the adjusted Rand index between the groups selected from each half
alone. 1 means both halves give the same groups.

The thresholds were set on the project's planted-group generator and checked
on three other generators and on data with no group structure
(``benchmarks/grouping_reliability.py``). Independent tasks can pass r = 0.9
early on, from structure that is consistent but not a grouping; their groups
then keep changing, so the run does not converge and warns. Planted groups
pass once they are recovered on the project's generator, but on the other
generators the rule stops too early or too late in a share of the seeds (the
README gives the table). That is why ``length: fixed`` stays the default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

SPLIT_HALF_MIN = 0.9
"""The split-half reliability a run must reach before it may stop; below it at the cap, a warning."""
MIN_MEASUREMENTS = 4
"""No check passes before this many measurements (two per half)."""


def running_mean(measurements: Sequence[np.ndarray]) -> np.ndarray:
    """Entry-wise mean over the measurements, skipping NaN (undefined in a step); an entry never defined is 0."""
    stack = np.stack([np.asarray(m, dtype=np.float64) for m in measurements])
    ok = ~np.isnan(stack)
    count = ok.sum(axis=0)
    total = np.where(ok, stack, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def interaction(matrix: np.ndarray) -> np.ndarray:
    """The off-diagonal entries of ``matrix`` less their best additive fit ``μ + a_i + b_j`` (least squares over the
    off-diagonal entries): what is left once each task's row effect and column effect are removed."""
    m = np.asarray(matrix, dtype=np.float64)
    t = m.shape[0]
    rows, cols = np.nonzero(~np.eye(t, dtype=bool))
    design = np.zeros((len(rows), 2 * t + 1))
    design[np.arange(len(rows)), rows] = 1.0
    design[np.arange(len(rows)), t + cols] = 1.0
    design[:, -1] = 1.0
    values = m[rows, cols]
    fit, *_ = np.linalg.lstsq(design, values, rcond=None)
    return values - design @ fit


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else math.nan


def split_half(measurements: Sequence[np.ndarray]) -> float:
    """Split-half reliability of the mean of ``measurements`` (see the module docstring); NaN with fewer than 2."""
    if len(measurements) < 2 or np.asarray(measurements[0]).shape[0] < 3:
        return math.nan
    return correlation(interaction(running_mean(measurements[0::2])), interaction(running_mean(measurements[1::2])))


def partition_labels(groups: Sequence[Sequence[int]], t: int) -> list[int]:
    labels = [0] * t
    for g, members in enumerate(groups):
        for i in members:
            labels[i] = g
    return labels


def agreement(a: Sequence[Sequence[int]], b: Sequence[Sequence[int]], t: int) -> float:
    """Adjusted Rand index of two partitions of ``t`` tasks (1: the same groups)."""
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(partition_labels(a, t), partition_labels(b, t)))


def _groups(matrix: np.ndarray, ks: Sequence[int], seed: int) -> dict[int, list[list[int]]]:
    from mtlsearch.grouping.selection import select_groups

    return {k: select_groups(matrix, k, seed=seed).groups for k in ks}


@dataclass
class Calibration:
    """The stopping rule of one affinity run: call :meth:`check` at every epoch's end; it says when to stop."""

    ks: list[int]
    seed: int = 0
    stops: bool = True  # False: a fixed-length run (length: fixed) that only reports its checks
    checks: list[dict] = field(default_factory=list)
    _last: dict[int, list[list[int]]] | None = None
    converged: bool = False
    _best: tuple[float, int, np.ndarray] | None = None  # (r, epoch, running mean) of the most reliable check

    def __post_init__(self) -> None:
        self.ks = sorted({int(k) for k in self.ks})

    def check(self, measurements: Sequence[np.ndarray], epoch: int) -> bool:
        """Record a check after ``epoch`` (1-based epochs run); True when the run may stop."""
        t = np.asarray(measurements[0]).shape[0] if measurements else 0
        ks = [k for k in self.ks if 1 <= k <= t]
        r = split_half(measurements)
        mean = running_mean(measurements) if measurements else None
        groups = _groups(mean, ks, self.seed) if measurements else {}
        if len(measurements) >= MIN_MEASUREMENTS and not math.isnan(r) and (self._best is None or r > self._best[0]):
            self._best = (r, epoch, mean)
        stable = self._last is not None and all(groups[k] == self._last[k] for k in ks)
        self._last = groups
        ok = len(measurements) >= MIN_MEASUREMENTS and not math.isnan(r) and r >= SPLIT_HALF_MIN and stable
        self.checks.append({"epoch": epoch, "measurements": len(measurements), "split_half": r, "stable": stable})
        self.converged = ok
        return ok

    def _keeps_best(self) -> bool:
        """Whether the result is the most reliable check's matrix: a calibrated run that did not converge."""
        return self.stops and not self.converged and self._best is not None

    def matrix(self, measurements: Sequence[np.ndarray]) -> tuple[np.ndarray, int]:
        """The result's matrix and the epoch it is from: the running mean now when the run converged (or never
        had a reliable check, or has a fixed length), else the running mean at its most reliable check."""
        if self._keeps_best():
            return self._best[2], self._best[1]
        return running_mean(measurements), self.checks[-1]["epoch"] if self.checks else 0

    def report(self, measurements: Sequence[np.ndarray], epochs_cap: int) -> dict:
        """What the result carries: the final split-half ``r``, per-k agreement of the halves' groups, and the run."""
        t = np.asarray(measurements[0]).shape[0] if measurements else 0
        ks = [k for k in self.ks if 1 <= k <= t]
        last = self.checks[-1] if self.checks else {}
        used = self._best[1] if self._keeps_best() else last.get("epoch", 0)  # the epoch of the result's matrix
        at = next((c for c in self.checks if c["epoch"] == used), last)
        measurements = measurements[: at.get("measurements", len(measurements))]
        halves: dict[str, float] = {}
        if len(measurements) >= 2:
            even, odd = (_groups(running_mean(measurements[i::2]), ks, self.seed) for i in (0, 1))
            halves = {str(k): agreement(even[k], odd[k], t) for k in ks}
        return {
            "split_half": at.get("split_half", math.nan),
            "matrix_epoch": used,
            "grouping_agreement": halves,
            "length": "calibrated" if self.stops else "fixed",
            "converged": self.converged,
            "epochs_run": last.get("epoch", 0),
            "epochs_cap": epochs_cap,
            "ks": ks,
            "rule": f"stop at an epoch's end once split-half r ≥ {SPLIT_HALF_MIN} and the groups at k ∈ {ks} are "
                    f"unchanged since the previous epoch",
            "checks": self.checks,
        }


def _run_text(reliability: dict) -> str:
    epochs, cap = reliability.get("epochs_run", 0), reliability.get("epochs_cap", 0)
    if reliability.get("length") == "fixed":
        return f"after its {epochs} epoch(s) (length: fixed)"
    if reliability.get("converged"):
        return f"converged after {epochs} of {cap} epochs"
    return (f"not converged by the cap ({cap} epochs); the matrix of epoch {reliability.get('matrix_epoch')}, "
            f"its most reliable")


def reliability_warning(method: str, reliability: dict) -> str | None:
    """A warning for an unreliable affinity matrix, saying what to do; None when fine.

    Unreliable: its split-half r is below :data:`SPLIT_HALF_MIN` (or undefined) or, for a calibrated run, it
    did not converge by its cap (consistent structure whose groups kept changing, as tasks without groups show).
    A fixed-length run's groups at some k may still move in its last epoch when r is high (at a k that does
    not fit the data, which two groups merge is up to the noise): that alone is no warning.
    """
    r = reliability.get("split_half", math.nan)
    reliable = not math.isnan(r) and r >= SPLIT_HALF_MIN
    if reliable and (reliability.get("converged") or reliability.get("length") == "fixed"):
        return None
    why = (f"split-half r = {r:.2f} < {SPLIT_HALF_MIN}" if not math.isnan(r) and r < SPLIT_HALF_MIN
           else "its groups kept changing" if not math.isnan(r) else "too few measurements for a split-half r")
    fixed = reliability.get("length") == "fixed"
    todo = ("set grouping_methods.affinity.length: calibrated (epochs becomes its cap) or raise epochs" if fixed
            else "raise grouping_methods.affinity.epochs (the cap) or measure more often (every_steps)")
    return (f"the {method} matrix is not reliable ({why}, {_run_text(reliability)}): the groups it gives may be noise. "
            f"To do: {todo}, use the embedding method, or give manual groups; the tasks may also have no group "
            f"structure to find")


def describe(reliability: dict, short: bool = False) -> str:
    """One line: ``split-half r 0.97, converged after 6 of 10 epochs; groups of the two halves agree: k=3 ARI 1.00``
    (``short``: without the agreement)."""
    r = reliability.get("split_half", math.nan)
    text = f"split-half r {r:.2f}, {_run_text(reliability)}"
    if short:
        return text
    halves = ", ".join(f"k={k} ARI {v:.2f}" for k, v in (reliability.get("grouping_agreement") or {}).items())
    return text + (f"; groups of the two halves agree: {halves}" if halves else "")
