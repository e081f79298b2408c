"""What the methods that train all tasks together share: the run's job, its settings, TAG's group selection.

``affinity``, ``gradient_cosine`` and ``head_coupling`` each measure their matrix
along one all-task training run (an MTL plan) on the spec's model, batch size,
optimiser and learning rate (under ``model.inputs``, the fused encoder of every
input), or on a proxy ``encoder``, and select k groups from
it by TAG's objective (:func:`~mtlsearch.grouping.selection.select_groups`).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from mtlsearch.errors import MtlsearchError
from mtlsearch.grouping.methods import Artifact, GroupingInputs


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
