"""The ``tim`` grouping method: groups from the task-interdependence (TIM) matrix of a short cross-attention run.

Options: ``grouping_methods.tim``. The run, the matrix as an affinity
(``Z_{s→t} = TIM_{t←s}``) and its reliability report: :mod:`mtlsearch.grouping.tim_run`;
the attention layer and TIM's definition (M3H, Bertsimas and Ma, arXiv:2404.18975,
2024): :mod:`mtlsearch.models.cross_task_attention`. Groups are selected by TAG's
objective, with the same code as ``affinity``.
"""

from __future__ import annotations

import logging

import numpy as np
from pydantic import Field, field_validator

from mtlsearch.grouping.methods import GROUPING_METHODS, GroupingInputs
from mtlsearch.grouping.methods.all_task_run import AllTaskRunMethod, all_task_job, training_settings
from mtlsearch.models.attention_options import DEFAULT_ATTENTION_DIM, LEARNED, check_gamma
from mtlsearch.models.encoders import DEFAULT_ENCODER_TYPE, ENCODERS
from mtlsearch.plugins import PluginOptions, plugin_field

log = logging.getLogger(__name__)

_Encoder = plugin_field(ENCODERS, "type", DEFAULT_ENCODER_TYPE)


class TimOptions(PluginOptions):
    """One all-task run with cross-task attention on the spec's model, batch size and learning rate."""

    epochs: int = Field(8, ge=1, description="epochs of the run (the TIM is read from its final model)")
    attention_gamma: float | str = Field(LEARNED, description="γ of the run's attention: a number or learned")
    attention_dim: int = Field(DEFAULT_ATTENTION_DIM, ge=1, description="d of the run's attention")
    encoder: _Encoder | None = Field(None, description="encoder of the run (default: model.encoder)")

    @field_validator("attention_gamma")
    @classmethod
    def _gamma(cls, v: float | str) -> float | str:
        return check_gamma(v)


@GROUPING_METHODS.register
class TaskInterdependence(AllTaskRunMethod):
    """TIM_{t←s} of an all-task cross-attention run, read as Z_{s→t}; groups by TAG's selection."""

    name = "tim"
    Options = TimOptions
    options_key = "tim"
    report_module = "mtlsearch.grouping.tim_run"

    def settings(self, inputs: GroupingInputs) -> dict:
        from mtlsearch.grouping.tim_run import TIM_RULE

        cfg = self.options(inputs)
        return {
            "epochs": cfg.epochs,
            "attention_gamma": cfg.attention_gamma,
            "attention_dim": cfg.attention_dim,
            **training_settings(inputs.spec, cfg.encoder),
            "rule": TIM_RULE,
        }

    def compute(self, inputs: GroupingInputs) -> tuple[np.ndarray, dict]:
        from mtlsearch.grouping.tim_run import compute_tim
        from mtlsearch.train.executor import on_cluster

        spec, cfg = inputs.spec, self.options(inputs)
        log.info(
            f"grouping: measuring the TIM of {len(inputs.task_names)} tasks ({cfg.epochs} epoch(s) with cross-task attention)"
        )
        job = all_task_job(inputs, cfg.encoder, cfg.epochs)
        result = on_cluster(compute_tim, spec.train, job, cfg.epochs, cfg.attention_gamma, cfg.attention_dim)
        log.info(f"grouping: TIM measured in {result.seconds:.1f} s")
        return result.affinity, {"seconds": result.seconds, "reliability": result.reliability}

    def plot_title(self) -> str:
        return "TIM as affinity: row s helps column t (TIM_{t←s})"
