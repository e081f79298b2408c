"""Overlapping groups train (issue 16): a task in several groups trains one copy per group and is served by the
copy best on validation; Δm counts it once; the store records which copy serves it. In-process, no Ray."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from mtlsearch.data.canonical import TaskInfo, read_info
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.grouping.methods import computed_key, supports_overlapping
from mtlsearch.metrics.multilabel import multilabel_scores
from mtlsearch.metrics.result_keys import (
    BEST_VAL,
    COPY_BEST_TEST,
    COPY_BEST_VAL,
    DM_TEST,
    DM_VAL,
    SERVED_BY,
    extra_key,
    multilabel_key,
    per_task,
    task_key,
)
from mtlsearch.models.multitask import MultiTaskModel
from mtlsearch.models.plan import SharingPlan, copy_name, copy_source, make_plan
from mtlsearch.search.space import enumerate_candidates
from mtlsearch.spec import SearchSpace
from mtlsearch.store.results import TRIALS_SCHEMA, ResultsStore
from mtlsearch.train.job import TrainJob
from mtlsearch.train.serving import served_copies, train_copies
from mtlsearch.train.trainer import MultiTaskTrainer

A, B, C, D = "task_00", "task_01", "task_02", "task_03"  # synthetic: A, B planted together; C, D together; D multiclass
OVERLAP = ((A, B), (A, C))  # A trained twice: with its related task B (head group 0) and with C (head group 1)


# -- the plan --------------------------------------------------------------------------------------------------------


def test_an_overlapping_gmtl_plan_trains_one_copy_per_group():
    plan = make_plan("GMTL", [A, B, C, D], OVERLAP)
    assert plan.overlapping
    assert plan.encoder_groups == ((A, B), (A, C), (D,))  # kept as given (D got a group of its own)
    assert plan.tasks == [copy_name(A, 0), B, copy_name(A, 1), C, D] == ["task_00@0", B, "task_00@1", C, D]
    assert plan.sources == {"task_00@0": A, B: B, "task_00@1": A, C: C, D: D}
    assert plan.source_tasks == [A, B, C, D]
    assert [plan.head_of(c) for c in plan.tasks] == [0, 0, 1, 1, 2]
    trained = plan.trained()
    assert not trained.overlapping and trained.encoder_groups == (("task_00@0", B), ("task_00@1", C), (D,))
    assert SharingPlan.from_dict(plan.to_dict()) == plan
    assert copy_source("task_00@1") == A and copy_source(B) == B


def test_an_overlapping_gmhl_plan_puts_the_copies_on_the_shared_encoder():
    plan = make_plan("GMHL", [A, B, C], OVERLAP)
    assert plan.encoder_groups == ((A, B, C),)
    assert plan.tasks == ["task_00@0", "task_00@1", B, C]
    trained = plan.trained()
    assert trained.encoder_groups == (("task_00@0", "task_00@1", B, C),)
    assert trained.head_groups == (("task_00@0", B), ("task_00@1", C))


def test_a_non_overlapping_plan_keeps_its_plain_names():
    plan = make_plan("GMTL", [A, B, C, D], ((A, B), (C, D)))
    assert not plan.overlapping and plan.trained() is plan
    assert plan.tasks == [A, B, C, D] and plan.sources == {t: t for t in (A, B, C, D)}


def test_overlapping_plans_are_validated():
    with pytest.raises(ValueError, match="contain '@'"):
        SharingPlan((("a@x", "b"), ("a@x", "c")), (("a@x", "b"), ("a@x", "c")))
    with pytest.raises(ValueError, match="more than once in encoder group"):
        SharingPlan((("a", "a"),), (("a",),))
    with pytest.raises(ValueError, match="listed more than once"):
        SharingPlan((("a", "b"), ("b", "a")), (("a", "b"), ("b", "a")))
    with pytest.raises(ValueError, match="fits in several encoder groups"):  # head (a,) could sit on either encoder
        SharingPlan((("a", "b"), ("a", "c")), (("a",), ("b",), ("c",)))
    with pytest.raises(ValueError, match="no head group on that encoder"):
        SharingPlan((("a", "b"), ("a", "c")), (("a", "b"), ("c",)))
    # make_plan keeps a group that repeats another (once cleaned) once
    assert make_plan("GMTL", ["a", "b"], (("a", "b"), ("b", "a", "zz"))).head_groups == (("a", "b"),)


def test_the_model_emits_every_copy():
    plan = make_plan("GMTL", ["a", "b", "c"], (("a", "b"), ("a", "c")))
    tasks = [TaskInfo(n, "binary", ("neg", "pos")) for n in "abc"]
    model = MultiTaskModel(plan, tasks, {"type": "mlp", "hidden_dims": [8]}, in_dim=5, seed=0)
    assert set(model(torch.randn(3, 5))) == {"a@0", "b", "a@1", "c"}
    assert len(model.encoders) == 2
    # the copies are different models: their encoders start from different weights
    assert not torch.equal(next(model.encoders[0].parameters()), next(model.encoders[1].parameters()))


def test_train_copies_duplicates_the_label_columns():
    plan = make_plan("GMTL", ["a", "b", "c"], (("a", "b"), ("a", "c")))
    tasks = [TaskInfo(n, "binary", ("neg", "pos"), role="primary") for n in "abc"]
    y = np.array([[0, 1, 1], [1, 0, -1]])
    copies, trained, labels, sources = train_copies(tasks, plan, {"train": y})
    assert [t.name for t in copies] == ["a@0", "b", "a@1", "c"] == trained.tasks
    assert all(t.role == "primary" and t.kind == "binary" for t in copies)
    assert labels["train"].tolist() == [[0, 1, 0, 1], [1, 0, 1, -1]]
    assert sources == {"a@0": "a", "b": "b", "a@1": "a", "c": "c"}


# -- served copies -----------------------------------------------------------------------------------------------------


def test_served_copy_is_the_best_on_validation_direction_aware():
    sources = {"a@0": "a", "a@1": "a", "b": "b", "l@0": "l", "l@1": "l", "n@0": "n", "n@1": "n"}
    val = {"a@0": 0.6, "a@1": 0.7, "b": 0.1, "l@0": 0.3, "l@1": 0.2, "n@0": math.nan, "n@1": 0.1}
    directions = {c: ("min" if c.startswith("l") else "max") for c in sources}
    assert served_copies(sources, val, directions) == {"a": "a@1", "b": "b", "l": "l@1", "n": "n@1"}
    tie = served_copies({"a@0": "a", "a@1": "a"}, {"a@0": 0.5, "a@1": 0.5}, {"a@0": "max", "a@1": "max"})
    assert tie == {"a": "a@0"}  # ties: the first copy
    assert served_copies({"a@0": "a", "a@1": "a"}, {}, {"a@0": "max", "a@1": "max"}) == {"a": "a@0"}  # before any epoch


# -- training --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = prepare(
        "synthetic",
        SyntheticOptions(num_tasks=4, num_groups=2, num_samples=800, multiclass_tasks=1),
        tmp_path_factory.mktemp("d"),
    )
    return str(path), read_info(path)


def _job(dataset, arch="GMTL", groups=OVERLAP, epochs=4, **kw) -> TrainJob:
    path, info = dataset
    return TrainJob(
        dataset_path=path,
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan(arch, info.task_names, groups).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [32]},
        epochs=epochs,
        batch_size=32,
        lr=3e-3,
        seed=0,
        **kw,
    )


def _run(job: TrainJob, epochs: int | None = None) -> tuple[MultiTaskTrainer, dict]:
    trainer = MultiTaskTrainer(job)
    for e in range(epochs or job.epochs):
        stats = trainer.run_epoch(e)
    return trainer, trainer.metrics(stats)


def _check_served(m: dict, trainer: MultiTaskTrainer) -> None:
    """The record names each task once, with its serving copy's numbers; served_by is the best copy on val."""
    copies = per_task(m, COPY_BEST_VAL)
    assert set(copies) == {"task_00@0", "task_00@1"}
    best = max(copies, key=copies.get)
    assert m[task_key(SERVED_BY, A)] == trainer.job.plan.head_of(best)
    assert m[task_key(BEST_VAL, A)] == copies[best]
    assert m[task_key("best_test", A)] == m[task_key(COPY_BEST_TEST, best)]
    tasks = {A, B, C, D} | {a.name for a in trainer.aux_tasks}
    for kind in ("val", "test", "best_val", "best_test", "best_epoch"):
        assert set(per_task(m, kind)) == tasks, kind  # each task once, by its own name
    for split in ("val", "test"):
        assert set(per_task(m, extra_key(split, "auroc"))) == tasks


