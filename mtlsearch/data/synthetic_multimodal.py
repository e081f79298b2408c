"""Synthetic multimodal multitask data with known answers: which modality each task needs, and which tasks depend
on which.

Generative model (deterministic from ``seed``; ``n = num_samples``):

* **Two modalities.** ``tabular``: ``x_tab ∈ R^{tabular_dim + noise_dim}``,
  ``N(0, I)``, of which the first ``tabular_dim`` features carry signal.
  ``signal``: a time series ``x_sig ∈ R^{steps × channels}``,
  ``x_sig = Σ_j h_j B_j + signal_noise · ε``, with a per-example code
  ``h ∈ R^{signal_codes}``, ``h ~ N(0, I)``, and fixed smooth waveforms ``B_j``
  (a sinusoid per channel with a random frequency and phase).
* **What each task needs.** Tasks cycle through ``tabular``, ``signal``,
  ``both``. A task's own latent is ``a_t = z(tanh(1.5 · x_tab w_t))``
  (tabular), ``b_t = z(tanh(1.5 · h w_t'))`` (signal), or
  ``(a_t + b_t) / √2`` (both), ``z(·)`` standardising over the examples and
  ``w`` random directions, so a ``both`` task cannot be solved from one
  modality.
* **Planted dependencies** ``D`` (T×T, rows t, columns s, ``D_ts`` = how much
  task ``t``'s label depends on task ``s``'s latent; diagonal 0). With
  ``dependencies: sparse``, each task of the second half depends on two tasks
  of the first half with distinct strengths (evenly spaced over
  ``[0.25, 1.25]``, in a seeded order), the first half depends on nothing; with
  ``dense``, every task depends on every other, with distinct strengths (evenly
  spaced over ``[0.05, 1]``, seeded order) scaled so that each row sums to
  ``dense_total``: every off-diagonal entry has its own rank, so a measured
  interdependence can be compared with ``D`` by rank without ties; with
  ``routed``, each example reads one other task: a categorical context
  ``c ∈ {1 … T−1}`` (one-hot, appended to the tabular input; category ``k``
  has its own frequency ``f_k``, evenly spaced over ``[1, 2.5]``, normalised,
  seeded order) routes task ``t`` to the task ``π_t(c)`` (``π_t`` a seeded
  bijection from the categories onto the other tasks), so ``D_ts = f_k`` for
  ``s = π_t(k)`` (each row sums to 1) and the dependency is multiplicative:
  which latent counts depends on ``c``; with ``none``, ``D = 0``.
* **Labels.** ``score_t = own_weight · u_t + Σ_s D_ts u_s + noise · ε``
  (``u_s`` the task's own latent; under ``routed``,
  ``own_weight · u_t + u_{π_t(c)} + noise · ε``), standardised; binary at its
  ``1 − p_t`` quantile, ``p_t`` uniform in ``[0.5 − imbalance, 0.5]``; with
  ``dependent_labels < 1``, only that fraction of the training examples keeps
  a label for each task that depends on others (the rest are missing, ``-1``;
  validation and test stay fully labelled).

The table has the two inputs (``tabular``: a tabular input, with the context's
``T − 1`` one-hot columns last under ``routed``; ``signal``: a ``timeseries``
input) and keeps its answers in ``DatasetInfo.extra``:
``planted_dependencies`` (``D``, rows in task order) and ``task_modalities``
(each task's ``tabular`` / ``signal`` / ``both``). Tasks carry no description.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from mtlsearch.data.canonical import DatasetInfo, InputInfo, TaskInfo, build_table
from mtlsearch.data.loader import Loader, LoaderOptions, register
from mtlsearch.data.synthetic import task_name

MODALITY_CYCLE = ("tabular", "signal", "both")
TABULAR, SIGNAL = "tabular", "signal"
PLANTED_DEPENDENCIES = "planted_dependencies"
TASK_MODALITIES = "task_modalities"
SPARSE_RANGE = (0.25, 1.25)
DENSE_RANGE = (0.05, 1.0)
ROUTED_FREQUENCY_RANGE = (1.0, 2.5)
ROUTED = "routed"


class SyntheticMultimodalOptions(LoaderOptions):
    num_tasks: int = Field(6, ge=2, le=60, description="number of tasks T (they cycle through tabular, signal, both)")
    num_samples: int = Field(3000, ge=60, description="examples over all splits")
    tabular_dim: int = Field(12, ge=1, description="tabular features carrying signal")
    noise_dim: int = Field(4, ge=0, description="extra pure-noise tabular features")
    steps: int = Field(32, ge=4, description="time steps of the signal")
    channels: int = Field(2, ge=1, description="channels of the signal")
    signal_codes: int = Field(6, ge=1, description="size of the per-example code the signal is drawn from")
    signal_noise: float = Field(0.3, ge=0.0, description="noise added to the signal (its waveforms have unit scale)")
    dependencies: Literal["sparse", "dense", "routed", "none"] = Field("sparse", description="planted task dependencies")
    dense_total: float = Field(1.0, gt=0.0, description="dense dependencies: the sum of each task's row of D")
    own_weight: float = Field(0.6, ge=0.0, description="weight of a dependent task's own latent in its score")
    dependent_labels: float = Field(
        1.0, gt=0.0, le=1.0, description="fraction of the training examples labelled for each task that depends on others"
    )
    noise: float = Field(0.3, ge=0.0, description="label noise, relative to the score's std")
    imbalance: float = Field(0.2, ge=0.0, lt=0.5, description="how far positive rates may fall below 0.5")
    val_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    seed: int = 0


def planted_dependencies(num_tasks: int, kind: str, rng: np.random.Generator, dense_total: float = 1.0) -> np.ndarray:
    """``D`` (module docstring): ``sparse``, ``dense`` or ``none``."""
    d = np.zeros((num_tasks, num_tasks))
    if kind == "dense":
        off = ~np.eye(num_tasks, dtype=bool)
        d[off] = rng.permutation(np.linspace(*DENSE_RANGE, num=int(off.sum())))
        return d * dense_total / d.sum(axis=1, keepdims=True)
    if kind == "none" or num_tasks < 2:
        return d
    sources = list(range(num_tasks // 2))
    dependents = list(range(num_tasks // 2, num_tasks))
    pairs = [(t, s) for t in dependents for s in rng.choice(sources, size=min(2, len(sources)), replace=False)]
    for (t, s), w in zip(pairs, rng.permutation(np.linspace(*SPARSE_RANGE, num=len(pairs)))):
        d[t, s] = w
    return d


def _tabular_width(o: SyntheticMultimodalOptions) -> int:
    """Columns of the tabular input: signal, noise, and under ``routed`` the context's one-hot."""
    return o.tabular_dim + o.noise_dim + (o.num_tasks - 1 if o.dependencies == ROUTED else 0)


