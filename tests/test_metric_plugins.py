"""Per-task metrics are plugins: the registry lists the built-ins with what they read, finds a registered one by
name, and an unknown name is an error naming the known ones."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from mtlsearch.metrics.task_metrics import METRICS, Metric, probability_metrics, threshold_metrics


def test_the_registry_lists_the_builtins_with_their_kinds():
    kinds = {name: (METRICS.get(name).scores, METRICS.get(name).tunable_threshold) for name in METRICS.builtin}
    assert kinds == {
        "f1": ("decisions", True),
        "macro_f1": ("decisions", False),
        "accuracy": ("decisions", False),
        "icbhi_score": ("decisions", True),
        "auroc": ("probabilities", False),
        "average_precision": ("probabilities", False),
    }
    for name, module in METRICS.builtin.items():
        importlib.import_module(module)
        assert METRICS.get(name).__module__ == module
    assert probability_metrics()[:2] == ("auroc", "average_precision")
    assert threshold_metrics() >= {"f1", "icbhi_score"}


def test_a_metric_registered_from_a_test_is_found_by_name():
    @METRICS.register
    class ErrorRate(Metric):
        """``error_rate``: a made-up test metric, the fraction of mistakes."""

        name = "test_error_rate"

        def __call__(self, values, true, num_classes):
            return float((values != true).mean())

    try:
        assert "test_error_rate" in METRICS and "test_error_rate" in METRICS.names()
        assert METRICS.get("test_error_rate") is ErrorRate
        assert METRICS["test_error_rate"](np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), 2) == 0.25
        assert "test_error_rate" not in probability_metrics() and "test_error_rate" not in threshold_metrics()
    finally:
        METRICS._classes.pop("test_error_rate", None)


def test_an_unknown_metric_is_an_error_listing_the_known_ones():
    with pytest.raises(KeyError) as error:
        METRICS.get("f2")
    message = str(error.value)
    assert "unknown metric 'f2'" in message
    for name in ("f1", "macro_f1", "accuracy", "icbhi_score", "auroc", "average_precision"):
        assert repr(name) in message