def test_a_task_in_two_groups_trains_and_is_served_by_its_best_copy(dataset):
    trainer, m = _run(_job(dataset, baselines={A: {"val": 0.5, "test": 0.5}, B: {"val": 0.5, "test": 0.5}}))
    assert [t.name for t in trainer.tasks] == ["task_00@0", B, "task_00@1", C, D]
    _check_served(m, trainer)
    # Δm counts the overlapping task once: N = 2 primary tasks, each with its serving copy's score
    expected = 100 / 2 * sum((m[task_key(BEST_VAL, t)] - 0.5) / 0.5 for t in (A, B))
    assert m[DM_VAL] == pytest.approx(expected)
    assert m[DM_VAL] != pytest.approx(
        100 / 3 * sum((v - 0.5) / 0.5 for v in [*per_task(m, COPY_BEST_VAL).values(), m["best_val/" + B]])
    )


def test_the_known_worse_copy_does_not_serve(dataset):
    # copy task_00@1's head never learns (static weight 0): it is the worse copy by construction
    job = _job(dataset, weighting={"name": "static", "weights": {"task_00@1": 0.0, C: 1.0}})
    trainer, m = _run(job)
    copies = per_task(m, COPY_BEST_VAL)
    assert copies["task_00@0"] > copies["task_00@1"] + 0.1
    assert m[task_key(SERVED_BY, A)] == 0
    _check_served(m, trainer)
    # a weight given to the task itself reaches both its copies
    both = MultiTaskTrainer(_job(dataset, weighting={"name": "static", "weights": {A: 2.0}}))
    assert both.weighting.weights().tolist() == [2.0, 1.0, 2.0, 1.0, 1.0]


