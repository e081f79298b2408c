"""How far a measured affinity matrix can be trusted, and when the measuring run may stop.

An affinity run (:func:`mtlsearch.grouping.affinity.compute_affinity`) averages
one T×T measurement every few training steps. Its right length depends on the
data, the model and the learning rate. Too short, and the heads have not yet
aligned with the shared features: the groups are noise. Too long, and the late
measurements wash the groups out (issue 3: 8 epochs at lr 3e-3 fell to ARI
0.57). So every run checks itself at every epoch's end, and its result reports
the checks.

**When the run stops (``length: calibrated``, :class:`Calibration` with
``stops``).** TAG's lookahead affinity (Fifty et al., "Efficiently Identifying
Task Groupings for Multi-Task Learning", NeurIPS 2021, eq. 3) measures
*transfer*: ``Z_{i→j} > 0`` when a step on task ``i`` lowers task ``j``'s loss.
While the shared encoder is learning what tasks have in common, steps transfer
on average, and most to the tasks of the same group. Once it has learned it, a
step on one task mostly fits that task's own signal and the batch's noise, and
it hurts the others: the epoch's **mean transfer** (the mean off-diagonal entry
of that epoch's measurements, :func:`mean_transfer`) turns negative. From then
on the measurements grow (``Z ≈ η ⟨g_i, g_j⟩ / L_j`` to first order, and the
losses ``L_j`` shrink) and carry interference, not grouping, and they take the
running mean over. The run therefore stops at the end of the first epoch
(after the first) whose mean transfer is negative, and leaves that epoch's
measurements out. ``epochs`` is the cap. Of the checks before the stop it returns the running mean of the
most reliable one (the highest split-half ``r`` with at least
:data:`MIN_MEASUREMENTS` measurements): a consistent structure of pairs, and not
the late checks where the groups already fade while the transfer is still
positive. The first epoch never stops the run: its heads are still random.

**How reliable the matrix is**, stored with it and printed:

* **Split-half reliability** ``r``. The measurements are dealt alternately into
  two halves (steps 0, 2, 4, … and 1, 3, 5, …), each half is averaged, and ``r``
  is the Pearson correlation of the two means' *interaction* entries:
  off-diagonal, less their best additive fit ``μ + a_i + b_j``
  (:func:`interaction`). Row and column effects (a task that helps every other,
  one that every other helps) are consistent from the first steps, whatever the
  groups, and do not decide a partition, so they are left out. A high ``r`` says
  two independent halves of the run agree on *which pairs* of tasks go together.
* **Group separation** per k (:func:`separation`): how far the mean within-group
  affinity of the groups selected at k stands above the mean between-group
  affinity, in standard deviations of all off-diagonal entries. Tasks with no
  group structure can have a consistent matrix (their pairwise overlaps are real
  and small), so a high ``r`` alone does not say that there are groups; a
  separation below :data:`SEPARATION_MIN` at every k says there are none worth
  the name.
* **Grouping agreement** per k: the adjusted Rand index between the groups
  selected from each half alone (1: both halves give the same groups).

A matrix is reported unreliable (:func:`reliability_warning`) when ``r <``
:data:`SPLIT_HALF_MIN` or its best separation is below :data:`SEPARATION_MIN`.

The two thresholds were set on seeds 0-19 of ``benchmarks/grouping_reliability.py``
(the project's planted-group generator, three others, and independent tasks) and
are checked there on seeds 20-39; the README gives both tables, and how often
the rule still misses the planted groups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

SPLIT_HALF_MIN = 0.9
"""Below this split-half reliability a matrix is reported unreliable."""
SEPARATION_MIN = 1.2
"""Below this group separation at every k (sd of the off-diagonal entries) a matrix is reported unreliable."""
RELIABILITY_RULE = 2
"""Version of the stopping rule and the reliability report: part of a stored matrix's fingerprint, so a matrix
measured under an older rule is measured again rather than reused with a report it does not have."""
MIN_MEASUREMENTS = 4
"""No check is the most reliable one with fewer measurements than this (two per half)."""


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


def groups_for_each_k(matrix: np.ndarray, ks: Sequence[int], seed: int) -> dict[int, list[list[int]]]:
    """TAG's selection of k groups (task indices) from ``matrix``, for each k in ``ks``."""
    from mtlsearch.grouping.selection import select_groups

    return {k: select_groups(matrix, k, seed=seed).groups for k in ks}


