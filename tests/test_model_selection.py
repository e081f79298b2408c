"""One selection protocol for baselines and candidates: each separately trained model picks its own epoch on val."""

from __future__ import annotations

import math

import pytest
from conftest import write_spec

from mtlsearch.models.plan import make_plan
from mtlsearch.train.selection import ModelSelection, selection_units

TASKS = ["a", "b", "c", "d"]


def _selection(arch: str, baselines: dict | None = None, groups=None, sharing: str = "hard") -> ModelSelection:
    plan = make_plan(arch, TASKS, groups, sharing=sharing)
    return ModelSelection(selection_units(plan), {t: "max" for t in TASKS}, baselines or {})


def test_models_are_encoders_and_soft_sharing_is_one_model():
    groups = (("a", "b"), ("c", "d"))
    assert selection_units(make_plan("STL", TASKS)) == [["a"], ["b"], ["c"], ["d"]]
    assert selection_units(make_plan("MTL", TASKS)) == [TASKS]
    assert selection_units(make_plan("GMHL", TASKS, groups)) == [TASKS]
    assert selection_units(make_plan("GMTL", TASKS, groups)) == [["a", "b"], ["c", "d"]]
    assert selection_units(make_plan("MTL", TASKS, sharing="soft")) == [TASKS]


# val scores per epoch (hand-made): a peaks at epoch 1, b at 2, c and d at 0 and 2
VAL = [
    {"a": 0.5, "b": 0.5, "c": 0.8, "d": 0.4},
    {"a": 0.9, "b": 0.4, "c": 0.6, "d": 0.5},
    {"a": 0.6, "b": 0.7, "c": 0.7, "d": 0.6},
]
TEST = [{t: v - 0.05 for t, v in e.items()} for e in VAL]
BASE = {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.5}


def _run(sel: ModelSelection) -> ModelSelection:
    for e, (v, t) in enumerate(zip(VAL, TEST)):
        sel.update(e, v, t)
    return sel


def test_stl_selects_each_tasks_best_validation_epoch():
    sel = _run(_selection("STL", BASE))
    assert sel.epoch == {"a": 1, "b": 2, "c": 0, "d": 2}
    assert sel.val == {"a": 0.9, "b": 0.7, "c": 0.8, "d": 0.6} and sel.test["a"] == pytest.approx(0.85)


def test_one_model_selects_one_epoch_by_its_share_of_delta_m():
    # relative improvements summed: epoch 0: 0+0+0.6-0.2 = 0.4; epoch 1: 0.8-0.2+0.2+0 = 0.8; epoch 2: 0.2+0.4+0.4+0.2 = 1.2
    sel = _run(_selection("MTL", BASE))
    assert set(sel.epoch.values()) == {2} and sel.criterion == [pytest.approx(1.2)]
    gmtl = _run(_selection("GMTL", BASE, groups=(("a", "b"), ("c", "d"))))
    # (a, b): 0, 0.6, 0.6 -> epoch 1 (a tie at 2 keeps the earlier); (c, d): 0.4, 0.2, 0.6 -> epoch 2
    assert gmtl.epoch == {"a": 1, "b": 1, "c": 2, "d": 2}


def test_without_baselines_each_model_sums_its_scores_and_nan_never_wins():
    sel = ModelSelection([["a"], ["b", "c"]], {"a": "max", "b": "max", "c": "min"})
    sel.update(0, {"a": math.nan, "b": 0.5, "c": 0.5}, {"a": 0.1, "b": 0.1, "c": 0.1})
    sel.update(1, {"a": 0.7, "b": 0.6, "c": 0.7}, {"a": 0.2, "b": 0.2, "c": 0.2})  # b - c: 0 -> -0.1 (c is lower-better)
    assert sel.epoch == {"a": 0, "b": 0, "c": 0}  # NaN never improves on the kept epoch, nor does a worse sum


def test_selection_delta_m_never_decreases():
    from mtlsearch.metrics.delta_m import delta_m

    sel = _selection("GMTL", BASE, groups=(("a", "c"), ("b", "d")))
    last = -math.inf
    for e, (v, t) in enumerate(zip(VAL, TEST)):
        sel.update(e, v, t)
        now = delta_m(sel.val, BASE)
        assert now >= last
        last = now


@pytest.mark.ray
def test_the_baselines_configuration_as_a_trial_scores_delta_m_zero(ray_cluster, tmp_path):
    """The STL baselines' own configuration and seed, run as a search trial: Δm val = Δm test = 0 exactly."""
    from mtlsearch.search.launcher import launch
    from mtlsearch.spec import load_spec

    spec = write_spec(
        tmp_path / "s.yaml",
        tmp_path / "store",
        "identity",
        num_samples=1,
        epochs=5,
        tasks=4,
        asha="{enabled: false}",
        space="architecture: {choice: [STL]}",
    )
    with open(tmp_path / "launch.log", "w") as f:
        _, rows = launch(load_spec(spec), out=f)
    [row] = rows
    assert row["dm_val"] == 0.0 and row["dm_test"] == 0.0
    from mtlsearch.store.results import ResultsStore

    store = ResultsStore(str(tmp_path / "store"))
    baselines = store.read_experiment("identity")["baselines"]
    stored = {r["task"]: r for r in store.read_baselines([b["fingerprint"] for b in baselines.values()]).values()}
    assert row["selected_epochs"] == {t: stored[t]["best_epoch"] for t in stored}  # the baselines' own epochs
    assert {t: s["val"] for t, s in row["tasks"].items()} == {t: b["val"] for t, b in baselines.items()}
