"""The fixed settings beside the model: training, CO-TASK, the search and its confirmation, dataset, grouping methods, evaluation.

``TrainSpec`` (budget, fixed hyperparameters, executor and resources, loss
weighting, CO-TASK settings), ``SearchSpec`` (trials, searcher, ASHA,
confirmation with seeds, the :class:`~mtlsearch.spec.space.SearchSpace`),
``DatasetSpec``, the grouping methods' settings (label-embedding clustering, the
TAG affinity run: each the ``Options`` of its methods, from the grouping-method
registry) and ``EvaluationSpec`` (thresholds and the primary metric).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from mtlsearch.grouping.methods import GROUPING_METHODS
from mtlsearch.metrics.objectives import DM_VAL_OBJECTIVE, OBJECTIVE_NAMES
from mtlsearch.metrics.task_metrics import probability_metrics
from mtlsearch.spec.names import IN_TRIAL, RAY_TRAIN, Strict
from mtlsearch.spec.space import LogUniform, SearchSpace, Uniform
from mtlsearch.spec.weightings import WeightingSpec, weighting_defaults
from mtlsearch.train.optimizers import OPTIMIZERS


class CoTaskSpec(Strict):
    """CO-TASK (AAAI 2021, ``../shared/papers/co-task_aaai2021.txt``) settings; all off by default.

    ``aux_tasks``: M auxiliary tasks, each a pair of primary tasks with one class
    of each mapped into a new class (:mod:`mtlsearch.tasks.cotask`), trained on
    1/2 of the training data, never in Δm. ``major``: the major tasks (primary
    task names); ``major_prob``: the chance that a generated pair contains one.
    ``sampler``: each batch first picks a task (``pick``: ``uniform``, or
    ``major`` with probability ``major_prob`` of picking a major task), then
    draws its examples with the task-aware imbalance sampler (class weight
    log(n_c)/n_c), and the step trains that task's loss only
    (:mod:`mtlsearch.train.sampler`).
    """

    aux_tasks: int = Field(0, ge=0, description="M, the number of auxiliary tasks")
    major: list[str] = Field(default_factory=list, description="major tasks (primary task names)")
    major_prob: float = Field(
        0.5, ge=0.0, le=1.0, description="chance that an auxiliary pair (or a sampler pick) involves a major task"
    )
    sampler: bool = Field(False, description="task-aware imbalance sampler: one task per batch, class weights log(n)/n")
    pick: Literal["uniform", "major"] = Field("uniform", description="how the sampler picks a batch's task")


class TrainSpec(Strict):
    """Training budget and the fixed hyperparameters (the search may override some per trial)."""

    epochs: int = Field(8, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    optimizer: Literal[tuple(OPTIMIZERS)] = "adam"  # type: ignore[valid-type]
    workers: int = Field(1, ge=1, description="Ray Train workers per trial (DDP when > 1)")
    executor: Literal["auto", "in_trial", "ray_train"] = Field(
        "auto",
        description="how a trial trains: in_trial (inside its Tune trial, one worker), ray_train (a Ray Train "
        "worker group: DDP, multi-node), auto (in_trial for one worker, else ray_train)",
    )
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    driver_cpus: float = Field(
        1.0, gt=0, description="CPUs for each trial's Tune driver (ray_train executor only: an in-trial trial is its own worker)"
    )
    torch_threads: int | None = Field(
        None, ge=1, description="torch.set_num_threads in each worker (default: its whole CPUs, at least 1)"
    )
    max_failures: int = Field(
        2, ge=0, description="restarts of a trial (its trial actor or worker group) from its last checkpoint"
    )
    placement: Literal["pack", "spread", "strict_spread"] = Field(
        "pack",
        description="where a trial's Ray Train workers go: pack (fewest nodes), spread (across nodes if possible), "
        "strict_spread (one node each: multi-node DDP)",
    )
    mixed_precision: Literal["none", "bf16"] = Field(
        "none", description="bf16: autocast the forward passes on CUDA devices (CPU runs always train in float32)"
    )
    weighting: WeightingSpec = Field(
        default_factory=weighting_defaults, description="loss weighting: {name: equal | static | ..., options}"
    )
    cotask: CoTaskSpec = Field(default_factory=CoTaskSpec, description="CO-TASK auxiliary tasks and task-aware sampler")
    class_weighted: bool | list[str] = Field(
        False,
        description="class-weighted cross-entropy, w_c = N / (C n_c) from the training counts (Tri-MTL): true, or these tasks",
    )

    @model_validator(mode="after")
    def _in_trial_is_one_worker(self) -> "TrainSpec":
        if self.executor == IN_TRIAL and self.workers != 1:
            raise ValueError(
                f"executor 'in_trial' trains one worker inside the trial; with workers: {self.workers} "
                "use executor: ray_train (or auto)"
            )
        return self

    @property
    def resolved_executor(self) -> str:
        """``in_trial`` or ``ray_train``: ``auto`` is in_trial for one worker, ray_train (DDP) for more."""
        if self.executor != "auto":
            return self.executor
        return IN_TRIAL if self.workers == 1 else RAY_TRAIN

    @property
    def threads(self) -> int:
        """torch threads of one worker: ``torch_threads``, else its whole CPUs (at least 1), as Ray sets OMP_NUM_THREADS."""
        return self.torch_threads or max(1, int(self.cpus_per_worker))

    def weighting_for(self, name: str | None) -> BaseModel:
        """The options of strategy ``name``: ``weighting``'s when it is that strategy, else the strategy's defaults."""
        if name is None or name == self.weighting.name:
            return self.weighting
        return weighting_defaults(name)


class AshaSpec(Strict):
    enabled: bool = True
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(2.0, gt=1.0)


class ConfirmSpec(Strict):
    """Confirmation with seeds (:mod:`mtlsearch.search.confirm`): after the search, the ``top`` candidates by
    Δm(val) (a multi-objective search: the Pareto set's members first) and the STL baselines are retrained with
    ``seeds`` new seeds; Δm(test) gets a paired 95% interval."""

    top: int = Field(
        3, ge=1, description="candidates to confirm: the best by the search's Δm(val) (multi-objective: the Pareto set's first)"
    )
    seeds: int = Field(3, ge=2, description="seeds per candidate and for the baselines (an interval needs at least 2)")
    each_architecture: bool = Field(
        False, description="also confirm the best candidate of every architecture the search tried (STL, MTL, GMHL, GMTL)"
    )


class SearchSpec(Strict):
    num_samples: int = Field(10, ge=1, description="trials")
    confirm: ConfirmSpec | None = Field(
        None, description="retrain the best candidates and the baselines with more seeds for Δm(test) intervals; off when absent"
    )
    max_concurrent_trials: int | None = Field(None, ge=1)
    searcher: Literal["optuna", "nsga2", "random", "grid"] = Field(
        "optuna",
        description="optuna: TPE (multi-objective TPE with several objectives); nsga2: Optuna's NSGA-II; random; "
        "grid: every candidate of a discrete space (choice/int dimensions) once",
    )
    objectives: list[Literal[OBJECTIVE_NAMES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: [DM_VAL_OBJECTIVE],
        min_length=1,
        description="what the Optuna study optimizes (mtlsearch.search.objectives): [dm_val] (default), or "
        "[dm_val, cost] for a multi-objective search (max Δm(val), min training cost in worker·s) and its Pareto set",
    )
    scheduler: AshaSpec = Field(default_factory=AshaSpec)
    space: SearchSpace

    @field_validator("objectives")
    @classmethod
    def _objectives_hold_dm_val(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError(f"an objective is listed twice: {names}")
        if DM_VAL_OBJECTIVE not in names:
            raise ValueError(
                f"expected a list holding {DM_VAL_OBJECTIVE!r} (Δm on validation, which ASHA stops trials on); got {names}"
            )
        return names

    @model_validator(mode="after")
    def _grid_is_discrete(self) -> "SearchSpec":
        if self.searcher == "grid":
            continuous = [k for k, v in self.space if isinstance(v, (Uniform, LogUniform))]
            if continuous:
                raise ValueError(f"searcher 'grid' needs discrete dimensions (choice or int); {continuous} are continuous")
        return self

    @model_validator(mode="after")
    def _non_empty(self) -> "SearchSpec":
        if not self.space.open_dimensions():
            raise ValueError(
                "the search space is empty: open at least one dimension under search.space "
                f"(one of {list(SearchSpace.model_fields)})"
            )
        return self


class DatasetSpec(Strict):
    loader: str
    options: dict[str, Any] = Field(default_factory=dict)
    descriptions: dict[str, str] = Field(
        default_factory=dict, description="task name -> description, overriding the loader's (for embedding clustering)"
    )


EmbeddingOptions = GROUPING_METHODS.options("embedding")
AffinityOptions = GROUPING_METHODS.options("affinity")  # gradient_cosine reads the same section
HeadCouplingOptions = GROUPING_METHODS.options("head_coupling")
TimOptions = GROUPING_METHODS.options("tim")


class GroupingMethodsSpec(Strict):
    """The grouping methods' settings; each field's model is the ``Options`` of the methods that read it
    (:attr:`~mtlsearch.grouping.methods.GroupingMethod.options_key`), defined beside them."""

    embedding: EmbeddingOptions = Field(default_factory=EmbeddingOptions)
    affinity: AffinityOptions = Field(default_factory=AffinityOptions)
    head_coupling: HeadCouplingOptions = Field(default_factory=HeadCouplingOptions)
    tim: TimOptions = Field(default_factory=TimOptions)


EVALUATION_METRICS = ("task", *probability_metrics())
"""``evaluation.metric``'s choices: ``task``, or a threshold-free metric of
:data:`~mtlsearch.metrics.task_metrics.METRICS` (the built-ins, in registry order)."""


class EvaluationSpec(Strict):
    """How trials and baselines are scored (one protocol for both; the baselines are keyed by it)."""

    thresholds: Literal["val_tuned", "fixed"] = Field(
        "val_tuned",
        description="binary decision thresholds: val_tuned (each task's τ chosen on val every epoch, applied "
        "unchanged to test) or fixed (p > 0.5)",
    )
    metric: Literal[EVALUATION_METRICS] = Field(
        "task",
        description="the primary metric of every primary task, what Δm and selection use: task (each task's own, "
        "e.g. F1, macro-F1, the ICBHI score) or a threshold-free one of its probabilities (auroc, "
        "average_precision; one-vs-rest macro for multiclass tasks)",
    )
