"""The training core without Ray: learning, checkpoint resume, and DDP batch sharding."""

from dataclasses import asdict, replace

import pytest
import torch

from mtlsearch.data.canonical import read_info
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.models.plan import make_plan
from mtlsearch.train.job import TrainJob
from mtlsearch.train.trainer import MultiTaskTrainer


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = prepare(
        "synthetic",
        SyntheticOptions(num_tasks=4, num_groups=2, num_samples=800, multiclass_tasks=1),
        tmp_path_factory.mktemp("d"),
    )
    return str(path), read_info(path)


def _job(dataset, arch="MTL", epochs=4, **kw):
    path, info = dataset
    return TrainJob(
        dataset_path=path,
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan(arch, info.task_names, info.planted_groups).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [32]},
        epochs=epochs,
        batch_size=32,
        lr=3e-3,
        seed=0,
        **kw,
    )


def test_learns_and_reports_delta_m(dataset):
    job = _job(dataset, baselines={"task_00": {"val": 0.5, "test": 0.5}})
    trainer = MultiTaskTrainer(job)
    first = trainer.run_epoch(0)
    for e in range(1, 4):
        last = trainer.run_epoch(e)
    assert last.train_loss < first.train_loss
    m = trainer.metrics(last)
    assert m["epoch"] == 4 and set(k for k in m if k.startswith("val/")) == {f"val/task_0{i}" for i in range(4)}
    assert m["dm_val"] == pytest.approx(100 * (m["val/task_00"] - 0.5) / 0.5)
    assert all(0.0 <= m[f"best_val/task_0{i}"] <= 1.0 for i in range(4))


def test_resume_from_state_continues_identically(dataset):
    job = _job(dataset, arch="GMTL")
    straight = MultiTaskTrainer(job)
    for e in range(4):
        s = straight.run_epoch(e)
    interrupted = MultiTaskTrainer(job)
    for e in range(2):
        interrupted.run_epoch(e)
    state = interrupted.state_dict(1)
    resumed = MultiTaskTrainer(job)
    resumed.load_state_dict(state)
    assert resumed.start_epoch == 2
    for e in range(2, 4):
        r = resumed.run_epoch(e)
    assert r.train_loss == pytest.approx(s.train_loss, rel=1e-5)
    assert r.val == pytest.approx(s.val)