def test_a_copy_of_the_baseline_scores_delta_m_zero(dataset):
    """Baselines equal to the serving copies' scores give Δm = 0 on val and test (each primary counted once).

    Each model's selection only depends on its primary task with a baseline (one per model here) and is
    invariant to that baseline's value, so the run with the baselines set to its own serving scores
    selects the same epochs."""
    job = _job(dataset, epochs=3, baselines={A: {"val": 0.5, "test": 0.5}})
    _, m = _run(job)
    own = {A: {"val": m[task_key(BEST_VAL, A)], "test": m[task_key("best_test", A)]}}
    _, m2 = _run(_job(dataset, epochs=3, baselines=own))
    assert m2[task_key(BEST_VAL, A)] == own[A]["val"]
    assert m2[DM_VAL] == 0.0 and m2[DM_TEST] == 0.0


def test_gmhl_overlap_with_uncertainty_weighting_and_cotask(dataset):
    job = _job(dataset, arch="GMHL", epochs=2, weighting={"name": "uncertainty"}, cotask={"aux_tasks": 2, "sampler": True})
    trainer, m = _run(job)
    names = [t.name for t in trainer.tasks]
    assert names[:5] == ["task_00@0", "task_00@1", B, C, D] and len(names) == 7  # two auxiliary tasks at the end
    assert len(trainer.model.encoders) == 1 and len(trainer.model.heads) == 3 + 2
    _check_served(m, trainer)
    assert all(math.isfinite(v) for v in per_task(m, "weight").values())
    assert {k for k in per_task(m, "weight")} == set(names)  # loss weights are per trained copy


@pytest.mark.parametrize("weighting", ["gradnorm", "pcgrad", "dwa"])
def test_gradient_weightings_train_an_overlapping_plan(dataset, weighting):
    trainer, m = _run(_job(dataset, epochs=2, weighting={"name": weighting}))
    _check_served(m, trainer)
    assert math.isfinite(m["train_loss"])


def test_multilabel_scores_use_the_serving_copies_once(dataset):
    trainer, m = _run(_job(dataset, epochs=3))
    served = trainer.served()
    binary = [A, B, C]  # D is multiclass
    for split in ("val", "test"):
        chosen = trainer._selected_predictions[split]
        y = trainer.data[split][1].cpu().numpy()
        cols = [[t.name for t in trainer.tasks].index(served[s]) for s in binary]
        expected = multilabel_scores(np.stack([chosen[served[s]] for s in binary], axis=1), y[:, cols])
        for score, value in expected.items():
            assert m[extra_key(split, multilabel_key(score, selected=True))] == pytest.approx(value)


