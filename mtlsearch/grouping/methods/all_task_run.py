"""What the methods that train all tasks together share: the run's job, its settings, TAG's group selection, the heatmap.

``affinity``, ``gradient_cosine``, ``head_coupling`` and ``tim`` each measure their matrix
along one all-task training run (an MTL plan) on the spec's model, batch size,
optimiser and learning rate (under ``model.inputs``, the fused encoder of every
input), or on a proxy ``encoder``, and select k groups from
it by TAG's objective (:func:`~mtlsearch.grouping.selection.select_groups`);
:class:`AllTaskRunMethod` is their common base.
"""

from __future__ import annotations

import importlib
import time
from abc import abstractmethod
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from mtlsearch.errors import MtlsearchError
from mtlsearch.grouping.methods import Artifact, GroupingInputs, GroupingMethod


def training_settings(spec: Any, encoder: Any) -> dict:
    """What the run's matrix depends on besides the method's own options (goes into its fingerprint)."""
    t = spec.train
    model = spec.model
    if encoder is None and model.inputs is not None:  # the fused encoder of model.inputs
        trained = {"inputs": {n: e.model_dump() for n, e in model.inputs.items()}, "fusion": model.fusion.model_dump()}
    else:
        trained = (encoder or model.encoder).model_dump()
    return {
        "encoder": trained,
        "batch_size": t.batch_size,
        "lr": t.lr,
        "weight_decay": t.weight_decay,
        "optimizer": t.optimizer,
        "seed": spec.seed,
    }


def run_encoder(inputs: GroupingInputs, encoder: Any) -> dict:
    """The encoder settings of the run: the method's ``encoder`` when set, else the spec's model (under
    ``model.inputs``, its fused encoder over every input, as the trials train)."""
    model = inputs.spec.model
    if encoder is not None or model.inputs is None:
        return (encoder or model.encoder).model_dump()
    try:
        return model.multimodal(inputs.info.inputs, inputs.task_names)
    except ValueError as e:
        raise MtlsearchError(
            f"the grouping run trains every task of the dataset on model.inputs, but {e}; give the method an "
            "encoder of one input (grouping_methods.<method>.encoder) or leave that input out"
        ) from None


def all_task_job(inputs: GroupingInputs, encoder: Any, epochs: int):
    """The :class:`~mtlsearch.train.job.TrainJob` of the run: every task on one shared encoder."""
    from mtlsearch.models.plan import make_plan
    from mtlsearch.train.job import TrainJob

    spec = inputs.spec
    return TrainJob(
        dataset_path=inputs.dataset_path,
        tasks=[asdict(t) for t in inputs.info.tasks],
        plan=make_plan("MTL", inputs.task_names).to_dict(),
        encoder=run_encoder(inputs, encoder),
        epochs=epochs,
        batch_size=spec.train.batch_size,
        lr=spec.train.lr,
        weight_decay=spec.train.weight_decay,
        optimizer=spec.train.optimizer,
        seed=spec.seed,
        torch_threads=spec.train.threads,
        use_gpu=spec.train.gpus_per_worker > 0,
        dataset_uri=inputs.dataset_uri,
        plugins=spec.plugins,
    )


def select_by_tag(artifact: Artifact, k: int, overlapping: bool, seed: int) -> tuple[list[list[str]], dict]:
    """k groups of task names maximizing TAG's objective over the artifact's matrix, and the selection's metadata."""
    from mtlsearch.grouping.selection import select_groups

    t0 = time.perf_counter()
    sel = select_groups(artifact.matrix, k, overlapping=overlapping, seed=seed)
    groups = [[artifact.task_names[i] for i in g] for g in sel.groups]
    return groups, {"score": float(sel.score), "search": sel.method, "seconds": time.perf_counter() - t0}


class AllTaskRunMethod(GroupingMethod):
    """A method whose matrix comes from one all-task run: TAG's selection, a heatmap, and the reliability report of
    :attr:`report_module` (a module with ``describe(reliability)`` and ``warning(method, reliability)``)."""

    plot_file = "heatmap.png"
    report_module: ClassVar[str]
    """The module that describes the matrix's reliability and warns when it is low."""

    @abstractmethod
    def plot_title(self) -> str:
        """The heatmap's first title line: what the matrix is and how to read it."""

    def _report(self) -> Any:
        return importlib.import_module(self.report_module)

    def describe_reliability(self, reliability: dict) -> str:
        return self._report().describe(reliability)

    def reliability_warning(self, reliability: dict) -> str | None:
        return self._report().warning(self.name, reliability)

    def plot_reliability(self, reliability: dict) -> str:
        """The heatmap's second title line."""
        return self.describe_reliability(reliability)

    def select(self, artifact: Artifact, k: int, overlapping: bool, seed: int) -> tuple[list[list[str]], dict]:
        return select_by_tag(artifact, k, overlapping, seed)

    def plot(self, artifact: Artifact, path: Path) -> None:
        from mtlsearch.grouping.plots import plot_affinity_heatmap

        rel = artifact.meta.get("reliability")
        title = self.plot_title() + (f"\n{self.plot_reliability(rel)}" if rel else "")
        plot_affinity_heatmap(artifact.matrix, artifact.task_names, path, title=title)
