"""Synthetic multitask data with planted task groups.

Generative model (deterministic from ``seed``):

* inputs ``x ~ N(0, I_d)``; the first ``G · b`` feature dimensions are cut into
  ``G`` disjoint blocks of ``b = block_dim`` features, one per planted group; the
  remaining dimensions are pure noise;
* group ``g`` has a latent code ``z_g = tanh(x_{block g} W_g)`` with a random
  projection ``W_g ∈ R^{b×k}`` (``k = latent_dim``), so groups depend on
  disjoint feature subspaces;
* task ``t`` in group ``g`` scores ``s_t = z_g · v_t + ε`` with
  ``v_t = u_g + relatedness_noise · r_t`` (``u_g``, ``r_t`` random unit
  vectors): tasks of one group share the direction ``u_g``; ``ε`` is Gaussian
  with standard deviation ``noise · std(z_g · v_t)``;
* a binary task's label is ``s_t`` above its ``1 − p_t`` quantile, with a
  positive rate ``p_t`` drawn uniformly in ``[0.5 − imbalance, 0.5]``; a
  multiclass task cuts ``s_t`` into ``C`` classes at random quantiles (class
  sizes vary with ``imbalance``).

Tasks carry no description (a description naming the planted group would hand
it to embedding clustering). Tasks are assigned to groups in contiguous blocks
(``task_00..`` in group 0, and so on), or with ``shuffle_groups`` in a seeded
random order, so that similar names (``task_03``, ``task_04``) say nothing
about the groups. The planted grouping is stored with the table so grouping
methods can be checked against it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from mtlsearch.data.canonical import DatasetInfo, TaskInfo, build_table
from mtlsearch.data.loader import Loader, LoaderOptions, register


class SyntheticOptions(LoaderOptions):
    num_tasks: int = Field(8, ge=2, le=500, description="number of tasks T")
    num_groups: int = Field(2, ge=1, description="number of planted groups")
    num_samples: int = Field(3000, ge=60, description="examples over all splits")
    block_dim: int = Field(8, ge=1, description="feature dimensions per group")
    noise_dim: int = Field(8, ge=0, description="extra pure-noise feature dimensions")
    latent_dim: int = Field(4, ge=1, description="latent code size per group")
    noise: float = Field(0.3, ge=0.0, description="label noise, relative to the signal's std")
    relatedness_noise: float = Field(0.3, ge=0.0, description="how far tasks of one group deviate from the shared direction")
    imbalance: float = Field(0.3, ge=0.0, lt=0.5, description="how far positive rates may fall below 0.5")
    multiclass_tasks: int = Field(1, ge=0, description="how many tasks are multiclass (the last ones)")
    shuffle_groups: bool = Field(
        False, description="assign tasks to planted groups in a seeded random order (task names then say nothing about groups)"
    )
    num_classes: int = Field(3, ge=3, description="classes of a multiclass task")
    val_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> "SyntheticOptions":
        if self.num_groups > self.num_tasks:
            raise ValueError(f"num_groups ({self.num_groups}) must not exceed num_tasks ({self.num_tasks})")
        if self.multiclass_tasks > self.num_tasks:
            raise ValueError(f"multiclass_tasks ({self.multiclass_tasks}) must not exceed num_tasks ({self.num_tasks})")
        return self


def task_name(i: int, num_tasks: int) -> str:
    return f"task_{i:0{max(2, len(str(num_tasks - 1)))}d}"


def planted_group_of(num_tasks: int, num_groups: int) -> list[int]:
    """Group index of each task: contiguous, near-equal blocks."""
    return [i * num_groups // num_tasks for i in range(num_tasks)]


@register
class SyntheticLoader(Loader):
    name = "synthetic"
    version = 2  # 2: tasks no longer carry a description naming their planted group
    Options = SyntheticOptions

    def tasks(self, options: SyntheticOptions) -> list[TaskInfo]:
        out = []
        first_multiclass = options.num_tasks - options.multiclass_tasks
        for i in range(options.num_tasks):
            name = task_name(i, options.num_tasks)
            if i >= first_multiclass:
                classes = tuple(f"class_{c}" for c in range(options.num_classes))
                out.append(TaskInfo(name, "multiclass", classes, metric="macro_f1"))
            else:
                out.append(TaskInfo(name, "binary", ("negative", "positive"), metric="f1"))
        return out

    def build(self, options: SyntheticOptions, fingerprint: str) -> tuple[DatasetInfo, pa.Table]:
        o = options
        rng = np.random.default_rng(o.seed)
        tasks = self.tasks(o)
        group_of = planted_group_of(o.num_tasks, o.num_groups)
        if o.shuffle_groups:  # own generator: the data drawn below do not change
            group_of = [int(g) for g in np.random.default_rng([o.seed, 1]).permutation(group_of)]
        dim = o.num_groups * o.block_dim + o.noise_dim
        x = rng.standard_normal((o.num_samples, dim)).astype(np.float32)

        def unit(v: np.ndarray) -> np.ndarray:
            return v / np.linalg.norm(v, axis=-1, keepdims=True)

        latents, shared_dirs = [], []
        for g in range(o.num_groups):
            w = rng.standard_normal((o.block_dim, o.latent_dim)) / np.sqrt(o.block_dim)
            block = x[:, g * o.block_dim : (g + 1) * o.block_dim]
            latents.append(np.tanh(block @ w * 1.5))
            shared_dirs.append(unit(rng.standard_normal(o.latent_dim)))

        labels: dict[str, np.ndarray] = {}
        for i, task in enumerate(tasks):
            g = group_of[i]
            v = unit(shared_dirs[g] + o.relatedness_noise * unit(rng.standard_normal(o.latent_dim)))
            signal = latents[g] @ v
            score = signal + rng.standard_normal(o.num_samples) * o.noise * signal.std()
            if task.kind == "binary":
                pos_rate = rng.uniform(0.5 - o.imbalance, 0.5)
                labels[task.name] = (score > np.quantile(score, 1.0 - pos_rate)).astype(np.int64)
            else:
                sizes = rng.uniform(1.0 - o.imbalance, 1.0 + o.imbalance, size=o.num_classes)
                cuts = np.cumsum(sizes / sizes.sum())[:-1]
                labels[task.name] = np.searchsorted(np.quantile(score, cuts), score).astype(np.int64)

        order = rng.permutation(o.num_samples)
        n_val = int(round(o.val_fraction * o.num_samples))
        n_test = int(round(o.test_fraction * o.num_samples))
        split = np.empty(o.num_samples, dtype=object)
        split[order[:n_val]] = "val"
        split[order[n_val : n_val + n_test]] = "test"
        split[order[n_val + n_test :]] = "train"

        planted = tuple(tuple(t.name for t, gi in zip(tasks, group_of) if gi == g) for g in range(o.num_groups))
        info = DatasetInfo(
            name=f"synthetic-T{o.num_tasks}-G{o.num_groups}-seed{o.seed}",
            tasks=tuple(tasks),
            input_column="x",
            input_dim=dim,
            fingerprint=fingerprint,
            planted_groups=planted,
            extra={"loader": self.name},
        )
        ids = [f"s{i:06d}" for i in range(o.num_samples)]
        return info, build_table(info, ids, split.tolist(), x, labels)