def routed_dependencies(num_tasks: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``routed`` (module docstring): the category frequencies ``f``, the routes ``π`` (``π[t, k]`` = the task
    category ``k`` routes task ``t`` to) and ``D`` (``D[t, π[t, k]] = f[k]``)."""
    k = num_tasks - 1
    freq = np.linspace(*ROUTED_FREQUENCY_RANGE, num=k)
    freq = rng.permutation(freq / freq.sum())
    routes = np.stack([rng.permutation([s for s in range(num_tasks) if s != t]) for t in range(num_tasks)])
    d = np.zeros((num_tasks, num_tasks))
    for t in range(num_tasks):
        d[t, routes[t]] = freq
    return freq, routes, d


def _standardised(v: np.ndarray) -> np.ndarray:
    return (v - v.mean()) / (v.std() + 1e-12)


@register
class SyntheticMultimodalLoader(Loader):
    name = "synthetic_multimodal"
    Options = SyntheticMultimodalOptions

    def tasks(self, options: SyntheticMultimodalOptions) -> list[TaskInfo]:
        return [TaskInfo(task_name(i, options.num_tasks), "binary", ("negative", "positive")) for i in range(options.num_tasks)]

    def inputs(self, options: SyntheticMultimodalOptions) -> tuple[InputInfo, ...]:
        o = options
        return (
            InputInfo(TABULAR, "tabular", (_tabular_width(o),), TABULAR, description="patient-table-like features"),
            InputInfo(SIGNAL, "timeseries", (o.steps, o.channels), SIGNAL, description="a multichannel waveform"),
        )

    def build(self, options: SyntheticMultimodalOptions, fingerprint: str) -> tuple[DatasetInfo, pa.Table]:
        o = options
        rng = np.random.default_rng(o.seed)
        n = o.num_samples
        x_tab = rng.standard_normal((n, o.tabular_dim + o.noise_dim)).astype(np.float32)
        codes = rng.standard_normal((n, o.signal_codes))
        t_axis = np.linspace(0.0, 1.0, o.steps)
        freq = rng.uniform(1.0, 6.0, size=(o.signal_codes, o.channels))
        phase = rng.uniform(0.0, 2 * np.pi, size=(o.signal_codes, o.channels))
        waves = np.sin(2 * np.pi * freq[:, None, :] * t_axis[None, :, None] + phase[:, None, :])  # (codes, steps, channels)
        x_sig = np.einsum("nj,jsc->nsc", codes, waves) / np.sqrt(o.signal_codes)
        x_sig = (x_sig + o.signal_noise * rng.standard_normal(x_sig.shape)).astype(np.float32)

        def tabular_latent() -> np.ndarray:
            w = rng.standard_normal(o.tabular_dim) / np.sqrt(o.tabular_dim)
            return _standardised(np.tanh(1.5 * x_tab[:, : o.tabular_dim] @ w))

        def signal_latent() -> np.ndarray:
            w = rng.standard_normal(o.signal_codes) / np.sqrt(o.signal_codes)
            return _standardised(np.tanh(1.5 * codes @ w))

        tasks = self.tasks(o)
        modalities = [MODALITY_CYCLE[i % len(MODALITY_CYCLE)] for i in range(o.num_tasks)]
        own = []
        for m in modalities:
            if m == TABULAR:
                own.append(tabular_latent())
            elif m == SIGNAL:
                own.append(signal_latent())
            else:
                own.append(_standardised(tabular_latent() + signal_latent()))
        u = np.stack(own, axis=1)
        if o.dependencies == ROUTED:
            freq, routes, d = routed_dependencies(o.num_tasks, rng)
            context = rng.choice(len(freq), size=n, p=freq)
            x_tab = np.concatenate([x_tab, np.eye(len(freq), dtype=np.float32)[context]], axis=1)
            cross = u[np.arange(n)[:, None], routes[:, context].T]  # (n, T): the latent each example routes t to
        else:
            d = planted_dependencies(o.num_tasks, o.dependencies, rng, o.dense_total)
            cross = u @ d.T
        depends = d.sum(axis=1) > 0  # every task under routed (each row of D sums to 1)
        score = np.where(depends, o.own_weight, 1.0) * u + cross
        score = score + o.noise * score.std(axis=0) * rng.standard_normal(score.shape)
        labels: dict[str, np.ndarray] = {}
        for j, task in enumerate(tasks):
            pos_rate = rng.uniform(0.5 - o.imbalance, 0.5)
            labels[task.name] = (score[:, j] > np.quantile(score[:, j], 1.0 - pos_rate)).astype(np.int64)

        order = rng.permutation(n)
        n_val, n_test = int(round(o.val_fraction * n)), int(round(o.test_fraction * n))
        split = np.empty(n, dtype=object)
        split[order[:n_val]] = "val"
        split[order[n_val : n_val + n_test]] = "test"
        split[order[n_val + n_test :]] = "train"
        if o.dependent_labels < 1.0:  # scarce labels: a dependent task must borrow what it cannot learn alone
            train = np.flatnonzero(split == "train")
            for j, task in enumerate(tasks):
                if depends[j]:
                    hidden = rng.choice(train, size=int(round((1 - o.dependent_labels) * len(train))), replace=False)
                    labels[task.name][hidden] = -1
        info = DatasetInfo(
            name=f"synthetic-multimodal-T{o.num_tasks}-{o.dependencies}-seed{o.seed}",
            tasks=tuple(tasks),
            input_column=TABULAR,
            input_dim=_tabular_width(o),
            fingerprint=fingerprint,
            extra={"loader": self.name, PLANTED_DEPENDENCIES: d.tolist(), TASK_MODALITIES: modalities},
            inputs=self.inputs(o),
        )
        ids = [f"m{i:06d}" for i in range(n)]
        return info, build_table(info, ids, split.tolist(), {TABULAR: x_tab, SIGNAL: x_sig}, labels)
