import pytest
import torch

from mtlsearch.data.canonical import TaskInfo
from mtlsearch.models.multitask import MultiTaskModel
from mtlsearch.models.plan import SharingPlan, make_plan

TASKS = ["a", "b", "c", "d"]
GROUPS = (("a", "b"), ("c", "d"))


def infos(names=TASKS):
    return [
        TaskInfo(n, "binary", ("neg", "pos")) if n != "d" else TaskInfo(n, "multiclass", ("x", "y", "z"), metric="macro_f1")
        for n in names
    ]


@pytest.mark.parametrize(
    "arch,encoders,heads",
    [("STL", 4, 4), ("MTL", 1, 4), ("GMHL", 1, 2), ("GMTL", 2, 2)],
)
def test_plans(arch, encoders, heads):
    plan = make_plan(arch, TASKS, GROUPS if arch in ("GMHL", "GMTL") else None)
    assert len(plan.encoder_groups) == encoders and len(plan.head_groups) == heads
    model = MultiTaskModel(plan, infos(), {"type": "mlp", "hidden_dims": [8]}, in_dim=5, seed=0)
    out = model(torch.randn(3, 5))
    assert {k: v.shape for k, v in out.items()} == {"a": (3, 1), "b": (3, 1), "c": (3, 1), "d": (3, 3)}
    assert len(model.encoders) == encoders and len(model.heads) == heads


def test_tasks_outside_groups_get_their_own_group():
    plan = make_plan("GMTL", TASKS, (("a", "b"), ("c", "zz")))
    assert plan.head_groups == (("a", "b"), ("c",), ("d",))


def test_invalid_plans_are_rejected():
    with pytest.raises(ValueError, match="no head group on that encoder"):  # b's first encoder has no head for it
        SharingPlan((("a", "b"), ("b",)), (("a",), ("b",)))
    with pytest.raises(ValueError, match="more than once"):
        SharingPlan((("a", "a"),), (("a",),))
    with pytest.raises(ValueError, match="spans several encoders"):
        SharingPlan((("a",), ("b",)), (("a", "b"),))
    with pytest.raises(ValueError, match="needs task groups"):
        make_plan("GMHL", TASKS)


def test_stl_encoder_does_not_depend_on_the_other_tasks():
    cfg = {"type": "mlp", "hidden_dims": [8]}
    alone = MultiTaskModel(make_plan("STL", ["c"]), infos(["c"]), cfg, 5, seed=1)
    together = MultiTaskModel(make_plan("STL", TASKS), infos(), cfg, 5, seed=1)
    for p, q in zip(alone.encoders[0].parameters(), together.encoders[2].parameters()):
        assert torch.equal(p, q)
