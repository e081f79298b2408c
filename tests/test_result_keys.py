"""The keys a training run reports: built and read back through mtlsearch/metrics/result_keys.py only."""

from __future__ import annotations

from mtlsearch.metrics.result_keys import (
    AUROC,
    BEST_EPOCH,
    THRESHOLD,
    VAL,
    extra_key,
    extra_per_task,
    multilabel_key,
    per_task,
    task_key,
)
from mtlsearch.search.callbacks import multilabel_columns, selected_epochs


def test_per_task_keys_round_trip_and_do_not_catch_other_kinds():
    result = {task_key(VAL, "C04"): 0.5, task_key(VAL, "a/b"): 0.25, "val_extra/auroc/C04": 0.9, task_key("best_val", "C04"): 0.7}
    assert per_task(result, VAL) == {"C04": 0.5, "a/b": 0.25}


def test_secondary_per_task_numbers_carry_their_store_metric_names():
    result = {
        extra_key("test", task_key(AUROC, "x")): 0.8,
        extra_key("test", task_key(THRESHOLD, "x")): 0.3,
        extra_key("val", task_key(AUROC, "x")): 0.7,
        extra_key("test", "sp/y"): 0.6,
    }
    assert sorted(extra_per_task(result, "test")) == [("x", "auroc", 0.8), ("x", "threshold", 0.3), ("y", "specificity", 0.6)]


def test_the_trials_table_prefers_the_selections_multilabel_scores_and_reads_selected_epochs():
    result = {
        extra_key("val", multilabel_key("macro_f1")): 0.4,
        extra_key("val", multilabel_key("macro_f1", selected=True)): 0.5,
        extra_key("test", multilabel_key("macro_f1")): 0.3,
        task_key(BEST_EPOCH, "b"): 3,
        task_key(BEST_EPOCH, "a"): 1,
    }
    columns = multilabel_columns(result)
    assert columns["val_macro_f1"] == 0.5 and columns["test_macro_f1"] == 0.3 and columns["val_micro_f1"] is None
    assert selected_epochs(result) == '{"a": 1, "b": 3}'
