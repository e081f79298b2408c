"""Head coupling: which tasks a shared representation serves together, from one all-task run that stops itself.

**The measure.** TAG's lookahead affinity (Fifty et al., "Efficiently
Identifying Task Groupings for Multi-Task Learning", NeurIPS 2021, eq. 3),
``Z_{i→j} = 1 − L_j(θ_s − η ∇L_i) / L_j(θ_s)``, is to first order in ``η``
``η ⟨∇_{θ_s} L_i, ∇_{θ_s} L_j⟩ / L_j``. With a shared encoder ``h = f(x; θ_s)``
and linear heads ``W_i``, ``∇_{θ_s} L_i = Σ_x J(x)ᵀ W_iᵀ δ_i(x)`` (``J`` the
encoder's Jacobian, ``δ_i`` task i's output error), so where the encoder's
tangent kernel is isotropic in ``h`` (``J(x) J(x')ᵀ ≈ k(x, x') I``)

    ⟨∇L_i, ∇L_j⟩ ≈ ⟨W_i, W_j⟩ · Σ_{x,x'} δ_i(x) k(x, x') δ_j(x'):

the coupling of the two heads through the shared representation times the
coupling of the two tasks' current errors. The second factor is what makes TAG's
matrix hang on the run length: it carries the groups only while the shared
signal is still unexplained, and once each task has fit its own signal the errors
are noise (the lookahead then fades, and a running mean drifts with it). The
first factor converges as the heads do. This module measures it:

    C_ij = σ_max(U_i U_jᵀ),

the cosine of the smallest principal angle between the row spaces of the two
heads (``U_i``: an orthonormal basis of task i's head, centred over its classes
for a multiclass task; for two binary tasks ``C_ij = |cos(w_i, w_j)|``). Its
absolute value: a task that is the negation of another reads the same feature,
and its errors are anti-correlated too, so it transfers. ``C`` is symmetric and
is grouped by TAG's selection (:func:`mtlsearch.grouping.selection.select_groups`).
This decomposition is this project's, derived from TAG's definition; it is not
in the TAG paper.

**When the run stops.** The all-task model trains on the spec's model, batch size
and learning rate; at each epoch's end ``C`` is measured (its cost is
negligible: the heads' weights only). The run stops once ``C`` has settled: the
Pearson correlation of its off-diagonal entries with those of each of the two
previous epochs is at least :data:`STABILITY_MIN`. ``epochs`` is the cap.

**How reliable it is** (stored with the matrix, printed, shown on the heatmap):
whether the run settled before its cap, and the **coupling** of the groups
selected at each k (the mean ``C_ij`` within groups). Heads of unrelated tasks
are nearly orthogonal (for random directions in ``H`` dimensions
``E|cos| ≈ √(2 / (π H))``, 0.14 for ``H = 32``), so a best within-group coupling
below :data:`COUPLING_MIN` says there is no group structure worth the name. A
matrix is reported unreliable when it did not settle or its coupling is below
that.

Both thresholds were set on seeds 0-19 of ``benchmarks/grouping_reliability.py``
(four generators with planted groups, and independent tasks) and checked on
seeds 20-39; the measured tables are in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mtlsearch.grouping.reliability import correlation, separation

if TYPE_CHECKING:
    from mtlsearch.train.job import TrainJob

MEASURE = "head_coupling"
"""``reliability["measure"]`` of a head-coupling matrix (the reliability texts dispatch on it)."""
STABILITY_MIN = 0.995
"""The run stops once the matrix correlates at least this much with each of the two previous epochs'."""
COUPLING_MIN = 0.35
"""Below this best within-group coupling (mean C_ij within the groups of some k) a matrix is reported unreliable."""
COUPLING_EPOCHS_CAP = 40
"""Default cap of the run: the benchmark's planted groups settle after 9 to 25 epochs."""
COUPLING_RULE = 1
"""Version of the stopping rule and the report: part of a stored matrix's fingerprint."""


def head_basis(weight: np.ndarray) -> np.ndarray:
    """Orthonormal rows spanning a head's weight rows ``(C, H)``: ``w / |w|`` for a binary head; for a multiclass one
    the rows centred over the classes (a logit shared by every class changes no prediction), up to their rank C − 1."""
    w = np.asarray(weight, dtype=np.float64)
    if w.shape[0] > 1:
        w = w - w.mean(axis=0)
    _, s, vt = np.linalg.svd(w, full_matrices=False)
    if not s.size or s[0] == 0:
        return np.zeros((1, w.shape[1]))
    return vt[s > s[0] * 1e-9]


def coupling_matrix(weights: Sequence[np.ndarray]) -> np.ndarray:
    """``C_ij = σ_max(U_i U_jᵀ)`` over the tasks' head weights (diagonal 1)."""
    bases = [head_basis(w) for w in weights]
    t = len(bases)
    c = np.eye(t)
    for i in range(t):
        for j in range(i + 1, t):
            c[i, j] = c[j, i] = float(np.linalg.svd(bases[i] @ bases[j].T, compute_uv=False).max())
    return np.clip(c, 0.0, 1.0)


def _off(m: np.ndarray) -> np.ndarray:
    return m[~np.eye(m.shape[0], dtype=bool)]


def stability(history: Sequence[np.ndarray]) -> float | None:
    """The smaller correlation of the last matrix's off-diagonal entries with the two before it (None: fewer than
    three matrices, or fewer than three tasks)."""
    if len(history) < 3 or history[-1].shape[0] < 3:
        return None
    return min(correlation(_off(history[-1]), _off(history[-d])) for d in (2, 3))


