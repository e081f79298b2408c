"""CO-TASK in training: auxiliary heads and labels in a run, the task-aware sampler's batches, the search dimensions."""

import io
import math
import pickle
from dataclasses import asdict

import numpy as np
import pytest
from conftest import write_spec

from mtlsearch.data.canonical import read_info
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.models.plan import make_plan
from mtlsearch.search.context import SearchContext
from mtlsearch.search.space import enumerate_candidates
from mtlsearch.spec import CoTaskSpec, load_spec
from mtlsearch.tasks.auxiliary import primary_state_dict
from mtlsearch.tasks.cotask import downsample_keep_count
from mtlsearch.train.job import TrainJob
from mtlsearch.train.sampler import TaskAwareSampler
from mtlsearch.train.trainer import MultiTaskTrainer


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = prepare(
        "synthetic", SyntheticOptions(num_tasks=4, num_groups=2, num_samples=800, imbalance=0.2), tmp_path_factory.mktemp("d")
    )
    return str(path), read_info(path)


def _job(dataset, arch="MTL", **kw):
    path, info = dataset
    return TrainJob(
        dataset_path=path,
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan(arch, info.task_names, info.planted_groups).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [16]},
        epochs=2,
        batch_size=32,
        lr=3e-3,
        seed=0,
        baselines={t: {"val": 0.5, "test": 0.5} for t in info.task_names},
        **kw,
    )


def test_auxiliary_tasks_get_heads_labels_and_never_count_in_delta_m(dataset):
    _, info = dataset
    trainer = MultiTaskTrainer(_job(dataset, "GMTL", cotask={"aux_tasks": 3}))
    names = [t.name for t in trainer.tasks]
    aux = [t for t in trainer.tasks if t.role == "auxiliary"]
    assert names[:4] == info.task_names and len(aux) == 3 and all(t.name.startswith("aux_") for t in aux)
    plan = trainer.model.plan
    for a in trainer.aux_tasks:
        assert (a.name,) in plan.head_groups and plan.encoder_of(a.name) == plan.encoder_of(a.sources[0])
    y_train = trainer.data["train"][1].numpy()
    y_val = trainer.data["val"][1].numpy()
    for k in range(4, 7):
        pool = int((y_val[:, k] >= 0).sum())
        assert pool == len(y_val)  # val/test labels are complete (synthetic labels are)
        assert (y_train[:, k] >= 0).sum() == downsample_keep_count(len(y_train), 2)  # train: 1/n of the examples, n = 2
    stats = trainer.run_epoch(0)
    m = trainer.metrics(stats)
    assert {f"val/{a.name}" for a in aux} <= set(m)
    expected = 100 * np.mean([(stats.val[t] - 0.5) / 0.5 for t in info.task_names])
    assert m["dm_val"] == pytest.approx(expected)  # the mean over the 4 primary tasks only
    exported = primary_state_dict(trainer.model, trainer.aux_tasks)
    full = trainer.model.state_dict()
    dropped = set(full) - set(exported)
    assert dropped and all(k.startswith("heads.") for k in dropped) and len(dropped) == 2 * 3  # weight + bias per aux head


def test_no_auxiliary_tasks_leaves_the_run_unchanged(dataset):
    a, b = MultiTaskTrainer(_job(dataset)), MultiTaskTrainer(_job(dataset, cotask={"aux_tasks": 0, "sampler": False}))
    assert [t.name for t in a.tasks] == [t.name for t in b.tasks]
    sa, sb = a.run_epoch(0), b.run_epoch(0)
    assert sa.train_loss == sb.train_loss and sa.val == sb.val


def test_sampler_steps_train_the_picked_task_with_sampled_batches(dataset):
    trainer = MultiTaskTrainer(_job(dataset, cotask={"aux_tasks": 2, "sampler": True}))
    sampler = trainer.sampler
    assert sampler is not None and sampler.task_names == [t.name for t in trainer.tasks]
    batches = list(trainer._batches(0))
    assert len(batches) == sampler.steps_per_epoch == math.ceil(trainer.data["train"][0].shape[0] / 32)
    for step, (idx, picked) in enumerate(batches[:5]):
        task, ref = sampler.draw(0, step)
        assert picked.tolist() == [1.0 if j == task else 0.0 for j in range(len(trainer.tasks))]
        assert idx.tolist() == ref.tolist()
        assert (trainer.data["train"][1][idx, task] >= 0).all()  # never an example unlabelled for the picked task
    # a rank of 2 takes every other element of the same global batch
    ranked = MultiTaskTrainer.__new__(MultiTaskTrainer)
    ranked.__dict__.update(trainer.__dict__, rank=1, world_size=2)
    idx1, _ = next(iter(ranked._batches(0)))
    assert idx1.tolist() == TaskAwareSampler.rank_share(sampler.draw(0, 0)[1], 1, 2).tolist()
    # one step changes only the picked task's head (and the shared encoder)
    picked_task = sampler.draw(0, 0)[0]
    first = next(iter(trainer._batches(0)))
    logits = trainer.model(trainer.data["train"][0][first[0]])
    losses = trainer.loss_fn(logits, tuple(t[first[0]] for t in trainer.train_targets)) * first[1]
    trainer.optimizer.zero_grad()
    losses.sum().backward()
    heads_with_grad = {
        i for i, h in enumerate(trainer.model.heads) if h.weight.grad is not None and h.weight.grad.abs().sum() > 0
    }
    name = trainer.tasks[picked_task].name
    assert heads_with_grad == {i for i, g in enumerate(trainer.model._head_tasks) if name in g}
    loss0 = trainer.run_epoch(0).train_loss
    assert np.isfinite(loss0)


