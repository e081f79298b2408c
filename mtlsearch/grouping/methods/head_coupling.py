"""The ``head_coupling`` grouping method: how much the tasks' heads share the representation of one all-task run.

Options: ``grouping_methods.head_coupling``. The measure, its derivation from
TAG's lookahead affinity, the stopping rule and the reliability report:
:mod:`mtlsearch.grouping.coupling`.
"""

from __future__ import annotations

import logging

import numpy as np
from pydantic import Field

from mtlsearch.grouping.coupling import COUPLING_EPOCHS_CAP, COUPLING_RULE
from mtlsearch.grouping.methods import GROUPING_METHODS, GroupingInputs
from mtlsearch.grouping.methods.all_task_run import AllTaskRunMethod, all_task_job, training_settings
from mtlsearch.models.encoders import DEFAULT_ENCODER_TYPE, ENCODERS
from mtlsearch.plugins import PluginOptions, plugin_field

log = logging.getLogger(__name__)

_Encoder = plugin_field(ENCODERS, "type", DEFAULT_ENCODER_TYPE)


class HeadCouplingOptions(PluginOptions):
    """One all-task run on the spec's model, batch size and learning rate, until the head coupling settles."""

    epochs: int = Field(
        COUPLING_EPOCHS_CAP, ge=3, description="cap of the run: it stops earlier once the coupling matrix settles"
    )
    encoder: _Encoder | None = Field(None, description="encoder of the run (default: model.encoder)")


@GROUPING_METHODS.register
class HeadCoupling(AllTaskRunMethod):
    """C_ij = σ_max(U_i U_jᵀ) of the heads of a settled all-task model; groups by TAG's selection."""

    name = "head_coupling"
    Options = HeadCouplingOptions
    options_key = "head_coupling"
    report_module = "mtlsearch.grouping.coupling"

    def settings(self, inputs: GroupingInputs) -> dict:
        cfg = self.options(inputs)
        return {"epochs": cfg.epochs, **training_settings(inputs.spec, cfg.encoder), "rule": COUPLING_RULE}

    def compute(self, inputs: GroupingInputs) -> tuple[np.ndarray, dict]:
        from mtlsearch.grouping.coupling import compute_head_coupling
        from mtlsearch.train.executor import on_cluster

        spec, cfg = inputs.spec, self.options(inputs)
        log.info(
            f"grouping: measuring the head coupling of {len(inputs.task_names)} tasks "
            f"(all-task training until it settles, at most {cfg.epochs} epoch(s))"
        )
        job = all_task_job(inputs, cfg.encoder, cfg.epochs)
        result = on_cluster(compute_head_coupling, spec.train, job, cfg.epochs)
        order = [result.task_names.index(n) for n in inputs.task_names]
        matrix = result.matrix[np.ix_(order, order)]
        log.info(f"grouping: head coupling measured in {result.seconds:.1f} s")
        return matrix, {"seconds": result.seconds, "reliability": result.reliability}

    def plot_title(self) -> str:
        return "head coupling C_ij (symmetric)"
