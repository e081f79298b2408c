"""Loss-weighting strategies: one update each on a two-task toy with hand-computed gradients, then trainer/spec wiring.

The toy: a shared parameter θ = (1, 2) and two quadratic losses
``L1 = ½‖θ − (0, 2)‖²`` (= 0.5, ∇ = g1 = (1, 0)) and ``L2 = ½‖θ − (2, 1)‖²``
(= 1.0, ∇ = g2 = (−1, 1)); the gradients conflict (g1·g2 = −1).
"""

import math
from dataclasses import asdict

import pytest
import torch

from mtlsearch.train.weightings import WEIGHTINGS, make_weighting
from mtlsearch.train.weightings.dtp import DTP
from mtlsearch.train.weightings.dwa import DWA
from mtlsearch.train.weightings.pcgrad import PCGrad

TASKS = ["t1", "t2"]
A, B = torch.tensor([0.0, 2.0]), torch.tensor([2.0, 1.0])


def toy(name, theta=(1.0, 2.0), **options):
    theta = torch.nn.Parameter(torch.tensor(theta))
    w = make_weighting({"name": name, **options}, TASKS).bind([theta], [theta], [[theta], [theta]])
    return w, theta


def losses(theta):
    return torch.stack([0.5 * ((theta - A) ** 2).sum(), 0.5 * ((theta - B) ** 2).sum()])


def test_registry_names_and_docstrings():
    from mtlsearch.spec import TrainSpec

    builtin = ["equal", "static", "uncertainty", "dwa", "gradnorm", "dtp", "pcgrad"]
    assert list(WEIGHTINGS.builtin) == builtin == WEIGHTINGS.names()[: len(builtin)]  # then any registered plugin
    for name in builtin:
        cls = WEIGHTINGS.get(name)
        assert cls.name == name and f"``{name}``" in cls.__doc__ and cls.Options().name == name
        assert cls.__module__ == f"mtlsearch.train.weightings.{name}"  # one file per strategy
        if name not in ("equal", "static"):
            assert any(str(y) in cls.__doc__ for y in (2018, 2019, 2020)), name  # the paper is cited
        # the spec's train.weighting takes each strategy's own Options, and the strategy reads its options from them
        spec = TrainSpec.model_validate({"weighting": {"name": name}}).weighting
        assert isinstance(spec, cls.Options) and make_weighting(spec, TASKS).options == spec
    assert make_weighting({"name": "gradnorm", "alpha": 0.5}, TASKS).alpha == 0.5
    assert make_weighting(None, TASKS).name == "equal"
    with pytest.raises(ValueError, match="unknown weighting 'nope'"):
        make_weighting({"name": "nope"}, TASKS)


def test_equal():
    w, theta = toy("equal")
    loss = w.backward(losses(theta))
    assert loss.item() == pytest.approx(1.5)
    assert theta.grad.tolist() == pytest.approx([0.0, 1.0])  # g1 + g2


def test_static():
    w, theta = toy("static", weights={"t1": 2.0, "t2": 0.5})
    loss = w.backward(losses(theta))
    assert loss.item() == pytest.approx(1.5)  # reported unweighted
    assert theta.grad.tolist() == pytest.approx([1.5, 0.5])  # 2·g1 + 0.5·g2
    with pytest.raises(ValueError, match="unknown tasks"):
        make_weighting({"name": "static", "weights": {"zz": 1.0}}, TASKS)


def test_uncertainty_gradients_wrt_theta_and_log_variances():
    w, theta = toy("uncertainty", init_log_var=math.log(2.0))
    assert w.weights().tolist() == pytest.approx([0.5, 0.5])
    w.backward(losses(theta))
    assert theta.grad.tolist() == pytest.approx([0.0, 0.5])  # ½(g1 + g2)
    # ∂/∂s_t [exp(−s_t) L_t + ½ s_t] = −exp(−s_t) L_t + ½
    # float32: the 0 entry is 0.5 − exp(−fl32(ln 2))·1, exact only if exp rounds to 0.5 (an ulp is 3e-8)
    assert w.log_var.grad.tolist() == pytest.approx([-0.25 + 0.5, -0.5 + 0.5], abs=1e-6)
    assert w.extra_parameters() == [w.log_var]