def test_ddp_shards_cover_exactly_the_one_worker_batches(dataset):
    job = _job(dataset)
    one = MultiTaskTrainer(job)._shard(epoch=3)
    ranks = []
    for r in range(2):
        t = MultiTaskTrainer.__new__(MultiTaskTrainer)
        t.job, t.rank, t.world_size, t.device, t.data = (
            job,
            r,
            2,
            torch.device("cpu"),
            {"train": (torch.zeros(len(one), 1), None)},
        )
        ranks.append(t._shard(epoch=3))
    # global batch k of size B = 2·b: ranks' k-th local batches together are one-worker batch k
    b = 16
    for k in range(len(one) // (2 * b)):
        together = torch.cat([ranks[0][k * b : (k + 1) * b], ranks[1][k * b : (k + 1) * b]])
        assert sorted(together.tolist()) == sorted(one[k * 2 * b : (k + 1) * 2 * b].tolist())


def test_secondary_metrics_from_the_same_pass_and_primary_unchanged(dataset):
    import math

    import numpy as np

    from mtlsearch.metrics.multilabel import multilabel_scores
    from mtlsearch.metrics.scores import auroc
    from mtlsearch.metrics.task_metrics import METRICS
    from mtlsearch.train.trainer import predict

    job = _job(dataset, baselines={"task_00": {"val": 0.5, "test": 0.5}}, thresholds="fixed")  # decisions at p > 0.5
    trainer = MultiTaskTrainer(job)
    stats = trainer.run_epoch(0)
    m = trainer.metrics(stats)
    binary = [t.name for t in trainer.tasks if t.kind == "binary"]
    assert len(binary) == 3
    for split in ("val", "test"):
        extra = {k[len(split) + 7 :]: v for k, v in m.items() if k.startswith(f"{split}_extra/")}
        selected = {k[len("selected_") :]: extra.pop(k) for k in [k for k in extra if k.startswith("selected_")]}
        assert set(extra) == {f"auroc/{t.name}" for t in trainer.tasks} | {"ml_macro_f1", "ml_micro_f1", "ml_subset_acc"}
        assert selected == {k: extra[k] for k in ("ml_macro_f1", "ml_micro_f1", "ml_subset_acc")}  # epoch 1 is the selection
        primary, again = trainer.evaluate_all(split)
        assert primary == trainer.evaluate(split) == getattr(stats, split)
        assert again == pytest.approx(extra, nan_ok=True)
        # recompute by hand from the model's outputs (synthetic labels are complete)
        x, y = trainer.data[split]
        with torch.no_grad():
            out = trainer.model(x)
        preds = {t.name: predict(out[t.name], t).numpy() for t in trainer.tasks}
        for j, t in enumerate(trainer.tasks):
            # the trainer's own path (float64 sigmoid/softmax): AUROC is a rank statistic, so float32 rounding that ties
            # or swaps two near-equal scores moves it by 1/(n₊n₋) ≫ any tolerance
            logits = out[t.name].double()
            probs = torch.sigmoid(logits[:, 0]) if t.kind == "binary" else torch.softmax(logits, dim=1)
            assert extra[f"auroc/{t.name}"] == pytest.approx(auroc(probs.numpy(), y[:, j].numpy(), len(t.classes)), abs=1e-6)
            assert m[f"{split}/{t.name}"] == pytest.approx(METRICS[t.metric](preds[t.name], y[:, j].numpy(), len(t.classes)))
        cols = [j for j, t in enumerate(trainer.tasks) if t.kind == "binary"]
        ml = multilabel_scores(np.stack([preds[binary[i]] for i in range(3)], axis=1), y[:, cols].numpy())
        assert (extra["ml_macro_f1"], extra["ml_micro_f1"], extra["ml_subset_acc"]) == pytest.approx(
            (ml["macro_f1"], ml["micro_f1"], ml["subset_acc"])
        )
        assert extra["ml_macro_f1"] == pytest.approx(np.mean([m[f"{split}/{n}"] for n in binary]))  # binary primary metric is F1
        assert all(0.0 <= v <= 1.0 for v in extra.values() if not math.isnan(v))
    # Δm still uses the primary metric only
    assert m["dm_val"] == pytest.approx(100 * (m["val/task_00"] - 0.5) / 0.5)


def test_icbhi_tasks_report_specificity_and_sensitivity(dataset):
    job = _job(dataset, epochs=1)
    job.tasks = [replace(t, metric="icbhi_score") if t.kind == "multiclass" else t for t in job.tasks]
    trainer = MultiTaskTrainer(job)
    primary, extra = trainer.evaluate_all("test")
    name = next(t.name for t in trainer.tasks if t.kind == "multiclass")
    assert {f"sp/{name}", f"se/{name}"} <= set(extra)
    assert not any(k.startswith(("sp/", "se/")) and not k.endswith(name) for k in extra)
    assert primary[name] == pytest.approx((extra[f"sp/{name}"] + extra[f"se/{name}"]) / 2)


def test_stl_selection_takes_each_task_at_its_own_epoch_multilabel_included(dataset):
    """The trainer's selection for an STL plan: each task's scores and decisions at its own best val epoch."""
    import numpy as np

    from mtlsearch.metrics.multilabel import multilabel_scores

    trainer = MultiTaskTrainer(_job(dataset, arch="STL", epochs=5, torch_threads=1))
    history, decisions = [], []
    for e in range(5):
        stats = trainer.run_epoch(e)
        history.append(stats)
        decisions.append({s: dict(p) for s, p in trainer._ml_predictions.items()})
    m = trainer.metrics(history[-1])
    binary = [t for t in trainer.tasks if t.kind == "binary"]
    for t in trainer.tasks:
        vals = [h.val[t.name] for h in history]
        best = int(np.argmax(vals))  # the earliest best epoch, as the baselines select
        assert m[f"best_epoch/{t.name}"] == best + 1
        assert m[f"best_val/{t.name}"] == vals[best] and m[f"best_test/{t.name}"] == history[best].test[t.name]
    cols = [j for j, t in enumerate(trainer.tasks) if t.kind == "binary"]
    for split in ("val", "test"):
        chosen = np.stack([decisions[m[f"best_epoch/{t.name}"] - 1][split][t.name] for t in binary], axis=1)
        expected = multilabel_scores(chosen, trainer.data[split][1][:, cols].numpy())
        assert {k: m[f"{split}_extra/selected_ml_{k}"] for k in expected} == expected


def test_val_tuned_thresholds_are_chosen_on_val_and_applied_unchanged_to_test(dataset):
    import numpy as np

    from mtlsearch.metrics.task_metrics import METRICS
    from mtlsearch.metrics.thresholds import decide, tune_threshold

    trainer = MultiTaskTrainer(_job(dataset, epochs=2))  # val_tuned is the default
    for e in range(2):
        stats = trainer.run_epoch(e)
    m = trainer.metrics(stats)
    with torch.no_grad():
        trainer.model.eval()
        out = {s: trainer.model(trainer.data[s][0]) for s in ("val", "test")}
    binary = [(j, t) for j, t in enumerate(trainer.tasks) if t.kind == "binary"]
    assert binary
    for j, t in binary:
        probs = {s: torch.sigmoid(out[s][t.name][:, 0].double()).numpy() for s in out}
        labels = {s: trainer.data[s][1][:, j].numpy() for s in out}
        tau = tune_threshold(probs["val"], labels["val"], t.metric)
        assert m[f"val_extra/threshold/{t.name}"] == m[f"test_extra/threshold/{t.name}"] == tau
        for s in ("val", "test"):
            assert m[f"{s}/{t.name}"] == METRICS[t.metric](decide(probs[s], tau), labels[s], 2)
        # no other threshold does better on val
        others = [METRICS[t.metric](decide(probs["val"], c), labels["val"], 2) for c in np.unique(probs["val"])]
        assert m[f"val/{t.name}"] >= max(others)


def test_a_threshold_free_primary_metric_scores_probabilities_and_keeps_f1_decisions(dataset):
    """evaluation.metric: auroc / average_precision: every primary task's primary score (what Δm and selection
    use) is that metric of its probabilities; binary decisions for the multi-label F1 still take a val-tuned τ."""
    from mtlsearch.metrics.scores import auroc, average_precision
    from mtlsearch.metrics.thresholds import tune_threshold

    path, info = dataset
    for name, fn in (("auroc", auroc), ("average_precision", average_precision)):
        scored = info.scored_by(name)
        assert {t.metric for t in scored.primary_tasks()} == {name} and scored.fingerprint == info.fingerprint
        job = _job((path, scored), epochs=1)
        trainer = MultiTaskTrainer(job)
        m = trainer.metrics(trainer.run_epoch(0))
        with torch.no_grad():
            trainer.model.eval()
            out = {s: trainer.model(trainer.data[s][0]) for s in ("val", "test")}
        for j, t in enumerate(trainer.tasks):
            logits = out["val"][t.name].double()
            probs = torch.sigmoid(logits[:, 0]) if t.kind == "binary" else torch.softmax(logits, dim=1)
            labels = trainer.data["val"][1][:, j]
            assert m[f"val/{t.name}"] == pytest.approx(fn(probs.numpy(), labels.numpy(), len(t.classes)), abs=1e-12)
            if t.kind == "binary":
                assert m[f"val_extra/threshold/{t.name}"] == tune_threshold(probs.numpy(), labels.numpy(), "f1")
    assert info.scored_by("task") is info
