"""CO-TASK's task-aware imbalance data sampler (AAAI 2021; ``shared/papers/co-task_aaai2021.txt``).

Paper, section *Methodology → Multi-task Learning Model Training*:

    "For each batch in an epoch, we first pick a task we want to train randomly
    or weighted toward major tasks. We then generate a batch of training samples
    from the selected task and calculate the loss related to the task we pick."

and section *Methodology → Task-Aware Imbalance Data Sampler*:

    "we first calculated the weight of each class for the selected task by
    passing the class's data count for the selected task through the weight
    function. Then, all the data points have a probability of being sampled
    according to the corresponding weight. [...] The weight function log(x)/x
    balances the small and large classes and allows larger classes to have a
    slightly higher total sample probability."

So for the task ``t`` picked at a step, a training example ``i`` whose label for
``t`` is class ``c`` is drawn with probability ``w(n_c) / Σ_j w(n_{c_j})``
(the sum over all examples labelled for ``t``), ``n_c`` being the number of
training examples of class ``c`` for ``t``. A class therefore receives the
total probability ``n_c·w(n_c) / Σ_{c'} n_{c'}·w(n_{c'})``, i.e. ``log n_c / Σ_{c'} log n_{c'}`` when
every class has at least two examples (see :func:`class_weight` for ``n_c ≤ 1``).
Examples whose label for ``t`` is missing (``-1``) are never drawn for ``t``.
Batches are drawn *with replacement*. The batch's loss is the picked task's
loss only (the paper's procedure); integrating that is the trainer's business.

Determinism and DDP: the batch of global step ``step`` of epoch ``epoch`` is a
pure function of ``(seed, epoch, step)`` (its own :class:`numpy.random.SeedSequence`),
so every rank computes the same global batch without communication and takes
its share with :meth:`TaskAwareSampler.rank_share` — element ``r``, ``r + W``,
``r + 2W`` … for rank ``r`` of ``W``, the convention of
:mod:`mtlsearch.train.trainer`. An epoch has ``ceil(N_train / batch_size)``
steps, as many as a pass of the permutation sampler.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

# Separates this module's random streams from other users of the same trial seed.
_STREAM_TAG = 0x5A3D_7A5C  # "task-aware sampler"

#: Per-example weight of a class with a single training example (see :func:`class_weight`).
SINGLETON_WEIGHT = math.log(2.0) / 2.0


def class_weight(n: int) -> float:
    """The weight function ``w(n) = log(n) / n`` of one class with ``n`` training examples.

    * ``n >= 2``: exactly the paper's ``log(x)/x`` (natural log; the base cancels
      when the weights are normalised).
    * ``n == 0``: ``0`` — an empty class has no examples to draw.
    * ``n == 1``: ``log(2)/2`` (:data:`SINGLETON_WEIGHT`). The paper's formula gives
      ``log(1)/1 = 0``, which would make a class with one example unreachable. The
      paper's stated intent is about the class *total* ``g(n) = n·w(n) = log n``:
      small classes are boosted, and "larger classes [have] a slightly higher total
      sample probability", i.e. ``g`` increases with ``n``. We keep that: ``g`` is
      extended to ``n = 1`` by linear interpolation between ``g(0) = 0`` (empty
      class) and ``g(2) = log 2``, so ``g(1) = log(2)/2`` and the per-example
      weight of a singleton equals that of a class of two. ``g`` stays strictly
      increasing (``0 < log(2)/2 < log 2 < log 3 < …``); the alternative
      ``w(1) = log 2`` would give a singleton the same total as a class of two.
    """
    if n < 0:
        raise ValueError(f"a class count must be >= 0 (got {n})")
    if n == 0:
        return 0.0
    if n == 1:
        return SINGLETON_WEIGHT
    return math.log(n) / n


def class_weights(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """Per-example weight of each class, ``w(n_c)`` of :func:`class_weight`, for a count vector.

    ``counts[c]`` is the number of training examples of class ``c`` for one task.
    Returns a float64 array of the same length.
    """
    arr = np.asarray(counts)
    if arr.ndim != 1:
        raise ValueError(f"counts must be a 1-d array of class counts (got shape {arr.shape})")
    if arr.size and (not np.all(np.equal(np.mod(arr, 1), 0)) or arr.min() < 0):
        raise ValueError(f"counts must be non-negative integers (got {arr.tolist()})")
    return np.array([class_weight(int(n)) for n in arr], dtype=np.float64)


def class_probabilities(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """Probability that one drawn example belongs to each class: ``n_c·w(n_c) / Σ_c' n_c'·w(n_c')``.

    For ``n_c >= 2`` the numerator is ``log n_c``; raises ``ValueError`` if no class has examples.
    """
    arr = np.asarray(counts, dtype=np.int64)
    mass = arr * class_weights(arr)
    total = mass.sum()
    if total <= 0:
        raise ValueError("no class has a training example: nothing to sample")
    return mass / total


def major_task_probs(task_names: Sequence[str], major: Sequence[str] = (), major_prob: float = 0.5) -> np.ndarray:
    """Task-picking probabilities weighted towards major tasks.

    A step picks *some* major task with probability ``major_prob`` (spread
    uniformly over the major tasks) and some other task with ``1 - major_prob``
    (spread uniformly over the others). With no major task, or only major tasks,
    picking is uniform. ``major_prob`` sets the chance, it does not multiply the
    uniform one: with most tasks major, ``0.5`` can be below uniform.
    """
    names = list(task_names)
    unknown = sorted(set(major) - set(names))
    if unknown:
        raise ValueError(f"unknown major task(s) {unknown}; known tasks: {names}")
    if not 0.0 <= major_prob <= 1.0:
        raise ValueError(f"major_prob must lie in [0, 1] (got {major_prob})")
    is_major = np.array([n in set(major) for n in names], dtype=bool)
    k = int(is_major.sum())
    if k == 0 or k == len(names):
        return np.full(len(names), 1.0 / len(names))
    return np.where(is_major, major_prob / k, (1.0 - major_prob) / (len(names) - k))


class TaskAwareSampler:
    """Global batches ``(task, indices)`` drawn by CO-TASK's task-aware imbalance sampler.

    ``y_train``: ``(N, T)`` integer labels of the training split (``-1`` = missing),
    columns in the order of ``task_names``. ``task_probs``: the task-picking
    distribution — ``None`` for uniform, a sequence of ``T`` non-negative numbers
    or a ``{task name: weight}`` mapping (absent names get 0); normalised here.
    :func:`major_task_probs` builds one weighted towards major tasks.

    Every task with a positive picking probability must have at least one
    labelled training example. Works for any tasks (primary, auxiliary or
    metadata); an auxiliary task's down-sampled-away labels are ``-1`` and are
    therefore never drawn for it.
    """

    def __init__(
        self,
        y_train: np.ndarray,
        task_names: Sequence[str],
        batch_size: int,
        seed: int,
        task_probs: Sequence[float] | Mapping[str, float] | np.ndarray | None = None,
    ):
        y = np.asarray(y_train)
        if y.ndim != 2 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y_train must be an (N, T) integer label matrix (got shape {y.shape}, dtype {y.dtype})")
        self.task_names = list(task_names)
        if y.shape[1] != len(self.task_names):
            raise ValueError(f"y_train has {y.shape[1]} columns but {len(self.task_names)} task names were given")
        if len(set(self.task_names)) != len(self.task_names):
            raise ValueError(f"task names must be distinct (got {self.task_names})")
        if not self.task_names:
            raise ValueError("the sampler needs at least one task")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer (got {batch_size})")
        if int(seed) != seed or seed < 0:
            raise ValueError(f"seed must be a non-negative integer (got {seed})")
        if y.size and y.min() < -1:
            raise ValueError("labels must be >= 0, or -1 for missing")
        self.n_train = int(y.shape[0])
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.task_probs = self._task_probs(task_probs)

        # Per task: the labelled examples grouped by class (stable, so ascending index within a
        # class), where each class starts in that array, its count, and each class's probability.
        self._order: list[np.ndarray] = []
        self._starts: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._class_probs: list[np.ndarray | None] = []
        for t, name in enumerate(self.task_names):
            col = y[:, t]
            labelled = np.flatnonzero(col >= 0)
            labels = col[labelled]
            counts = np.bincount(labels, minlength=1).astype(np.int64) if labels.size else np.zeros(1, np.int64)
            order = labelled[np.argsort(labels, kind="stable")]
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
            self._order.append(order.astype(np.int64))
            self._starts.append(starts)
            self._counts.append(counts)
            if labels.size:
                self._class_probs.append(class_probabilities(counts))
            else:
                if self.task_probs[t] > 0:
                    raise ValueError(
                        f"task {name!r} has no labelled training example but a picking probability "
                        f"of {self.task_probs[t]:g}; give it probability 0"
                    )
                self._class_probs.append(None)

    def _task_probs(self, task_probs) -> np.ndarray:
        t = len(self.task_names)
        if task_probs is None:
            return np.full(t, 1.0 / t)
        if isinstance(task_probs, Mapping):
            unknown = sorted(set(task_probs) - set(self.task_names))
            if unknown:
                raise ValueError(f"task_probs names unknown task(s) {unknown}; known tasks: {self.task_names}")
            p = np.array([float(task_probs.get(n, 0.0)) for n in self.task_names])
        else:
            p = np.asarray(task_probs, dtype=np.float64)
            if p.shape != (t,):
                raise ValueError(f"task_probs must have one entry per task ({t}); got shape {p.shape}")
        if not np.all(np.isfinite(p)) or p.min() < 0 or p.sum() <= 0:
            raise ValueError(f"task_probs must be finite, non-negative and not all zero (got {p.tolist()})")
        return p / p.sum()

    # -- the distribution ------------------------------------------------------------

    @property
    def steps_per_epoch(self) -> int:
        """``ceil(N_train / batch_size)`` global steps per epoch."""
        return math.ceil(self.n_train / self.batch_size)

    def class_counts(self, task: int | str) -> np.ndarray:
        """``n_c``: training examples of each class for ``task`` (missing labels excluded)."""
        return self._counts[self._task_index(task)].copy()

    def class_probabilities(self, task: int | str) -> np.ndarray:
        """Probability that one example drawn for ``task`` is of class ``c`` (see :func:`class_probabilities`)."""
        p = self._class_probs[self._task_index(task)]
        if p is None:
            raise ValueError(f"task {self.task_names[self._task_index(task)]!r} has no labelled training example")
        return p.copy()

    def sample_probabilities(self, task: int | str) -> np.ndarray:
        """The dense ``(N_train,)`` distribution one draw for ``task`` follows.

        Example ``i`` of class ``c`` has ``w(n_c) / Σ_j w(n_{c_j})``; examples with a
        missing label have ``0``. (For inspection and tests; drawing never builds it.)
        """
        t = self._task_index(task)
        counts, order, starts = self._counts[t], self._order[t], self._starts[t]
        probs = self.class_probabilities(t)
        out = np.zeros(self.n_train, dtype=np.float64)
        for c, n in enumerate(counts):
            if n:
                out[order[starts[c] : starts[c] + n]] = probs[c] / n
        return out

    def _task_index(self, task: int | str) -> int:
        if isinstance(task, str):
            try:
                return self.task_names.index(task)
            except ValueError:
                raise ValueError(f"unknown task {task!r}; known tasks: {self.task_names}") from None
        if not 0 <= int(task) < len(self.task_names):
            raise ValueError(f"task index {task} out of range for {len(self.task_names)} tasks")
        return int(task)

    # -- drawing ---------------------------------------------------------------------

    def draw(self, epoch: int, step: int) -> tuple[int, np.ndarray]:
        """The global batch of ``(epoch, step)``: ``(task index, int64 indices into the training split)``.

        A pure function of ``(seed, epoch, step)``. The task is drawn from
        ``task_probs``; then each of the ``batch_size`` examples independently (with
        replacement): a class ``c`` with :meth:`class_probabilities`, then one of its
        ``n_c`` examples uniformly — the same law as drawing example ``i`` with
        probability ∝ ``w(n_{c_i})``, without building an ``N``-long vector per task.
        """
        if epoch < 0 or step < 0:
            raise ValueError(f"epoch and step must be >= 0 (got epoch={epoch}, step={step})")
        rng = np.random.default_rng(np.random.SeedSequence([_STREAM_TAG, self.seed, int(epoch), int(step)]))
        t = int(rng.choice(len(self.task_names), p=self.task_probs))
        probs = self._class_probs[t]
        assert probs is not None  # tasks without labels have picking probability 0
        classes = rng.choice(len(probs), size=self.batch_size, p=probs)
        offsets = rng.integers(0, self._counts[t][classes])  # uniform within the drawn class
        return t, self._order[t][self._starts[t][classes] + offsets]

    def epoch(self, epoch: int) -> Iterator[tuple[int, np.ndarray]]:
        """The ``steps_per_epoch`` global batches of ``epoch``, in step order."""
        for step in range(self.steps_per_epoch):
            yield self.draw(epoch, step)

    @staticmethod
    def rank_share(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
        """Rank ``rank``'s part of a global batch: every ``world_size``-th element from ``rank``."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, world_size) (got rank={rank}, world_size={world_size})")
        return indices[rank::world_size]