def test_dwa_weights_from_the_last_two_epochs():
    w, theta = toy("dwa", temperature=2.0)
    # epochs 0 and 1: weights 1; their mean losses come from the steps' losses
    for epoch_losses in ([(1.0, 1.0), (1.0, 1.0)], [(0.4, 1.0), (0.6, 1.0)]):
        assert w.weights().tolist() == [1.0, 1.0]
        for step_losses in epoch_losses:
            w.backward(torch.tensor(step_losses, requires_grad=True))
        w.end_epoch()
    # r = L(1)/L(0) = (0.5, 1); w = 2·softmax(r / 2)
    e1, e2 = math.exp(0.25), math.exp(0.5)
    expected = [2 * e1 / (e1 + e2), 2 * e2 / (e1 + e2)]
    assert w.weights().tolist() == pytest.approx(expected)
    w.backward(losses(theta))
    assert theta.grad.tolist() == pytest.approx([expected[0] - expected[1], expected[1]])  # w1·g1 + w2·g2
    # the history is the state: a fresh instance resumes with the same weights
    again = make_weighting({"name": "dwa"}, TASKS)
    again.load_state_dict(w.state_dict())
    assert again.weights().tolist() == pytest.approx(expected)
    # L(e−2) = (2, 1), L(e−1) = (1, 1): r = (½, 1), temperature 1
    assert DWA.weights_from([torch.tensor([2.0, 1.0]), torch.tensor([1.0, 1.0])], 1.0).tolist() == pytest.approx(
        [2 / (1 + math.exp(0.5)), 2 * math.exp(0.5) / (1 + math.exp(0.5))]
    )


def test_gradnorm_weight_update():
    # step 1 at θ0 = (2, 2): L(0) = (2, 0.5) (∇L1 = (2, 0), ∇L2 = (0, 1))
    w, theta = toy("gradnorm", theta=(2.0, 2.0), alpha=1.5)
    w.backward(losses(theta))
    assert w.initial.tolist() == pytest.approx([2.0, 0.5])
    # equal loss ratios: target = mean G = 1.5 for both; G = (2, 1) → signs (+, −), times ‖∇_W L_t‖ = (2, 1)
    assert w.w.grad.tolist() == pytest.approx([2.0, -1.0])
    assert theta.grad.tolist() == pytest.approx([2.0, 1.0])
    # the optimizer moves w, after_step renormalises to Σ w = T
    with torch.no_grad():
        w.w.copy_(torch.tensor([1.5, 1.0]))
    w.after_step()
    assert w.w.tolist() == pytest.approx([1.2, 0.8])
    # step 2 at θ = (1, 2): L = (0.5, 1), ratios L/L(0) = (0.25, 2) → r = (0.222, 1.778)
    # G = w·‖g‖ = (1.2·1, 0.8·√2) = (1.2, 1.131), Ḡ = 1.166, target = Ḡ·r^1.5 = (0.122, 2.763)
    # → sign(G − target) = (+1, −1), ∂L_grad/∂w = (+‖g1‖, −‖g2‖) = (1, −√2)
    theta.grad = None
    with torch.no_grad():
        theta.copy_(torch.tensor([1.0, 2.0]))
    w.backward(losses(theta))
    assert w.w.grad.tolist() == pytest.approx([1.0, -math.sqrt(2.0)])
    assert theta.grad.tolist() == pytest.approx([1.2 - 0.8, 0.8])  # 1.2·g1 + 0.8·g2
    state = w.state_dict()
    again = make_weighting({"name": "gradnorm"}, TASKS)
    again.load_state_dict(state)
    assert again.w.tolist() == pytest.approx([1.2, 0.8]) and again.initial.tolist() == pytest.approx([2.0, 0.5])


def test_dtp_weights_from_kpis():
    w, theta = toy("dtp", gamma=2.0, ema=0.1)
    assert w.needs_kpi
    w.observe(torch.tensor([9.0, 5.0]), torch.tensor([10.0, 10.0]))  # first batch sets κ = (0.9, 0.5)
    assert w.kpi.tolist() == pytest.approx([0.9, 0.5])
    expected = [-(0.1**2) * math.log(0.9), -(0.5**2) * math.log(0.5)]  # −(1−κ)^γ log κ
    # float32 κ: fl32(0.9) is off by 2.6e-8 relative and −(1−κ)² log κ amplifies that ~28× (7e-7 here)
    assert w.weights().tolist() == pytest.approx(expected, rel=1e-5)
    w.backward(losses(theta))
    assert theta.grad.tolist() == pytest.approx([expected[0] - expected[1], expected[1]])
    # EMA with the next batch (accuracy 1.0 and 0.0); a task without labels keeps its KPI
    w.observe(torch.tensor([10.0, 0.0]), torch.tensor([10.0, 10.0]))
    assert w.kpi.tolist() == pytest.approx([0.1 * 1.0 + 0.9 * 0.9, 0.1 * 0.0 + 0.9 * 0.5])
    w.observe(torch.tensor([0.0, 3.0]), torch.tensor([0.0, 10.0]))
    assert w.kpi.tolist() == pytest.approx([0.91, 0.1 * 0.3 + 0.9 * 0.45])
    assert DTP.weights_from(torch.tensor([1.0]), 2.0).tolist() == [0.0]


