"""What both affinity methods share: their ``Options`` (``grouping_methods.affinity``) and the one all-task run.

:class:`AffinityRun` measures an affinity matrix during one short all-task
training run on the spec's model, batch size and learning rate, and selects
groups from it by :func:`~mtlsearch.grouping.selection.select_groups`;
``kind`` says which affinity (``lookahead``, ``gradient_cosine``).
"""

from __future__ import annotations

import logging
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from mtlsearch.grouping.methods import GroupingInputs, GroupingMethod
from mtlsearch.grouping.methods.all_task_run import AllTaskRunMethod, all_task_job, training_settings
from mtlsearch.grouping.reliability import RELIABILITY_RULE
from mtlsearch.models.encoders import DEFAULT_ENCODER_TYPE, ENCODERS
from mtlsearch.plugins import PluginOptions, plugin_field

log = logging.getLogger(__name__)

AFFINITY_EPOCHS_CAP = 25
"""Default cap of a calibrated affinity run: planted groups on the benchmark's generators need 5 to 25 epochs."""

_Encoder = plugin_field(ENCODERS, "type", DEFAULT_ENCODER_TYPE)


class AffinityOptions(PluginOptions):
    """TAG affinity settings: one all-task run on the spec's model, batch size and learning rate.

    Its length matters. Affinity is informative while the shared encoder learns
    what the tasks have in common, before each task's features specialise.
    ``length: calibrated`` (the default) makes ``epochs`` a cap: the run stops at
    the end of the first epoch (after the first) whose mean transfer (the mean
    off-diagonal affinity of its measurements) is negative, and keeps the running
    mean of its most reliable epoch (:mod:`mtlsearch.grouping.reliability`).
    ``length: fixed`` runs exactly ``epochs`` epochs and averages them all. Either
    way the matrix is stored with its reliability, and an unreliable one is
    reported with a warning.
    """

    every_steps: int = Field(10, ge=1, description="measure the affinity every n training steps")
    epochs: int = Field(
        AFFINITY_EPOCHS_CAP, ge=1, description="cap of the affinity run (length: calibrated) or its length (length: fixed)"
    )
    length: Literal["fixed", "calibrated"] = Field(
        "calibrated",
        description="calibrated: stop when the mean transfer turns negative, `epochs` the cap; fixed: exactly `epochs` epochs",
    )
    lookahead_lr: float | None = Field(None, gt=0, description="SGD step size of the lookahead (default: the method's)")
    encoder: _Encoder | None = Field(
        None, description="encoder of the affinity run (default: model.encoder); a wider proxy can measure a narrow model's tasks"
    )


class AffinityRun(AllTaskRunMethod):
    """Affinity matrices from one short all-task training run; groups by :func:`select_groups`."""

    kind: ClassVar[str]
    Options = AffinityOptions
    options_key = "affinity"

    def settings(self, inputs: GroupingInputs) -> dict:
        cfg = self.options(inputs)
        return {
            "kind": self.kind,
            **cfg.model_dump(),
            **training_settings(inputs.spec, cfg.encoder),
            "reliability_rule": RELIABILITY_RULE,
        }

    def compute(self, inputs: GroupingInputs) -> tuple[np.ndarray, dict]:
        from mtlsearch.grouping.affinity import compute_affinity
        from mtlsearch.train.executor import on_cluster

        spec, cfg = inputs.spec, self.options(inputs)
        epochs = cfg.epochs
        how = (
            f"until the mean transfer turns negative, at most {epochs} epoch(s)"
            if cfg.length == "calibrated"
            else f"{epochs} epoch(s)"
        )
        log.info(
            f"grouping: measuring {self.kind} affinity of {len(inputs.task_names)} tasks "
            f"(all-task training {how}; every {cfg.every_steps} steps)"
        )
        job = all_task_job(inputs, cfg.encoder, epochs)
        # on the cluster, holding one worker (a Ray task) during a search; in this process for `mtlsearch groups`
        result = on_cluster(
            compute_affinity,
            spec.train,
            job,
            self.kind,
            cfg.every_steps,
            epochs,
            cfg.lookahead_lr,
            None,
            cfg.length == "calibrated",
        )
        if result.task_names != inputs.task_names:
            order = [result.task_names.index(n) for n in inputs.task_names]
            matrix = result.matrix[np.ix_(order, order)]
        else:
            matrix = result.matrix
        log.info(f"grouping: {self.kind} affinity measured on {result.steps_measured} steps in {result.seconds:.1f} s")
        return matrix, {"steps_measured": result.steps_measured, "seconds": result.seconds, "reliability": result.reliability}

    def plot_title(self) -> str:
        return f"{self.kind} affinity (row i → column j)"

    # the split-half report of mtlsearch.grouping.reliability, the default of every grouping method
    describe_reliability = GroupingMethod.describe_reliability
    reliability_warning = GroupingMethod.reliability_warning

    def plot_reliability(self, reliability: dict) -> str:
        from mtlsearch.grouping.reliability import describe

        return describe(reliability, short=True)