def test_non_overlapping_records_are_unchanged(dataset):
    """A non-overlapping plan's record has no served-by or per-copy key, and names no copy."""
    trainer, m = _run(_job(dataset, groups=((A, B), (C, D)), epochs=2))
    assert not any(k.startswith((SERVED_BY, COPY_BEST_VAL, COPY_BEST_TEST)) or "@" in k for k in m)
    assert trainer.sources == {t: t for t in (A, B, C, D)}


# -- store -------------------------------------------------------------------------------------------------------------


def test_served_by_round_trips_through_the_store(tmp_path):
    from mtlsearch.search.callbacks import served_by

    result = {"epoch": 1, task_key(SERVED_BY, A): 1, task_key(BEST_VAL, A): 0.7}
    store = ResultsStore(str(tmp_path))
    store.write_trial_epoch("exp", "t1", 1, {"architecture": "GMTL", SERVED_BY: served_by(result)}, [])
    store.write_trial_epoch("exp", "t2", 1, {"architecture": "GMTL", SERVED_BY: served_by({"epoch": 1})}, [])
    # a file written before the column existed
    old = pa.schema([f for f in TRIALS_SCHEMA if f.name != SERVED_BY])
    folder = tmp_path / "experiments" / "exp" / "trials" / "t0"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist([{"experiment": "exp", "trial_id": "t0", "epoch": 1}], schema=old), folder / "epoch=00001.parquet"
    )
    rows = {r["trial_id"]: r[SERVED_BY] for r in store.read("exp", "trials").to_pylist()}
    assert json.loads(rows["t1"]) == {A: 1}
    assert rows["t2"] is None and rows["t0"] is None


# -- the search space ------------------------------------------------------------------------------------------------


def test_grouping_overlapping_is_sampled_for_methods_that_can_overlap():
    space = SearchSpace.model_validate(
        {
            "architecture": {"choice": ["GMTL"]},
            "grouping": {
                "method": {"choice": ["affinity", "embedding"]},
                "k": {"choice": [2]},
                "overlapping": {"choice": [False, True]},
            },
        }
    )
    configs = enumerate_candidates(space)
    assert configs == [
        {"architecture": "GMTL", "grouping_method": "affinity", "k": 2, "overlapping": False},
        {"architecture": "GMTL", "grouping_method": "affinity", "k": 2, "overlapping": True},
        {"architecture": "GMTL", "grouping_method": "embedding", "k": 2},  # k-medoids: a partition
    ]
    import optuna

    from mtlsearch.search.space import DefineByRun

    for seed in range(8):
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
        DefineByRun(space)(trial)
        assert ("overlapping" in trial.params) == (trial.params["grouping_method"] == "affinity")
    assert supports_overlapping("affinity") and supports_overlapping("head_coupling") and not supports_overlapping("embedding")
    assert space.grouping.overlapping_values("embedding") == [False]


def test_overlapping_needs_a_method_that_can_overlap():
    with pytest.raises(ValueError, match="grouping.overlapping"):
        SearchSpace.model_validate(
            {"grouping": {"method": {"choice": ["embedding"]}, "k": {"choice": [2]}, "overlapping": {"choice": [True]}}}
        )
    with pytest.raises(ValueError, match="true/false"):
        SearchSpace.model_validate(
            {"grouping": {"method": {"choice": ["affinity"]}, "k": {"choice": [2]}, "overlapping": {"choice": ["yes"]}}}
        )


def test_computed_keys_tell_overlapping_groups_apart():
    assert computed_key("affinity", 3) == "affinity/k=3"  # unchanged for partitions
    assert len({computed_key("affinity", 3), computed_key("affinity", 3, True), computed_key("affinity", 2, True)}) == 3


def test_the_leaderboard_marks_the_serving_group():
    from mtlsearch.report.leaderboard import _groups_text

    row = {"architecture": "GMTL", "groups": [[A, B], [A, C]], SERVED_BY: {A: 1}}
    assert _groups_text(row) == f"{A},{B} | {A}*,{C}"
    assert _groups_text({"architecture": "GMTL", "groups": [[A, B], [C]]}) == f"{A},{B} | {C}"