def test_pcgrad_projects_conflicting_gradients_only_on_shared_parameters():
    theta = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    head = torch.nn.Parameter(torch.tensor([3.0]))  # task-specific: plain sum of gradients
    w = make_weighting({"name": "pcgrad"}, TASKS).bind([theta, head], [theta])
    both = losses(theta) + torch.stack([0.5 * (head**2).sum(), torch.zeros(())])
    w.backward(both)
    # g1^PC = g1 − (g1·g2/‖g2‖²) g2 = (1,0) + ½(−1,1) = (½, ½); g2^PC = g2 − (g2·g1/‖g1‖²) g1 = (0, 1)
    assert theta.grad.tolist() == pytest.approx([0.5, 1.5])
    assert head.grad.tolist() == pytest.approx([3.0])
    # no conflict, no projection
    G = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert PCGrad.project(G).tolist() == G.tolist()
    # three tasks: the order of the others matters and comes from the seeded generator
    G3 = torch.tensor([[1.0, 0.0], [-1.0, 1.0], [-1.0, -0.5]])
    a = PCGrad.project(G3, torch.Generator().manual_seed(0))
    b = PCGrad.project(G3, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    # task 0, others in order (1, 2): (1,0) → (½,½) → (½,½) + 0.6·(−1,−½) = (−0.1, 0.2);
    # in order (2, 1): (1,0) → (1,0) + 0.8·(−1,−½) = (0.2,−0.4) → + 0.3·(−1,1) = (−0.1, −0.1)
    firsts = {tuple(round(v, 4) for v in PCGrad.project(G3, torch.Generator().manual_seed(s))[0].tolist()) for s in range(20)}
    assert firsts == {(-0.1, 0.2), (-0.1, -0.1)}


# --- trainer and spec wiring ---------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from mtlsearch.data.canonical import read_info
    from mtlsearch.data.registry import prepare
    from mtlsearch.data.synthetic import SyntheticOptions

    path = prepare(
        "synthetic",
        SyntheticOptions(num_tasks=3, num_groups=1, num_samples=400, multiclass_tasks=1),
        tmp_path_factory.mktemp("d"),
    )
    return str(path), read_info(path)


def _job(dataset, weighting, epochs=4):
    from mtlsearch.models.plan import make_plan
    from mtlsearch.train.job import TrainJob

    path, info = dataset
    return TrainJob(
        dataset_path=path,
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan("MTL", info.task_names).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [16]},
        epochs=epochs,
        batch_size=32,
        lr=3e-3,
        seed=0,
        torch_threads=1,
        weighting=weighting,
    )


@pytest.mark.parametrize("name", ["static", "uncertainty", "dwa", "gradnorm", "dtp", "pcgrad"])
def test_trainer_resume_is_exact_and_weights_are_reported(dataset, name):
    from mtlsearch.train.trainer import MultiTaskTrainer

    cfg = {"name": name, **({"weights": {dataset[1].task_names[0]: 2.0}} if name == "static" else {})}
    job = _job(dataset, cfg)
    straight = MultiTaskTrainer(job)
    for e in range(4):
        s = straight.run_epoch(e)
    interrupted = MultiTaskTrainer(job)
    for e in range(3):
        interrupted.run_epoch(e)
    resumed = MultiTaskTrainer(job)
    resumed.load_state_dict(interrupted.state_dict(2))
    r = resumed.run_epoch(3)
    assert r.train_loss == pytest.approx(s.train_loss, rel=1e-6)
    assert resumed.weighting.weights().tolist() == pytest.approx(straight.weighting.weights().tolist(), rel=1e-6)
    m = straight.metrics(s)
    weights = [m[f"weight/{t}"] for t in dataset[1].task_names]
    assert all(math.isfinite(x) and x >= 0 for x in weights)
    if name in ("dwa", "gradnorm", "uncertainty", "dtp"):
        assert weights != [1.0] * len(weights)  # they moved
    if name == "gradnorm":
        assert sum(weights) == pytest.approx(len(weights), rel=1e-5)


