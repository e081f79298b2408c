"""The synthetic multimodal generator (mtlsearch.data.synthetic_multimodal): its inputs and its known answers."""

import sys

import numpy as np
import pytest
import torch
from conftest import REPO
from sklearn.linear_model import LogisticRegression

from mtlsearch.data.canonical import read_info, read_input_splits, read_splits
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic_multimodal import (
    PLANTED_DEPENDENCIES,
    TASK_MODALITIES,
    SyntheticMultimodalOptions,
    planted_dependencies,
    routed_dependencies,
)

sys.path.insert(0, str(REPO / "benchmarks"))  # the benchmark's training and its choice on validation


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = prepare("synthetic_multimodal", SyntheticMultimodalOptions(num_samples=3000, seed=3), tmp_path_factory.mktemp("mm"))
    return path, read_info(path)


def test_two_inputs_of_their_kinds_and_the_answers_in_the_metadata(table):
    _, info = table
    assert [(i.name, i.kind, i.shape) for i in info.inputs] == [("tabular", "tabular", (16,)), ("signal", "timeseries", (32, 2))]
    assert info.extra[TASK_MODALITIES] == ["tabular", "signal", "both"] * 2
    d = np.asarray(info.extra[PLANTED_DEPENDENCIES])
    assert d.shape == (6, 6) and (np.diag(d) == 0).all()
    assert (d[:3] == 0).all() and ((d[3:, :3] > 0).sum(axis=1) == 2).all() and (d[3:, 3:] == 0).all()


def test_dense_and_none_dependencies():
    rng = np.random.default_rng(0)
    dense = planted_dependencies(5, "dense", rng, dense_total=1.5)
    off = dense[~np.eye(5, dtype=bool)]
    assert len(set(off.tolist())) == len(off)  # every entry its own rank
    assert (off > 0).all() and np.allclose(dense.sum(axis=1), 1.5) and (np.diag(dense) == 0).all()
    assert not planted_dependencies(5, "none", rng).any()


def _accuracy(x_train, y_train, x_test, y_test) -> float:
    return LogisticRegression(max_iter=2000).fit(x_train, y_train).score(x_test, y_test)


def test_a_task_that_needs_both_modalities_is_not_solved_by_either_alone(table):
    path, info = table
    inputs = read_input_splits(path, ["tabular", "signal"])
    x = {s: {name: inputs[name][s] for name in inputs} for s in ("train", "test")}
    for s in x:
        x[s]["both"] = np.hstack([x[s]["tabular"], x[s]["signal"]])
    labels = read_splits(path, info.task_names)
    y = {s: labels[s].y for s in ("train", "test")}
    for j, need in enumerate(info.extra[TASK_MODALITIES][:3]):  # the first half has no dependency
        acc = {}
        for view in ("tabular", "signal", "both"):
            acc[view] = _accuracy(x["train"][view], y["train"][:, j], x["test"][view], y["test"][:, j])
        if need == "both":
            assert acc["both"] > max(acc["tabular"], acc["signal"]) + 0.05, acc
        else:
            other = "signal" if need == "tabular" else "tabular"
            assert acc[need] > acc[other] + 0.2 and acc[other] < 0.62, acc


def test_dependent_labels_follow_their_planted_sources(table):
    path, info = table
    y = read_splits(path, info.task_names)["train"].y
    d = np.asarray(info.extra[PLANTED_DEPENDENCIES])
    corr = np.corrcoef(y.T)
    planted = [abs(corr[t, s]) for t in range(3, 6) for s in range(3) if d[t, s] > 0]
    absent = [abs(corr[t, s]) for t in range(3, 6) for s in range(3) if d[t, s] == 0]
    # latents drawn along random directions of one modality overlap a little, so absent pairs correlate too
    assert np.mean(planted) > np.mean(absent) + 0.1


def test_the_fused_model_beats_each_single_modality_model_on_the_tasks_needing_both(table):
    """In process, one seed: MTL on both inputs against MTL on each alone (benchmarks/cross_task_attention.py
    gives the intervals over seeds)."""
    from cross_task_attention import dm, train

    path, info = table
    both = [t for t, m in zip(info.task_names, info.extra[TASK_MODALITIES]) if m == "both"]
    fused = train(str(path), info, ("tabular", "signal"), 0, False, 8)
    for single in ("tabular", "signal"):
        alone = train(str(path), info, (single,), 0, False, 8)
        assert dm(fused, alone, both) > 3.0, single


