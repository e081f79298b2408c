"""Per-task metrics: what one task's primary score on a split is, as plugins.

One small class per metric, each in its own module of this package, registered
in :data:`METRICS` under the name a task's ``metric`` (``TaskInfo(metric="f1")``)
or ``evaluation.metric`` gives; a plugin registers one more with
``@METRICS.register`` (:mod:`mtlsearch.plugins`). The formulas live in
:mod:`mtlsearch.metrics.scores`; a metric class says what it reads and calls one.

A metric says

* :attr:`Metric.scores`, what it reads: ``"decisions"`` (predicted class
  indices) or ``"probabilities"`` (the sigmoid / softmax class probabilities,
  threshold-free; ``evaluation.metric`` can name one of these for every primary
  task: :func:`probability_metrics`);
* :attr:`Metric.tunable_threshold`: whether a binary task's decision threshold
  can be chosen on validation to maximise it (:mod:`mtlsearch.metrics.thresholds`);
  such a metric also scores every candidate threshold from counts
  (:meth:`Metric.threshold_scores`). :func:`threshold_metrics` lists them.

Built-in metric modules import numpy only.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel

from mtlsearch.plugins import Plugin, PluginOptions, Registry, trusted_options


class MetricOptions(PluginOptions):
    """A metric's options: none for the built-ins."""


class Metric(Plugin):
    """Base of every per-task metric: ``metric(values, true, num_classes)`` is a score in [0, 1], higher is better.

    ``values`` are the labelled examples' predicted class indices (``scores ==
    "decisions"``) or class probabilities (``"probabilities"``); ``true`` their
    class indices (missing labels already removed); NaN where the metric is
    undefined on them.
    """

    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = MetricOptions
    scores: ClassVar[Literal["decisions", "probabilities"]] = "decisions"
    """What the metric reads: predicted classes, or class probabilities (threshold-free)."""
    tunable_threshold: ClassVar[bool] = False
    """Whether a binary task's decision threshold can be chosen on validation to maximise this metric."""

    def __init__(self, options: BaseModel | dict | None = None):
        self.options = trusted_options(type(self), options if options is not None else {})

    def __call__(self, values: np.ndarray, true: np.ndarray, num_classes: int) -> float:
        raise NotImplementedError

    def threshold_scores(self, tp: np.ndarray, fp: np.ndarray, pos: int, neg: int) -> np.ndarray:
        """A tunable-threshold metric of a binary task at each candidate threshold, from the candidate's true and
        false positive counts ``tp``, ``fp`` and the numbers of positive and negative examples."""
        raise NotImplementedError(f"metric {self.name!r} has no decision threshold")


class MetricRegistry(Registry):
    """The metric :class:`Registry`; ``METRICS[name]`` is the metric ready to score (its default options)."""

    def __getitem__(self, name: str) -> Metric:
        return self.get(name)()


METRICS: MetricRegistry = MetricRegistry(
    "metric",
    {
        name: f"mtlsearch.metrics.task_metrics.{name}"
        for name in ("f1", "macro_f1", "accuracy", "icbhi_score", "auroc", "average_precision")
    },
)
"""Every per-task metric by name: the built-ins (imported when first asked for) and the registered plugins."""


def probability_metrics() -> tuple[str, ...]:
    """The names of the threshold-free metrics (``scores == "probabilities"``), in registry order; imports the
    built-ins."""
    return tuple(n for n in METRICS.names() if METRICS.get(n).scores == "probabilities")


def threshold_metrics() -> frozenset[str]:
    """The names of the metrics a binary task's decision threshold can be tuned for; imports the built-ins."""
    return frozenset(n for n in METRICS.names() if METRICS.get(n).tunable_threshold)
