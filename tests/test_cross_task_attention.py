"""Cross-task attention (M3H's definition as documented in mtlsearch.models.cross_task_attention) and its TIM."""

import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from mtlsearch.data.canonical import TaskInfo, read_info
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.metrics.result_keys import tim_key, tim_matrix
from mtlsearch.models.attention_options import LEARNED, check_gamma
from mtlsearch.models.cross_task_attention import CrossTaskAttention, TimAccumulator
from mtlsearch.models.multitask import MultiTaskModel
from mtlsearch.models.plan import SharingPlan, make_plan
from mtlsearch.train.job import TrainJob
from mtlsearch.train.trainer import MultiTaskTrainer


def _reference(layer: CrossTaskAttention, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """o_t = e_t + Σ_s A_ts v_s with A = softmax(QKᵀ/√d + γI), written out per task pair."""
    T, d = layer.num_tasks, layer.dim
    e = layer.project(z).view(z.shape[0], T, d)
    q, k, v = e @ layer.query.weight.T, e @ layer.key.weight.T, e @ layer.value.weight.T
    logits = torch.empty(z.shape[0], T, T)
    for t in range(T):
        for s in range(T):
            logits[:, t, s] = (q[:, t] * k[:, s]).sum(-1) / math.sqrt(d) + (float(layer.gamma.detach()) if s == t else 0.0)
    a = torch.softmax(logits, dim=-1)
    o = torch.stack([e[:, t] + sum(a[:, t, s, None] * v[:, s] for s in range(T)) for t in range(T)], dim=1)
    return o, a


@pytest.mark.parametrize("gamma", [0.0, 1.5, LEARNED])
def test_layer_matches_the_documented_formula(gamma):
    torch.manual_seed(0)
    layer = CrossTaskAttention(3, 10, dim=4, gamma=gamma)
    layer.keep_attention = True
    z = torch.randn(7, 10)
    o = layer(z)
    ref_o, ref_a = _reference(layer, z)
    assert o.shape == (7, 3, 4)
    torch.testing.assert_close(o, ref_o)
    torch.testing.assert_close(layer.last_attention, ref_a)
    torch.testing.assert_close(layer.last_attention.sum(-1), torch.ones(7, 3))


def test_gamma_balances_self_and_cross():
    torch.manual_seed(0)
    z = torch.randn(50, 10)
    for gamma, check in (
        (30.0, lambda a: a.diagonal(dim1=1, dim2=2).min() > 0.999),
        (-30.0, lambda a: a.diagonal(dim1=1, dim2=2).max() < 1e-6),
    ):
        layer = CrossTaskAttention(3, 10, dim=4, gamma=gamma)
        layer.keep_attention = True
        layer(z)
        assert check(layer.last_attention), gamma


def test_learned_gamma_is_trained_and_a_fixed_one_is_not():
    learned = CrossTaskAttention(2, 6, dim=3, gamma=LEARNED)
    assert "gamma" in dict(learned.named_parameters())
    learned(torch.randn(4, 6)).sum().backward()
    assert learned.gamma.grad is not None and learned.gamma.grad.abs() > 0
    fixed = CrossTaskAttention(2, 6, dim=3, gamma=0.5)
    assert "gamma" not in dict(fixed.named_parameters())
    with pytest.raises(ValueError, match="attention_gamma"):
        check_gamma("big")
    with pytest.raises(ValueError, match="attention_gamma"):
        check_gamma(float("inf"))


def test_tim_is_the_mean_attention_over_examples_without_the_diagonal():
    acc = TimAccumulator([["a", "b"], ["c"]])
    first = torch.tensor([[[0.7, 0.3], [0.2, 0.8]]] * 2)
    second = torch.tensor([[[0.1, 0.9], [0.6, 0.4]]])
    acc.add([first, torch.ones(2, 1, 1)])
    acc.add([second, torch.ones(1, 1, 1)])
    rows = acc.rows()
    assert rows["a"] == pytest.approx({"b": (0.3 * 2 + 0.9) / 3})
    assert rows["b"] == pytest.approx({"a": (0.2 * 2 + 0.6) / 3})
    assert rows["c"] == {}


def test_plans_carry_attention_except_stl():
    tasks = ["a", "b", "c"]
    mtl = make_plan("MTL", tasks, attention=True, attention_gamma=0.5, attention_dim=8)
    assert mtl.attention and SharingPlan.from_dict(mtl.to_dict()) == mtl
    assert not make_plan("STL", tasks, attention=True).attention
    assert "attention" not in make_plan("MTL", tasks).to_dict()  # plans without it are stored as before
    soft = make_plan("GMTL", tasks, (("a", "b"), ("c",)), sharing="soft", attention=True)
    assert soft.attention and soft.soft


def _tasks(n=3):
    return [TaskInfo(f"t{i}", "binary", ("n", "p")) for i in range(n - 1)] + [
        TaskInfo(f"t{n - 1}", "multiclass", ("x", "y", "z"))
    ]


@pytest.mark.parametrize("arch,groups", [("MTL", None), ("GMHL", (("t0", "t1"), ("t2",))), ("GMTL", (("t0", "t1"), ("t2",)))])
def test_model_heads_read_the_attended_embeddings(arch, groups):
    tasks = _tasks()
    plan = make_plan(arch, [t.name for t in tasks], groups, attention=True, attention_gamma=0.0, attention_dim=5)
    model = MultiTaskModel(plan, tasks, {"type": "mlp", "hidden_dims": [12]}, 9, seed=0)
    x = torch.randn(6, 9)
    out = model(x)
    assert {k: v.shape for k, v in out.items()} == {"t0": (6, 1), "t1": (6, 1), "t2": (6, 3)}
    assert len(model.attention) == len(plan.encoder_groups)
    # task t's logits = its rows of its head group's layer applied to o_t
    for head, names, sizes in zip(model.heads, model._head_tasks, model._head_splits):
        start = 0
        for name, size in zip(names, sizes):
            g, j = model._attention_position[name]
            o = model.attention[g](model.encoders[g](x))[:, j]
            torch.testing.assert_close(out[name], o @ head.weight[start : start + size].T + head.bias[start : start + size])
            start += size


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = prepare("synthetic", SyntheticOptions(num_tasks=4, num_groups=2, num_samples=600), tmp_path_factory.mktemp("d"))
    return str(path), read_info(path)


def _job(dataset, arch, groups=None, **kw):
    path, info = dataset
    plan = make_plan(arch, info.task_names, groups, attention=True, attention_dim=8)
    return TrainJob(
        dataset_path=path,
        tasks=[asdict(t) for t in info.tasks],
        plan=plan.to_dict(),
        encoder={"type": "mlp", "hidden_dims": [32]},
        epochs=3,
        batch_size=32,
        lr=3e-3,
        seed=0,
        **kw,
    )


def test_trainer_reports_the_tim_of_each_group_at_the_selected_epoch(dataset):
    _, info = dataset
    names = info.task_names
    groups = (tuple(names[:2]), tuple(names[2:]))
    trainer = MultiTaskTrainer(_job(dataset, "GMTL", groups))
    for e in range(3):
        stats = trainer.run_epoch(e)
        assert trainer.epoch_tim  # every val pass measures it
    m = trainer.metrics(stats)
    matrix = tim_matrix(m, names)
    for i, t in enumerate(names):
        for j, s in enumerate(names):
            same_group = (i < 2) == (j < 2)
            assert (matrix[i][j] is not None) == (same_group and i != j), (t, s)
            if matrix[i][j] is not None:
                assert 0.0 < matrix[i][j] < 1.0
    # the row is the one of the task's selected epoch: re-measure the model's state there is not possible,
    # but a row stays fixed while its selection does not move
    trainer.best.update = lambda epoch, val, test: []  # no selection moves from now on
    before = {k: v for k, v in m.items() if k.startswith("tim/")}
    trainer.run_epoch(3)
    assert {k: v for k, v in trainer.metrics(stats).items() if k.startswith("tim/")} == before
    assert tim_key(names[0], names[1]) in before


def test_tim_survives_a_resume(dataset):
    trainer = MultiTaskTrainer(_job(dataset, "MTL"))
    stats = trainer.run_epoch(0)
    state = trainer.state_dict(0)
    resumed = MultiTaskTrainer(_job(dataset, "MTL"))
    resumed.load_state_dict(state)
    tims = {k: v for k, v in trainer.metrics(stats).items() if k.startswith("tim/")}
    assert len(tims) == 4 * 3
    assert {k: v for k, v in resumed.metrics(stats).items() if k.startswith("tim/")} == tims


def test_tim_run_gives_an_affinity_read_by_tags_selection(dataset, tmp_path):
    from mtlsearch.grouping.methods import Artifact, get_method
    from mtlsearch.grouping.tim_run import compute_tim, describe

    path, info = dataset
    job = _job(dataset, "MTL")
    result = compute_tim(job, 2, "learned", 8)
    names = info.task_names
    assert result.task_names == names and result.tim.shape == (4, 4)
    assert np.isnan(np.diag(result.tim)).all()
    off = ~np.eye(4, dtype=bool)
    assert (result.tim[off] > 0).all() and (np.nansum(result.tim, axis=1) < 1).all()
    np.testing.assert_allclose(result.affinity[off], result.tim.T[off])  # Z_{s→t} = TIM_{t←s}
    rel = result.reliability
    assert rel["examples"] == 90 and rel["epochs_run"] == 2 and rel["runs"] == 2 and set(rel["separation"]) == {"2", "3"}
    assert -1.0 <= rel["cross_seed"] <= 1.0
    method = get_method("tim")
    artifact = Artifact("tim-x", "tim", names, result.affinity, {"reliability": rel})
    groups, meta = method.select(artifact, 2, False, 0)
    assert sorted(t for g in groups for t in g) == sorted(names) and len(groups) == 2
    assert method.describe_reliability(rel) == describe(rel)
    method.plot(artifact, tmp_path / "heatmap.png")
    assert (tmp_path / "heatmap.png").stat().st_size > 1000


def test_tim_warning_names_the_checks():
    from mtlsearch.grouping.tim_run import warning

    assert warning("tim", {"cross_seed": 0.95, "separation": {"2": 1.5}}) is None
    text = warning("tim", {"cross_seed": 0.3, "separation": {"2": 1.5}, "examples": 10, "epochs_run": 2, "runs": 2})
    assert "unreliable" in text and "cross-seed r 0.30 (2 runs)" in text and "grouping_methods.tim.epochs" in text
    assert warning("tim", {"cross_seed": 0.95, "separation": {"2": 0.5}}) is not None


def _spec(tmp_path, space: str, model: str = ""):
    path = tmp_path / "s.yaml"
    path.write_text(f"""experiment: attn
dataset: {{loader: synthetic, options: {{num_tasks: 4}}}}
model:
  encoder: {{type: mlp, hidden_dims: [8]}}
{model}
search:
  space:
    architecture: {{choice: [STL, MTL]}}
{space}
""")
    return path


def test_spec_searches_attention_and_says_when_gamma_has_no_trial(tmp_path):
    from mtlsearch.errors import SpecError
    from mtlsearch.spec import load_spec

    spec = load_spec(
        _spec(tmp_path, "    cross_task_attention: {choice: [false, true]}\n    attention_gamma: {choice: [0, 2.5, learned]}")
    )
    assert spec.spec.searched_attention() == [False, True]
    load_spec(_spec(tmp_path, "    attention_gamma: {uniform: [-1, 3]}", model="  cross_task_attention: true"))
    with pytest.raises(SpecError) as e:
        load_spec(_spec(tmp_path, "    attention_gamma: {choice: [0.5]}"))
    assert "attention_gamma is sampled only for trials with cross-task attention" in str(e.value)
    assert "s.yaml" in str(e.value)
    with pytest.raises(SpecError) as e:
        load_spec(_spec(tmp_path, "", model="  attention_gamma: huge"))
    assert "model.attention_gamma" in str(e.value)


def test_the_search_context_builds_the_sampled_attention_plan(tmp_path):
    from types import SimpleNamespace

    from mtlsearch.search.context import SearchContext
    from mtlsearch.spec import load_spec

    spec = load_spec(_spec(tmp_path, "    cross_task_attention: {choice: [false, true]}", model="  attention_dim: 6")).spec
    info = SimpleNamespace(task_names=["a", "b", "c"])
    context = SimpleNamespace(spec=spec, info=info, trained_tasks=lambda config: info.task_names)
    plan = SearchContext.describe(context, {"architecture": "MTL", "cross_task_attention": True})["plan"]
    assert plan.attention and plan.attention_dim == 6 and plan.attention_gamma == "learned"
    assert not SearchContext.describe(context, {"architecture": "MTL", "cross_task_attention": False})["plan"].attention
    assert not SearchContext.describe(context, {"architecture": "STL", "cross_task_attention": True})["plan"].attention


def test_overlapping_groups_with_attention_attend_over_the_copies(dataset):
    _, info = dataset
    a, b, c, d = info.task_names
    trainer = MultiTaskTrainer(_job(dataset, "GMTL", ((a, b), (a, c), (d,))))
    assert trainer.model.plan.attention and len(trainer.model.attention) == 3
    stats = trainer.run_epoch(0)
    m = trainer.metrics(stats)
    assert {k for k in m if k.startswith("tim/")} == {
        tim_key(f"{a}@0", b),
        tim_key(b, f"{a}@0"),
        tim_key(f"{a}@1", c),
        tim_key(c, f"{a}@1"),
    }


def test_grouping_runs_train_the_fused_encoder_of_model_inputs(tmp_path):
    from types import SimpleNamespace

    from mtlsearch.data.synthetic_multimodal import SyntheticMultimodalOptions
    from mtlsearch.grouping.methods import GroupingInputs
    from mtlsearch.grouping.methods.all_task_run import all_task_job, training_settings
    from mtlsearch.spec import load_spec

    path = prepare("synthetic_multimodal", SyntheticMultimodalOptions(num_samples=200), tmp_path)
    info = read_info(path)
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text("""experiment: mm
dataset: {loader: synthetic_multimodal, options: {num_samples: 200}}
model:
  inputs: {tabular: {type: mlp, hidden_dims: [8]}, signal: {type: timeseries}}
search: {space: {architecture: {choice: [MTL]}}}
""")
    spec = load_spec(spec_path).spec
    job = all_task_job(GroupingInputs(spec, info, str(path)), None, 1)
    assert job.encoder["type"] == "multimodal" and [s["name"] for s in job.encoder["layout"]] == ["tabular", "signal"]
    assert training_settings(spec, None)["encoder"]["inputs"]["signal"]["type"] == "timeseries"
    proxy = SimpleNamespace(model_dump=lambda: {"type": "mlp", "hidden_dims": [4]})
    assert all_task_job(GroupingInputs(spec, info, str(path)), proxy, 1).encoder == {"type": "mlp", "hidden_dims": [4]}
    trainer = MultiTaskTrainer(job)  # the packed inputs train
    trainer.run_epoch(0)