def test_the_benchmark_keeps_attention_only_where_it_pays_on_validation():
    """Part 4 of benchmarks/cross_task_attention.py: the choice reads Δm(val) only, never the test scores."""
    from cross_task_attention import chosen_on_validation

    plain = {"val": {"a": 0.80, "b": 0.70}, "test": {"a": 0.80, "b": 0.70}}
    better_on_val = {"val": {"a": 0.82, "b": 0.70}, "test": {"a": 0.60, "b": 0.60}}
    better_on_test = {"val": {"a": 0.79, "b": 0.70}, "test": {"a": 0.95, "b": 0.95}}
    assert chosen_on_validation(better_on_val, plain, ["a", "b"]) is better_on_val
    assert chosen_on_validation(better_on_test, plain, ["a", "b"]) is plain
    assert chosen_on_validation(plain, plain, ["a", "b"]) is plain  # a tie keeps plain MTL


def test_the_benchmarks_model_choice_reaches_the_attention_layer(table):
    """``--gamma`` and ``--attention-dim`` of both attention benchmarks reach the layer (the benchmarks' ``Model``)."""
    import argparse

    from cross_task_attention import Model, add_model_arguments, job_for

    from mtlsearch.train.trainer import MultiTaskTrainer

    p = argparse.ArgumentParser()
    add_model_arguments(p)
    flags = ["--encoders", "large", "--fusion", "linear", "--gamma", "5", "--attention-dim", "8"]
    assert Model.from_args(p.parse_args(flags)) == Model("large", "linear", 5.0, 8)
    assert Model.from_args(p.parse_args([])) == Model()
    path, info = table
    trainer = MultiTaskTrainer(job_for(str(path), info, ("tabular", "signal"), 0, True, 1, Model("large", "linear", 5.0, 8)))
    (layer,) = trainer.model.attention
    assert layer.dim == 8 and float(layer.gamma) == 5.0 and not isinstance(layer.gamma, torch.nn.Parameter)
    assert all(head.in_features == 8 for head in trainer.model.heads)
    learned = MultiTaskTrainer(job_for(str(path), info, ("tabular", "signal"), 0, True, 1, Model()))
    assert isinstance(learned.model.attention[0].gamma, torch.nn.Parameter) and learned.model.attention[0].dim == 16


def test_scarce_labels_hide_only_training_labels_of_dependent_tasks(tmp_path):
    path = prepare("synthetic_multimodal", SyntheticMultimodalOptions(num_samples=1000, dependent_labels=0.2), tmp_path)
    info = read_info(path)
    splits = read_splits(path, info.task_names)
    labelled = (splits["train"].y >= 0).mean(axis=0)
    np.testing.assert_allclose(labelled[:3], 1.0)
    np.testing.assert_allclose(labelled[3:], 0.2, atol=0.01)
    assert all((splits[s].y >= 0).all() for s in ("val", "test"))


def test_routed_dependencies_send_each_example_to_one_other_task(tmp_path):
    """``routed``: a one-hot context closes the tabular input; D's rows are the categories' frequencies, and
    within one category a task's labels go with those of the task it is routed to."""
    rng = np.random.default_rng(0)
    freq, routes, d = routed_dependencies(6, rng)
    assert np.allclose(d.sum(axis=1), 1.0) and (np.diag(d) == 0).all() and len(set(freq.tolist())) == 5
    assert all(sorted(d[t][d[t] > 0].tolist()) == sorted(freq.tolist()) for t in range(6))
    assert all(t not in routes[t] and len(set(routes[t].tolist())) == 5 for t in range(6))

    path = prepare("synthetic_multimodal", SyntheticMultimodalOptions(num_samples=3000, dependencies="routed", seed=3), tmp_path)
    info = read_info(path)
    assert [(i.name, i.shape) for i in info.inputs] == [("tabular", (21,)), ("signal", (32, 2))]
    d = np.asarray(info.extra[PLANTED_DEPENDENCIES])
    x = read_input_splits(path, ["tabular"])["tabular"]["train"]
    context = x[:, -5:]
    assert set(np.unique(context).tolist()) == {0.0, 1.0} and (context.sum(axis=1) == 1).all()
    category = context.argmax(axis=1)
    y = read_splits(path, info.task_names)["train"].y
    routed, other = [], []
    for k in range(5):
        rows = category == k
        corr = np.abs(np.corrcoef(y[rows].T))
        share = rows.mean()  # category k's frequency: the D entry of the task it routes each row to
        for t in range(6):
            target = min((s for s in range(6) if s != t), key=lambda s: abs(d[t, s] - share))
            routed.append(corr[t, target])
            other += [corr[t, s] for s in range(6) if s not in (t, target)]
    assert np.mean(routed) > np.mean(other) + 0.08
