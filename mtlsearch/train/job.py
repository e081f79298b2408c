"""What one training run needs, as a typed record that travels to Ray Train workers and Tune trials."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mtlsearch.data.canonical import TaskInfo
from mtlsearch.metrics.thresholds import VAL_TUNED
from mtlsearch.models.plan import SharingPlan
from mtlsearch.plugins import import_plugins
from mtlsearch.spec.settings import CoTaskSpec


@dataclass
class TrainJob:
    """One run: a dataset, a sharing plan over some of its tasks, and the training settings.

    ``tasks`` and ``plan`` are the run's :class:`TaskInfo` records and
    :class:`SharingPlan`. ``baselines`` maps each primary task to its STL scores
    ``{"val": B, "test": B}``; the run reports Δm against them every epoch (empty
    while training the baselines). ``weighting`` is the loss-weighting strategy,
    ``{"name": ..., **options}`` (:data:`mtlsearch.train.weightings.WEIGHTINGS`).
    ``cotask`` (the spec's ``train.cotask`` with a trial's sampled values) adds
    CO-TASK auxiliary tasks and/or the task-aware sampler
    (:mod:`mtlsearch.tasks.auxiliary`, :mod:`mtlsearch.train.sampler`);
    ``class_weighted`` turns on inverse-frequency class weights
    (:func:`mtlsearch.train.losses.inverse_frequency_weights`).

    The job crosses to workers as :meth:`to_config` (plain data) and is rebuilt
    there by :meth:`from_config`. ``tasks``, ``plan`` and ``cotask`` also accept
    that plain form (task dicts, :meth:`SharingPlan.to_dict`, a ``train.cotask``
    mapping, validated by :class:`CoTaskSpec`); the worker reads the typed
    records and applies no default of its own.
    """

    dataset_path: str
    tasks: list[TaskInfo]
    plan: SharingPlan
    encoder: dict
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    optimizer: str = "adam"
    seed: int = 0
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    torch_threads: int | None = None
    use_gpu: bool = False
    weighting: dict = field(default_factory=lambda: {"name": "equal"})
    cotask: CoTaskSpec = field(default_factory=CoTaskSpec)  # CO-TASK auxiliary tasks and sampler (spec train.cotask)
    class_weighted: bool | list[str] = False  # inverse-frequency class weights in the loss (all tasks, or these)
    mixed_precision: str = "none"  # "bf16": autocast forward passes on CUDA
    dataset_uri: str | None = None  # the table in a remote results store, for nodes without dataset_path
    thresholds: str = VAL_TUNED  # binary decision thresholds: val_tuned | fixed (mtlsearch.metrics.thresholds)
    plugins: list[str] = field(default_factory=list)  # the spec's plugin modules, imported before the job is rebuilt

    def __post_init__(self) -> None:
        self.tasks = [t if isinstance(t, TaskInfo) else TaskInfo.from_dict(t) for t in self.tasks]
        if not isinstance(self.plan, SharingPlan):
            self.plan = SharingPlan.from_dict(self.plan)
        if not isinstance(self.cotask, CoTaskSpec):
            self.cotask = CoTaskSpec.model_validate(self.cotask)

    def to_config(self) -> dict:
        """The job as plain data (Ray Train's ``train_loop_config``, a Ray task's argument), fields in order:
        each task as a dict, the plan as :meth:`SharingPlan.to_dict`, ``cotask`` as its ``model_dump``."""
        return {**asdict(self), "plan": self.plan.to_dict(), "cotask": self.cotask.model_dump()}

    def __setstate__(self, state: dict) -> None:
        """Unpickled in another process (a Ray task's argument): the spec's plugin modules are imported first."""
        import_plugins(state.get("plugins", ()))
        self.__dict__.update(state)

    @classmethod
    def from_config(cls, config: dict) -> TrainJob:
        """The job of a :meth:`to_config` dict, its tasks, plan and CO-TASK settings typed again, once the
        spec's plugin modules are imported (so a plugin encoder or weighting is known in this process)."""
        import_plugins(config.get("plugins", ()))
        return cls(**config)
