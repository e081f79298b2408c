"""Everything a trial needs besides its sampled config, and the mapping config → training job."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from mtlsearch.data.canonical import DatasetInfo
from mtlsearch.grouping.methods import computed_key
from mtlsearch.models.plan import make_plan
from mtlsearch.plugins import import_plugins
from mtlsearch.search.space import STATIC_WEIGHT, aux_tasks_apply
from mtlsearch.spec import GROUPED_ARCHITECTURES, MANUAL, NO_METADATA, PLANTED, CoTaskSpec, Spec, metadata_tasks
from mtlsearch.store.results import SEED
from mtlsearch.train.job import TrainJob

DEFAULT_ARCHITECTURE = "MTL"


@dataclass
class SearchContext:
    """The fixed part of every trial of one search (picklable; shipped to Tune trials)."""

    experiment: str
    spec_json: str
    dataset_path: str
    dataset_info_json: str
    baselines: dict[str, dict[str, float]]
    train_runs_uri: str
    computed_groups: dict[str, list[list[str]]] = field(default_factory=dict)  # computed_key(method, k, overl.) -> groups
    dataset_uri: str | None = None  # the table in a remote store (mtlsearch.data.distribute)
    seed_baselines: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)  # confirmation: seed -> baselines

    @property
    def spec(self) -> Spec:
        """The spec, validated again here (in a trial's process: after importing the spec's plugin modules)."""
        data = json.loads(self.spec_json)
        import_plugins(data.get("plugins", ()))
        return Spec.model_validate(data)

    @property
    def info(self) -> DatasetInfo:
        return DatasetInfo.from_json(self.dataset_info_json)

    def groups(self, grouping: str | None) -> tuple[tuple[str, ...], ...] | None:
        """The task groups a grouping name stands for (``planted``: the dataset's planted groups)."""
        if grouping is None:
            return None
        if grouping == PLANTED:
            if self.info.planted_groups is None:
                raise ValueError(f"dataset {self.info.name} has no planted groups")
            return self.info.planted_groups
        return tuple(tuple(g) for g in self.spec.groupings[grouping])

    def trained_tasks(self, config: dict) -> list[str]:
        """The tasks a trial trains: all the dataset's tasks but the metadata tasks that
        ``search.space.metadata`` offers and the trial's ``metadata`` choice leaves out (Tri-MTL)."""
        dim = self.spec.search.space.metadata
        if dim is None:
            return self.info.task_names
        offered = {t for choice in dim.choice for t in metadata_tasks(choice)}
        chosen = set(metadata_tasks(config.get("metadata", NO_METADATA)))
        return [t for t in self.info.task_names if t not in offered or t in chosen]

    def describe(self, config: dict) -> dict:
        """Architecture, grouping label and head groups (task names) of a sampled config.

        The label is a manual grouping's name, or ``"<method> k=<k>"`` for a computed one
        (``"<method> k=<k> overlapping"`` when the trial's ``overlapping`` is true: TAG's
        overlapping selection, each task trained in its groups and served by the best,
        :mod:`mtlsearch.train.serving`). ``overlapping``: whether a task is in several groups.
        The plan covers :meth:`trained_tasks`; ``sharing``, ``soft_lambda``, ``soft_layers``,
        ``cross_task_attention``, ``attention_gamma`` come from the config, else from ``model``
        (soft, attention: :func:`mtlsearch.models.plan.make_plan`).
        """
        arch = config.get("architecture", DEFAULT_ARCHITECTURE)
        label, groups = "", None
        if arch in GROUPED_ARCHITECTURES:
            method = config.get("grouping_method", MANUAL)
            if method == MANUAL:
                label = config.get("grouping") or ""
                groups = self.groups(label or None)
            else:
                k, overlapping = int(config["k"]), bool(config.get("overlapping", False))
                label = f"{method} k={k}" + (" overlapping" if overlapping else "")
                groups = tuple(tuple(g) for g in self.computed_groups[computed_key(method, k, overlapping)])
        model = self.spec.model
        plan = make_plan(
            arch,
            self.trained_tasks(config),
            groups,
            sharing=config.get("sharing", model.sharing),
            soft_lambda=float(config.get("soft_lambda", model.soft_lambda)),
            soft_layers=config.get("soft_layers", model.soft_layers),
            attention=bool(config.get("cross_task_attention", model.cross_task_attention)),
            attention_gamma=config.get("attention_gamma", model.attention_gamma),
            attention_dim=model.attention_dim,
        )
        return {
            "architecture": arch,
            "grouping": label,
            "groups": [list(g) for g in plan.head_groups],
            "plan": plan,
            "sharing": plan.sharing,
            "overlapping": plan.overlapping,
            "metadata": list(metadata_tasks(config.get("metadata", NO_METADATA))),
        }

    def job_for(self, config: dict, use_gpu: bool = False) -> TrainJob:
        """The training job of one sampled config: the fixed settings with the sampled ones applied.

        ``encoder`` names the encoder (``model.encoders``; default ``model.encoder``; with
        ``model.inputs``, the fused multimodal encoder, whose ``mlp`` inputs ``hidden_dim`` sets and
        whose fusion ``dropout`` sets);
        ``hidden_dim`` sets every width of an ``mlp`` encoder's ``hidden_dims``
        (other encoders ignore it); ``dropout`` sets any encoder's ``dropout``.
        ``weighting`` names the loss weighting (default ``train.weighting``), with
        ``train.weighting``'s options when it is that strategy, else its defaults;
        ``w/<task>`` (``search.space.static_weights``) sets a static weight.
        ``seed`` (a confirmation run, :mod:`mtlsearch.search.confirm`) sets the seed, and Δm is then
        reported against the STL baselines trained with that seed (:attr:`seed_baselines`).
        """
        spec = self.spec
        if spec.model.inputs is not None:  # multimodal: the fused encoder of model.inputs (hidden_dim: its mlps)
            encoder = spec.model.multimodal(
                self.info.inputs, self.trained_tasks(config), config.get("hidden_dim"), config.get("dropout")
            )
        else:
            encoder = spec.model.named(config.get("encoder")).model_dump()
            if "hidden_dim" in config and encoder["type"] == "mlp":
                encoder["hidden_dims"] = [int(config["hidden_dim"])] * len(encoder["hidden_dims"])
            if "dropout" in config:
                encoder["dropout"] = float(config["dropout"])
        train = spec.train
        weighting = train.weighting_for(config.get("weighting")).model_dump()
        searched = {k[len(STATIC_WEIGHT) :]: float(v) for k, v in config.items() if k.startswith(STATIC_WEIGHT)}
        if searched and weighting["name"] == "static":
            weighting["weights"] = {**weighting["weights"], **searched}
        seed = int(config.get(SEED, spec.seed))
        return TrainJob(
            dataset_path=self.dataset_path,
            tasks=list(self.info.tasks),
            plan=self.describe(config)["plan"],
            encoder=encoder,
            epochs=train.epochs,
            batch_size=int(config.get("batch_size", train.batch_size)),
            lr=float(config.get("lr", train.lr)),
            weight_decay=float(config.get("weight_decay", train.weight_decay)),
            optimizer=str(config.get("optimizer", train.optimizer)),
            seed=seed,
            baselines=self.seed_baselines.get(seed, self.baselines),
            torch_threads=train.threads,
            use_gpu=use_gpu,
            weighting=weighting,
            cotask=self.cotask_for(config),
            class_weighted=train.class_weighted,
            mixed_precision=train.mixed_precision,
            dataset_uri=self.dataset_uri,
            thresholds=spec.evaluation.thresholds,
            plugins=spec.plugins,
        )

    def cotask_for(self, config: dict) -> CoTaskSpec:
        """CO-TASK settings of a trial: ``train.cotask`` with the sampled ``aux_tasks``, ``aux_major_prob``,
        ``task_sampler`` applied; an STL trial gets no auxiliary task (its models are independent)."""
        cotask = self.spec.train.cotask
        aux_tasks = int(config.get("aux_tasks", cotask.aux_tasks))
        if not aux_tasks_apply(config.get("architecture", DEFAULT_ARCHITECTURE)):
            aux_tasks = 0
        return cotask.model_copy(
            update={
                "aux_tasks": aux_tasks,
                "major_prob": float(config.get("aux_major_prob", cotask.major_prob)),
                "sampler": bool(config.get("task_sampler", cotask.sampler)),
            }
        )