# -- the spec and the search context ------------------------------------------------------------------------------------


def _spec(tmp_path, over: str):
    from conftest import write_spec

    from mtlsearch.spec import load_spec

    path = write_spec(
        tmp_path / "s.yaml", tmp_path / "st", space="architecture: {choice: [GMTL]}\n    grouping: {choice: [over]}"
    )
    path.write_text(path.read_text().replace("groupings:\n", f"groupings:\n  over: {over}\n"))
    return load_spec(path)


def test_manual_groupings_may_overlap_and_the_context_trains_them(tmp_path):
    from mtlsearch.data.canonical import DatasetInfo
    from mtlsearch.errors import SpecError
    from mtlsearch.search.context import SearchContext

    loaded = _spec(tmp_path, f"[[{A}, {B}], [{A}, {C}]]")
    names = [f"task_{i:02d}" for i in range(6)]
    info = DatasetInfo("synthetic", tuple(TaskInfo(n, "binary", ("n", "y")) for n in names), "x", 16, "f").to_json()
    computed = {computed_key("affinity", 2): [names[:3], names[3:]], computed_key("affinity", 2, True): [names[:4], names[2:]]}
    ctx = SearchContext("t", loaded.spec.model_dump_json(), "d.parquet", info, {}, "", computed_groups=computed)
    manual = ctx.describe({"architecture": "GMTL", "grouping_method": "manual", "grouping": "over"})
    assert manual["overlapping"] and manual["plan"].tasks[:4] == ["task_00@0", B, "task_00@1", C]
    over = ctx.describe({"architecture": "GMTL", "grouping_method": "affinity", "k": 2, "overlapping": True})
    assert over["grouping"] == "affinity k=2 overlapping" and over["groups"] == [names[:4], names[2:]] and over["overlapping"]
    part = ctx.describe({"architecture": "GMTL", "grouping_method": "affinity", "k": 2})
    assert part["grouping"] == "affinity k=2" and not part["overlapping"]
    with pytest.raises(SpecError, match="listed twice in this group"):
        _spec(tmp_path, f"[[{A}, {A}]]")
    with pytest.raises(SpecError, match="unknown task"):
        _spec(tmp_path, f"[[{A}, nope], [{A}]]")


def test_search_groupings_computes_both_selections_under_their_keys(tmp_path):
    """A launch's computed groupings (mtlsearch.grouping.artifacts.search_groupings) hold the partition and the
    overlapping selection of each (method, k), from a stored matrix (no training here)."""
    from conftest import write_spec

    from mtlsearch.data.canonical import DatasetInfo
    from mtlsearch.grouping.artifacts import search_groupings
    from mtlsearch.grouping.methods import GroupingInputs, get_method
    from mtlsearch.spec import load_spec

    space = "architecture: {choice: [GMTL]}\n    grouping: {method: {choice: [affinity]}, k: {choice: [2]}, overlapping: {choice: [false, true]}}"
    spec = load_spec(write_spec(tmp_path / "s.yaml", tmp_path / "st", tasks=4, space=space)).spec
    names = [A, B, C, D]
    info = DatasetInfo("synthetic", tuple(TaskInfo(n, "binary", ("n", "y")) for n in names), "x", 16, "fp")
    inputs = GroupingInputs(spec, info, "unused.parquet")
    # A helps every task; B, C, D help nobody but A: the best two groups both want A
    z = np.array([[0, 1, 1, 1], [1, 0, -1, -1], [1, -1, 0, -1], [1, -1, -1, 0]], dtype=float)
    store = ResultsStore(str(tmp_path / "st"))
    store.groupings.write_matrix(get_method("affinity").artifact_id(inputs), names, z, {})
    out = search_groupings(inputs, store, "t")
    assert set(out) == {computed_key("affinity", 2), computed_key("affinity", 2, True)}
    partition, overlapping = out[computed_key("affinity", 2)], out[computed_key("affinity", 2, True)]
    assert sorted(t for g in partition for t in g) == names
    assert sum(A in g for g in overlapping) == 2  # the overlapping selection trains A in both groups
    assert make_plan("GMTL", names, tuple(tuple(g) for g in overlapping)).overlapping
