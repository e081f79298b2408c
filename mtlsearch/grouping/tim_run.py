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

**How reliable it is** (stored with the matrix): the **split-half** ``r`` of
the TIMs of the even and odd validation examples (Pearson of their interaction
entries, :func:`~mtlsearch.grouping.reliability.interaction`, as for the affinity
runs) and the **group separation** per k (:func:`~mtlsearch.grouping.reliability.separation`).
The thresholds are the affinity runs' (:data:`~mtlsearch.grouping.reliability.SPLIT_HALF_MIN`,
:data:`~mtlsearch.grouping.reliability.SEPARATION_MIN`); they were calibrated on
lookahead affinity, not on TIM. A high split-half ``r`` says the attention pattern
is consistent across examples, not that it follows the tasks' real dependencies:
``benchmarks/cross_task_attention.py`` measures that against planted ones.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mtlsearch.grouping.reliability import SEPARATION_MIN, SPLIT_HALF_MIN, _groups, correlation, interaction, separation

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


def tim_from_attention(attention: np.ndarray) -> np.ndarray:
    """``TIM_{t←s}`` = mean over examples of ``A_ts`` (``attention``: ``(N, T, T)``), diagonal NaN."""
    tim = attention.mean(axis=0).astype(np.float64)
    np.fill_diagonal(tim, math.nan)
    return tim


def report(attention: np.ndarray, ks: Sequence[int], seed: int, epochs: int) -> dict:
    """Split-half r over even/odd examples, separation per k, and the run's length."""
    t = attention.shape[1]
    halves = [np.nan_to_num(tim_from_attention(attention[i::2]).T) for i in (0, 1)]
    r = correlation(interaction(halves[0]), interaction(halves[1])) if t >= 3 and attention.shape[0] >= 2 else math.nan
    full = np.nan_to_num(tim_from_attention(attention).T)
    ks = [k for k in ks if 1 <= k <= t]
    apart = {str(k): separation(full, g) for k, g in _groups(full, ks, seed).items()} if t >= 2 else {}
    return {"split_half": r, "separation": apart, "epochs_run": epochs, "examples": int(attention.shape[0]), "ks": ks}


def describe(reliability: dict) -> str:
    """One line: ``split-half r 0.95 over 900 validation examples, group separation 1.8, after 8 epoch(s)``."""
    values = [v for v in (reliability.get("separation") or {}).values() if v is not None and not math.isnan(v)]
    apart = max(values) if values else math.nan
    return (
        f"split-half r {reliability.get('split_half', math.nan):.2f} over {reliability.get('examples', 0)} validation "
        f"examples, group separation {apart:.2f}, after {reliability.get('epochs_run', 0)} epoch(s)"
    )


def warning(method: str, reliability: dict) -> str | None:
    """Why the TIM is not to be trusted for grouping, and what to do; None when it passes both checks."""
    r = reliability.get("split_half", math.nan)
    values = [v for v in (reliability.get("separation") or {}).values() if v is not None and not math.isnan(v)]
    apart = max(values) if values else math.nan
    if not math.isnan(r) and r >= SPLIT_HALF_MIN and not math.isnan(apart) and apart >= SEPARATION_MIN:
        return None
    return (
        f"grouping method {method!r}: the TIM is unreliable ({describe(reliability)}; needs split-half r >= "
        f"{SPLIT_HALF_MIN} and a separation >= {SEPARATION_MIN} at some k): the attention does not single out "
        "pairs of tasks; groups selected from it are close to arbitrary. Train the run longer "
        "(grouping_methods.tim.epochs) or group with another method"
    )


def compute_tim(job: TrainJob, epochs: int, gamma: float | str, dim: int, ks: Sequence[int] | None = None) -> TimResult:
    """Train all of ``job``'s tasks with cross-task attention on one shared encoder for ``epochs``; read the TIM."""
    import torch

    from mtlsearch.models.plan import make_plan
    from mtlsearch.train.trainer import MultiTaskTrainer

    names = [t.name for t in job.tasks]
    plan = make_plan("MTL", names, attention=True, attention_gamma=gamma, attention_dim=dim)
    t0 = time.perf_counter()
    trainer = MultiTaskTrainer(replace(job, plan=plan, epochs=epochs, baselines={}))
    for epoch in range(epochs):
        trainer.train_epoch(epoch)
    model, (x, _) = trainer.model, trainer.data["val"]
    model.eval()
    model.keep_attention(True)
    parts = []
    with torch.no_grad():
        for i in range(0, x.shape[0], trainer.eval_batch):
            model(x[i : i + trainer.eval_batch])
            parts.append(model.last_attention()[0].float().cpu().numpy())
    model.keep_attention(False)
    attention = np.concatenate(parts) if parts else np.zeros((0, len(names), len(names)))
    order = [t.name for t in trainer.tasks]
    index = [order.index(n) for n in names]  # the job's task order (the trainer's may append auxiliary tasks)
    attention = attention[:, index][:, :, index]
    ks = list(ks) if ks is not None else list(range(2, min(5, len(names) - 1) + 1))
    rel = report(attention, ks, job.seed, epochs)
    return TimResult(names, tim_from_attention(attention), time.perf_counter() - t0, rel)
