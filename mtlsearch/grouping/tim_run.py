"""The TIM of a short all-task run with cross-task attention, and how far it can be trusted.

The ``tim`` grouping method trains every task on one shared encoder with M3H's
cross-task attention (Bertsimas and Ma, "M3H: Multimodal Multitask Machine
Learning for Healthcare", arXiv:2404.18975, 2024; the layer and
``TIM_{t←s}`` = the mean of ``A_ts`` over validation examples as defined in
:mod:`mtlsearch.models.cross_task_attention`) for ``epochs`` epochs, then reads
the attention of the final model on every validation example.

**As an affinity matrix.** ``TIM_{t←s}`` says how much task ``t`` draws on task
``s``: ``s`` helps ``t``. TAG's selection (:func:`~mtlsearch.grouping.selection.select_groups`)
takes ``Z_{i→j}`` with row = source, column = target, so it gets ``Z = TIMᵀ``
(``Z_{s→t} = TIM_{t←s}``), diagonal 0.

**How reliable it is** (stored with the matrix). The run is made twice, with
the job's seed and the next one, and the matrix is the mean of the two TIMs.
The **cross-seed** ``r`` is the Pearson correlation of the two runs' interaction
entries (off-diagonal, less their best additive fit,
:func:`~mtlsearch.grouping.reliability.interaction`, as for the affinity runs'
split-half ``r``): a TIM that says something about the tasks rather than about
one initialisation is the same from another seed. (A split-half ``r`` over the
validation examples of one run is not a check: the attention pattern of one
model is consistent across examples whether or not it follows the tasks, and
we measured it near 1 where the TIMs of two seeds were uncorrelated.) The
**group separation** per k (:func:`~mtlsearch.grouping.reliability.separation`)
is that of the mean. The thresholds are the affinity runs'
(:data:`~mtlsearch.grouping.reliability.SPLIT_HALF_MIN` for ``r``,
:data:`~mtlsearch.grouping.reliability.SEPARATION_MIN`); they were calibrated on
lookahead affinity, not on TIM. ``benchmarks/cross_task_attention.py``
measures how far TIM follows planted dependencies.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mtlsearch.grouping.reliability import SEPARATION_MIN, SPLIT_HALF_MIN, correlation, groups_for_each_k, interaction, separation
from mtlsearch.metrics.result_keys import VAL

if TYPE_CHECKING:
    from mtlsearch.train.job import TrainJob

TIM_RULE = 1
"""Version of the run and its report: part of a stored TIM's fingerprint."""


@dataclass
class TimResult:
    task_names: list[str]
    tim: np.ndarray  # TIM_{t←s}: rows t, columns s, diagonal NaN
    seconds: float
    reliability: dict = field(default_factory=dict)

    @property
    def affinity(self) -> np.ndarray:
        """``Z_{s→t} = TIM_{t←s}`` (row = source), diagonal 0: what TAG's selection reads."""
        z = np.nan_to_num(self.tim.T, nan=0.0)
        np.fill_diagonal(z, 0.0)
        return z


def report(tims: Sequence[np.ndarray], ks: Sequence[int], seed: int, epochs: int, examples: int) -> dict:
    """Cross-seed r of the runs' TIMs, separation per k of their mean, and the runs' length."""
    affinities = [np.nan_to_num(t.T) for t in tims]
    t = affinities[0].shape[0]
    r = correlation(interaction(affinities[0]), interaction(affinities[1])) if t >= 3 and len(affinities) >= 2 else math.nan
    mean = np.mean(affinities, axis=0)
    ks = [k for k in ks if 1 <= k <= t]
    apart = {str(k): separation(mean, g) for k, g in groups_for_each_k(mean, ks, seed).items()} if t >= 2 else {}
    return {
        "cross_seed": r,
        "separation": apart,
        "epochs_run": epochs,
        "runs": len(tims),
        "examples": examples,
        "ks": ks,
    }


def describe(reliability: dict) -> str:
    """One line: ``cross-seed r 0.95 (2 runs), group separation 1.8, 8 epoch(s) each, TIM over 900 validation examples``."""
    values = [v for v in (reliability.get("separation") or {}).values() if v is not None and not math.isnan(v)]
    apart = max(values) if values else math.nan
    return (
        f"cross-seed r {reliability.get('cross_seed', math.nan):.2f} ({reliability.get('runs', 0)} runs), group "
        f"separation {apart:.2f}, {reliability.get('epochs_run', 0)} epoch(s) each, TIM over "
        f"{reliability.get('examples', 0)} validation examples"
    )


def warning(method: str, reliability: dict) -> str | None:
    """Why the TIM is not to be trusted for grouping, and what to do; None when it passes both checks."""
    r = reliability.get("cross_seed", math.nan)
    values = [v for v in (reliability.get("separation") or {}).values() if v is not None and not math.isnan(v)]
    apart = max(values) if values else math.nan
    if not math.isnan(r) and r >= SPLIT_HALF_MIN and not math.isnan(apart) and apart >= SEPARATION_MIN:
        return None
    return (
        f"grouping method {method!r}: the TIM is unreliable ({describe(reliability)}; needs a cross-seed r >= "
        f"{SPLIT_HALF_MIN} and a separation >= {SEPARATION_MIN} at some k): two seeds do not agree on which tasks "
        "attend to which, so groups selected from it are close to arbitrary. Train the runs longer "
        "(grouping_methods.tim.epochs) or group with another method (affinity, head_coupling)"
    )


def _run_tim(job: TrainJob, plan, epochs: int, seed: int, names: list[str]) -> tuple[np.ndarray, int]:
    """``TIM_{t←s}`` (rows t, columns s, in ``names`` order, diagonal NaN) of one run with ``seed``, read on the
    validation split after its last epoch by the trainer's own evaluation (as a trial's is), and the examples it
    averages over."""
    from mtlsearch.train.trainer import MultiTaskTrainer

    trainer = MultiTaskTrainer(replace(job, plan=plan, epochs=epochs, baselines={}, seed=seed))
    for epoch in range(epochs):
        trainer.train_epoch(epoch)
    trainer.evaluate(VAL)
    rows = trainer.epoch_tim
    tim = np.array([[rows[t][s] if s != t else math.nan for s in names] for t in names], dtype=np.float64)
    return tim, int(trainer.data[VAL][0].shape[0])


def compute_tim(job: TrainJob, epochs: int, gamma: float | str, dim: int, ks: Sequence[int] | None = None) -> TimResult:
    """Train all of ``job``'s tasks with cross-task attention on one shared encoder for ``epochs``, with the job's
    seed and the next; the TIM is the mean of the two runs' (module docstring)."""
    from mtlsearch.models.plan import make_plan

    names = [t.name for t in job.tasks]
    plan = make_plan("MTL", names, attention=True, attention_gamma=gamma, attention_dim=dim)
    t0 = time.perf_counter()
    tims, examples = [], 0
    for seed in (job.seed, job.seed + 1):
        tim, examples = _run_tim(job, plan, epochs, seed, names)
        tims.append(tim)
    ks = list(ks) if ks is not None else list(range(2, min(5, len(names) - 1) + 1))
    rel = report(tims, ks, job.seed, epochs, examples)
    return TimResult(names, np.mean(tims, axis=0), time.perf_counter() - t0, rel)