def test_equal_reports_no_weights_and_keeps_one_param_group(dataset):
    from mtlsearch.train.trainer import MultiTaskTrainer

    t = MultiTaskTrainer(_job(dataset, {"name": "equal"}, epochs=1))
    assert len(t.optimizer.param_groups) == 1 and t.train_model is t.ddp_model
    assert not any(k.startswith("weight/") for k in t.metrics(t.run_epoch(0)))


def _load(tmp_path, train_extra, space):
    from conftest import write_spec

    from mtlsearch.spec import load_spec

    path = write_spec(tmp_path / "s.yaml", tmp_path / "st", extra_train=train_extra, space=space)
    return load_spec(path)


def test_spec_weighting_validation(tmp_path):
    from mtlsearch.errors import SpecError

    loaded = _load(tmp_path, "weighting: {name: gradnorm, alpha: 0.5}", "weighting: {choice: [equal, gradnorm, pcgrad]}")
    assert loaded.spec.train.weighting.alpha == 0.5
    assert _load(tmp_path, "", "lr: {choice: [0.01]}").spec.train.weighting.name == "equal"
    cases = [
        ("weighting: {name: gradnrom}", "lr: {choice: [0.01]}", "field 'train.weighting.name': unknown weighting 'gradnrom'"),
        (
            "weighting: {name: dwa, alpha: 2}",
            "lr: {choice: [0.01]}",
            "field 'train.weighting.alpha': unknown key (expected one of: name, temperature)",
        ),
        ("weighting: {name: dwa, temperature: -1}", "lr: {choice: [0.01]}", "field 'train.weighting.temperature'"),
        ("", "weighting: {choice: [equal, magic]}", "unknown weighting 'magic'"),
        ("", "static_weights: {loguniform: [0.1, 10]}", "static_weights samples the weights of the 'static' weighting"),
    ]
    for train_extra, space, message in cases:
        with pytest.raises(SpecError) as err:
            _load(tmp_path, train_extra, space)
        assert message in str(err.value), str(err.value)


def test_search_space_and_job_for(tmp_path):
    from mtlsearch.search.context import SearchContext
    from mtlsearch.search.space import DefineByRun, enumerate_candidates

    loaded = _load(
        tmp_path,
        "weighting: {name: dwa, temperature: 4}",
        "weighting: {choice: [dwa, static, gradnorm]}\n    static_weights: {choice: [0.5, 2.0]}",
    )
    space = loaded.spec.search.space
    points = enumerate_candidates(space, ["a", "b"])
    assert {"weighting": "static", "w/a": 0.5, "w/b": 2.0} in points and {"weighting": "dwa"} in points
    assert len(points) == 2 + 4  # dwa, gradnorm, and static × 2 × 2
    with pytest.raises(ValueError, match="needs the task names"):
        DefineByRun(space)

    import optuna

    seen = set()
    for trial_number in range(12):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=trial_number))
        trial = study.ask()
        DefineByRun(space, ["a", "b"])(trial)
        keys = set(trial.params)
        seen.add(trial.params["weighting"])
        assert keys == ({"weighting", "w/a", "w/b"} if trial.params["weighting"] == "static" else {"weighting"})
    assert "static" in seen

    from mtlsearch.data.canonical import DatasetInfo, TaskInfo

    info = DatasetInfo("synthetic", tuple(TaskInfo(n, "binary", ("n", "y")) for n in ("a", "b")), "x", 16, "f").to_json()
    ctx = SearchContext("t", loaded.spec.model_dump_json(), "d.parquet", info, {}, "")
    assert ctx.job_for({}).weighting == {"name": "dwa", "temperature": 4.0}  # train.weighting's options
    assert ctx.job_for({"weighting": "gradnorm"}).weighting == {"name": "gradnorm", "alpha": 1.5}  # the strategy's defaults
    assert ctx.job_for({"weighting": "static", "w/a": 0.5, "w/b": 2.0}).weighting == {
        "name": "static",
        "weights": {"a": 0.5, "b": 2.0},
    }