def mean_transfer(matrix: np.ndarray) -> float:
    """The mean off-diagonal entry of an affinity matrix (TAG: > 0 when steps on one task help the others on average)."""
    m = np.asarray(matrix, dtype=np.float64)
    return float(m[~np.eye(m.shape[0], dtype=bool)].mean()) if m.shape[0] > 1 else math.nan


def separation(matrix: np.ndarray, groups: Sequence[Sequence[int]]) -> float:
    """``(mean_{i≠j same group} S_ij − mean_{i,j different groups} S_ij) / sd_{i≠j} S_ij`` with ``S = (M + Mᵀ)/2``;
    NaN when the groups leave no within-group or no between-group pair."""
    m = np.asarray(matrix, dtype=np.float64)
    sym = (m + m.T) / 2
    labels = np.array(partition_labels(groups, m.shape[0]))
    off = ~np.eye(m.shape[0], dtype=bool)
    same = (labels[:, None] == labels[None, :]) & off
    spread = sym[off].std()
    if not same.any() or not (off & ~same).any() or spread == 0:
        return math.nan
    return float((sym[same].mean() - sym[off & ~same].mean()) / spread)


@dataclass
class Calibration:
    """The stopping rule of one affinity run: call :meth:`check` at every epoch's end; it says when to stop."""

    ks: list[int]
    seed: int = 0
    stops: bool = True  # False: a fixed-length run (length: fixed) that only reports its checks
    checks: list[dict] = field(default_factory=list)
    ended: str = ""  # "negative transfer" once a calibrated run stopped; "" while running or at the cap
    _best: tuple[float, int] | None = None  # (r, index into checks) of the most reliable check before the stop

    def __post_init__(self) -> None:
        self.ks = sorted({int(k) for k in self.ks})

    def check(self, measurements: Sequence[np.ndarray], epoch: int) -> bool:
        """Record a check after ``epoch`` (1-based epochs run); True when a calibrated run should stop now."""
        start = self.checks[-1]["measurements"] if self.checks else 0
        transfer = mean_transfer(running_mean(measurements[start:])) if len(measurements) > start else math.nan
        if self.stops and epoch > 1 and transfer < 0:
            self.checks.append({"epoch": epoch, "measurements": len(measurements), "transfer": transfer, "left_out": True})
            self.ended = "negative transfer"
            return True
        r = split_half(measurements)
        if len(measurements) >= MIN_MEASUREMENTS and not math.isnan(r) and (self._best is None or r > self._best[0]):
            self._best = (r, len(self.checks))
        self.checks.append({"epoch": epoch, "measurements": len(measurements), "transfer": transfer, "split_half": r})
        return False

    def _used(self) -> dict:
        """The check whose running mean is the result: the most reliable one (calibrated), else the last one kept."""
        kept = [c for c in self.checks if not c.get("left_out")]
        if self.stops and self._best is not None:
            return self.checks[self._best[1]]
        return kept[-1] if kept else {"epoch": 0, "measurements": 0}

    def matrix(self, measurements: Sequence[np.ndarray]) -> tuple[np.ndarray, int]:
        """The result's matrix and the epoch it is from (the running mean at :meth:`_used`'s check)."""
        used = self._used()
        kept = measurements[: used["measurements"]] or measurements
        return running_mean(kept), used["epoch"]

    def report(self, measurements: Sequence[np.ndarray], epochs_cap: int) -> dict:
        """What the result carries: the split-half ``r``, per-k separation and halves' agreement, and the run."""
        t = np.asarray(measurements[0]).shape[0] if measurements else 0
        ks = [k for k in self.ks if 1 <= k <= t]
        used = self._used()
        measurements = measurements[: used["measurements"]]
        halves: dict[str, float] = {}
        apart: dict[str, float] = {}
        if len(measurements) >= 2:
            mean = running_mean(measurements)
            apart = {str(k): separation(mean, g) for k, g in groups_for_each_k(mean, ks, self.seed).items()}
            even, odd = (groups_for_each_k(running_mean(measurements[i::2]), ks, self.seed) for i in (0, 1))
            halves = {str(k): agreement(even[k], odd[k], t) for k in ks}
        return {
            "split_half": used.get("split_half", math.nan),
            "separation": apart,
            "matrix_epoch": used["epoch"],
            "grouping_agreement": halves,
            "length": "calibrated" if self.stops else "fixed",
            "ended": self.ended or ("cap" if self.stops else "fixed length"),
            "epochs_run": self.checks[-1]["epoch"] if self.checks else 0,
            "epochs_cap": epochs_cap,
            "ks": ks,
            "rule": (
                "stop at the end of the first epoch (after the first) whose mean transfer (mean off-diagonal "
                "affinity) is negative, leaving it out; keep the running mean of the most reliable check "
                f"(highest split-half r); unreliable when r < {SPLIT_HALF_MIN} or the group separation is below "
                f"{SEPARATION_MIN} at every k"
            ),
            "checks": self.checks,
        }


