"""What one training run needs, as a plain serialisable record (it travels to Ray Train workers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mtlsearch.data.canonical import TaskInfo
from mtlsearch.metrics.thresholds import VAL_TUNED
from mtlsearch.models.plan import SharingPlan


@dataclass
class TrainJob:
    """One run: a dataset, a sharing plan over some of its tasks, and the training settings.

    ``baselines`` maps each primary task to its STL scores ``{"val": B, "test": B}``;
    the run reports Δm against them every epoch (empty while training the baselines).
    ``weighting`` is the loss-weighting strategy, ``{"name": ..., **options}``
    (:data:`mtlsearch.train.weighting.WEIGHTINGS`). ``cotask`` adds CO-TASK
    auxiliary tasks and/or the task-aware sampler (:mod:`mtlsearch.tasks.auxiliary`,
    :mod:`mtlsearch.train.sampler`); ``class_weighted`` turns on inverse-frequency
    class weights (:func:`mtlsearch.train.losses.inverse_frequency_weights`).
    """

    dataset_path: str
    tasks: list[dict]
    plan: dict
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
    cotask: dict = field(default_factory=dict)  # CO-TASK: aux_tasks, major, major_prob, sampler, pick (spec train.cotask)
    class_weighted: bool | list[str] = False  # inverse-frequency class weights in the loss (all tasks, or these)
    mixed_precision: str = "none"  # "bf16": autocast forward passes on CUDA
    dataset_uri: str | None = None  # the table in a remote results store, for nodes without dataset_path
    thresholds: str = VAL_TUNED  # binary decision thresholds: val_tuned | fixed (mtlsearch.metrics.thresholds)

    def task_infos(self) -> list[TaskInfo]:
        return [TaskInfo.from_dict(t) for t in self.tasks]

    def sharing_plan(self) -> SharingPlan:
        return SharingPlan.from_dict(self.plan)

    def to_config(self) -> dict:
        return asdict(self)