def test_spec_dimensions_and_stl_gets_no_auxiliary_tasks(tmp_path):
    space = (
        "architecture: {choice: [STL, MTL]}\n    aux_tasks: {choice: [0, 2]}\n    aux_major_prob: {choice: [0.5, 0.9]}\n"
        "    task_sampler: {choice: [false, true]}"
    )
    spec = write_spec(tmp_path / "s.yaml", tmp_path, space=space, extra_train="cotask: {major: [task_00]}")
    loaded = load_spec(spec)
    cands = enumerate_candidates(loaded.spec.search.space)
    # STL: sampler only (2); MTL: M=0 (no p) or M=2 × p (2) = 3, × sampler (2) = 6
    assert len(cands) == 8
    assert all("aux_tasks" not in c and "aux_major_prob" not in c for c in cands if c["architecture"] == "STL")
    assert {"architecture": "MTL", "aux_tasks": 0, "task_sampler": True} in cands
    ctx = SearchContext("t", loaded.spec.model_dump_json(), "d.parquet", "{}", {}, "")
    assert ctx.cotask_for({"architecture": "STL", "aux_tasks": 2}).aux_tasks == 0
    cotask = ctx.cotask_for({"architecture": "MTL", "aux_tasks": 2, "aux_major_prob": 0.9, "task_sampler": True})
    assert cotask == CoTaskSpec(aux_tasks=2, major=["task_00"], major_prob=0.9, sampler=True, pick="uniform")
    assert cotask.model_dump() == {"aux_tasks": 2, "major": ["task_00"], "major_prob": 0.9, "sampler": True, "pick": "uniform"}
    spec.write_text(spec.read_text().replace("major: [task_00]", "major: [task_99]"))
    with pytest.raises(Exception, match=r"field 'train.cotask.major.0': unknown primary task 'task_99'"):
        load_spec(spec)
    spec.write_text(spec.read_text().replace("aux_tasks: {choice: [0, 2]}", "aux_tasks: {choice: [-1, 2]}"))
    with pytest.raises(Exception, match=r"auxiliary task counts must be integers >= 0"):
        load_spec(spec)


def test_search_with_auxiliary_tasks_and_sampler(ray_cluster, tmp_path):
    """Real Tune trials with auxiliary heads: their rows reach the store and the leaderboard labels them."""
    from mtlsearch.report.leaderboard import leaderboard
    from mtlsearch.search.launcher import launch
    from mtlsearch.store.results import ResultsStore

    space = "architecture: {choice: [MTL]}\n    aux_tasks: {choice: [3]}\n    task_sampler: {choice: [true]}"
    spec = write_spec(
        tmp_path / "s.yaml", tmp_path / "store", "cotask", num_samples=1, epochs=2, space=space, asha="{enabled: false}"
    )
    spec.write_text(spec.read_text().replace("search:\n", "search:\n  searcher: grid\n"))
    out = io.StringIO()
    name, rows = launch(load_spec(spec), out=out)
    assert [r["config"]["aux_tasks"] for r in rows] == [3]
    assert all(r["status"] == "finished" and np.isfinite(r["dm_val"]) for r in rows)
    assert "MTL +3 aux sampler" in out.getvalue()
    store = ResultsStore(str(tmp_path / "store"))
    task_rows = store.read(name, "task_metrics").to_pylist()
    aux_rows = [r for r in task_rows if r["task"].startswith("aux_")]
    assert aux_rows and all(r["role"] == "auxiliary" for r in aux_rows)
    assert len(leaderboard(store, name)) == 1


def test_a_job_crosses_to_workers_typed_and_its_plain_form_is_unchanged(dataset):
    """``to_config`` is the plain form a job always had (task dicts, ``SharingPlan.to_dict``, ``train.cotask``
    dumped); ``from_config`` and pickling give back the typed job, so a worker applies no default of its own."""
    path, info = dataset
    plan = make_plan("GMTL", info.task_names, info.planted_groups)
    cotask = CoTaskSpec(aux_tasks=2, major=[info.task_names[0]], major_prob=0.9, sampler=True, pick="major")
    job = _job(dataset, "GMTL", cotask=cotask)
    assert job.tasks == list(info.tasks) and job.plan == plan and job.cotask is cotask
    config = job.to_config()
    assert list(config) == [f for f in TrainJob.__dataclass_fields__]
    assert config["tasks"] == [asdict(t) for t in info.tasks] and config["plan"] == plan.to_dict()
    assert config["cotask"] == {
        "aux_tasks": 2,
        "major": [info.task_names[0]],
        "major_prob": 0.9,
        "sampler": True,
        "pick": "major",
    }
    for again in (TrainJob.from_config(config), pickle.loads(pickle.dumps(job))):
        assert again == job and isinstance(again.cotask, CoTaskSpec) and again.to_config() == config
    with pytest.raises(Exception, match="major_prob"):
        TrainJob.from_config({**config, "cotask": {**config["cotask"], "major_prob": 2.0}})