def settled(history: Sequence[np.ndarray], threshold: float = STABILITY_MIN) -> float | None:
    """:func:`stability` when it reaches ``threshold``; else None."""
    r = stability(history)
    return r if r is not None and not math.isnan(r) and r >= threshold else None


def within_coupling(matrix: np.ndarray, groups: Sequence[Sequence[int]]) -> float:
    """Mean ``C_ij`` over the pairs of tasks in one group (NaN when every group is a single task)."""
    pairs = [matrix[i, j] for g in groups for i in g for j in g if i != j]
    return float(np.mean(pairs)) if pairs else math.nan


@dataclass
class CouplingResult:
    task_names: list[str]
    matrix: np.ndarray
    seconds: float
    reliability: dict = field(default_factory=dict)


def report(
    matrix: np.ndarray,
    ks: Sequence[int],
    seed: int,
    *,
    epochs_run: int,
    cap: int,
    stability: float | None,
    trajectory: list[float],
) -> dict:
    """What the matrix carries: settled or not, per-k coupling and separation of the selected groups, the rule."""
    from mtlsearch.grouping.selection import select_groups

    t = matrix.shape[0]
    ks = [k for k in ks if 1 <= k <= t]
    groups = {k: select_groups(matrix, k, seed=seed).groups for k in ks}
    return {
        "measure": MEASURE,
        "settled": stability is not None,
        "stability": stability,
        "epochs_run": epochs_run,
        "epochs_cap": cap,
        "coupling": {str(k): within_coupling(matrix, g) for k, g in groups.items()},
        "separation": {str(k): separation(matrix, g) for k, g in groups.items()},
        "ks": ks,
        "stability_trajectory": trajectory,
        "rule": (
            f"stop once the matrix correlates ≥ {STABILITY_MIN} with each of the two previous epochs' (cap: epochs); "
            f"unreliable when it did not settle or the best within-group coupling is below {COUPLING_MIN}"
        ),
    }


def best_coupling(reliability: dict) -> float:
    values = [v for v in (reliability.get("coupling") or {}).values() if v is not None and not math.isnan(v)]
    return max(values) if values else math.nan


def describe(reliability: dict) -> str:
    """``settled after 12 of 40 epochs (stability 0.997); within-group coupling 0.66, group separation 2.20``."""
    epochs, cap = reliability.get("epochs_run", 0), reliability.get("epochs_cap", 0)
    run = (
        f"settled after {epochs} of {cap} epochs (stability {reliability['stability']:.3f})"
        if reliability.get("settled")
        else f"did not settle within its cap ({cap} epochs)"
    )
    apart = [v for v in (reliability.get("separation") or {}).values() if v is not None and not math.isnan(v)]
    return (
        f"{run}; within-group coupling {best_coupling(reliability):.2f}, group separation {max(apart) if apart else math.nan:.2f}"
    )


def warning(method: str, reliability: dict) -> str | None:
    """A warning for an unreliable coupling matrix, saying what to do; None when fine."""
    coupling = best_coupling(reliability)
    if reliability.get("settled") and not math.isnan(coupling) and coupling >= COUPLING_MIN:
        return None
    if not reliability.get("settled"):
        why, todo = "it did not settle within its cap", "raise grouping_methods.head_coupling.epochs (the cap)"
    else:
        why = f"its best within-group coupling is {coupling:.2f} < {COUPLING_MIN}: the heads of its groups are nearly orthogonal"
        todo = "check that the tasks share anything"
    return (
        f"the {method} matrix is not reliable ({why}): the groups it gives may be noise. To do: {todo}, use the embedding "
        f"method, or give manual groups; the tasks may also have no group structure to find"
    )


def head_weights(model) -> dict[str, np.ndarray]:
    """Each task's head rows ``(C, H)`` of a one-encoder :class:`~mtlsearch.models.multitask.MultiTaskModel`."""
    out = {}
    for head, names, sizes in zip(model.heads, model._head_tasks, model._head_splits):
        weight = head.weight.detach().double().cpu().numpy()
        offset = 0
        for name, size in zip(names, sizes):
            out[name] = weight[offset : offset + size]
            offset += size
    return out


def compute_head_coupling(job: TrainJob, epochs: int = COUPLING_EPOCHS_CAP, ks: Sequence[int] | None = None) -> CouplingResult:
    """Train all of ``job``'s tasks on one shared encoder (MTL plan) until the head coupling settles, at most ``epochs``."""
    from mtlsearch.models.plan import make_plan
    from mtlsearch.train.trainer import MultiTaskTrainer

    if epochs < 3:
        raise ValueError("epochs (the cap) must be >= 3: settling compares three epochs")
    names = [t.name for t in job.tasks]
    run = replace(job, plan=make_plan("MTL", names), epochs=epochs, baselines={})
    t0 = time.perf_counter()
    trainer = MultiTaskTrainer(run)
    order = [t.name for t in trainer.tasks]
    history: list[np.ndarray] = []
    trajectory: list[float] = []
    for epoch in range(epochs):
        trainer.train_epoch(epoch)
        weights = head_weights(trainer.model)
        history.append(coupling_matrix([weights[n] for n in order]))
        r = stability(history)
        if r is not None:
            trajectory.append(r)
        if r is not None and not math.isnan(r) and r >= STABILITY_MIN:
            break
    else:
        r = None  # the cap: not settled
    t = len(order)
    ks = list(ks) if ks is not None else list(range(2, min(5, t - 1) + 1))
    rel = report(history[-1], ks, job.seed, epochs_run=len(history), cap=epochs, stability=r, trajectory=trajectory)
    return CouplingResult(order, history[-1], time.perf_counter() - t0, rel)