def _run_text(reliability: dict) -> str:
    epochs, cap = reliability.get("epochs_run", 0), reliability.get("epochs_cap", 0)
    if reliability.get("length") == "fixed":
        return f"after its {epochs} epoch(s) (length: fixed)"
    which = f"the matrix of epoch {reliability.get('matrix_epoch')}, its most reliable"
    if reliability.get("ended") == "negative transfer":
        return f"stopped after {epochs} of {cap} epochs, when the mean transfer turned negative; {which}"
    return f"ran to its cap ({cap} epochs) with the mean transfer still positive; {which}"


def best_separation(reliability: dict) -> float:
    """The largest group separation over the reported ks (NaN when none is defined)."""
    values = [v for v in (reliability.get("separation") or {}).values() if v is not None and not math.isnan(v)]
    return max(values) if values else math.nan


def reliability_warning(method: str, reliability: dict) -> str | None:
    """A warning for an unreliable affinity matrix, saying what to do; None when fine.

    Unreliable: its split-half r is below :data:`SPLIT_HALF_MIN` (or undefined), or its groups are not separated
    (:func:`best_separation` below :data:`SEPARATION_MIN`, or undefined).
    """
    r = reliability.get("split_half", math.nan)
    apart = best_separation(reliability)
    if not math.isnan(r) and r >= SPLIT_HALF_MIN and not math.isnan(apart) and apart >= SEPARATION_MIN:
        return None
    if math.isnan(r):
        why = "too few measurements for a split-half r"
    elif r < SPLIT_HALF_MIN:
        why = f"split-half r = {r:.2f} < {SPLIT_HALF_MIN}"
    else:
        why = (
            f"its groups are not separated: within-group affinity is at most {apart:.2f} sd above between-group, "
            f"< {SEPARATION_MIN}"
            if not math.isnan(apart)
            else "no group separation could be measured"
        )
    if reliability.get("length") == "fixed":
        todo = "set grouping_methods.affinity.length: calibrated (epochs becomes its cap) or raise epochs"
    elif reliability.get("ended") == "cap":
        todo = "raise grouping_methods.affinity.epochs (the cap) or measure more often (every_steps)"
    else:
        todo = "measure more often (grouping_methods.affinity.every_steps)"
    return (
        f"the {method} matrix is not reliable ({why}, {_run_text(reliability)}): the groups it gives may be noise. "
        f"To do: {todo}, use the embedding method, or give manual groups; the tasks may also have no group "
        f"structure to find"
    )


def describe(reliability: dict, short: bool = False) -> str:
    """One line: ``split-half r 0.97, group separation 2.1, stopped after 9 of 20 epochs, …; groups of the two halves
    agree: k=3 ARI 1.00`` (``short``: without the agreement)."""
    r = reliability.get("split_half", math.nan)
    text = f"split-half r {r:.2f}, group separation {best_separation(reliability):.2f}, {_run_text(reliability)}"
    if short:
        return text
    halves = ", ".join(f"k={k} ARI {v:.2f}" for k, v in (reliability.get("grouping_agreement") or {}).items())
    return text + (f"; groups of the two halves agree: {halves}" if halves else "")
