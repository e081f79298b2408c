"""Tri-MTL (arXiv:2505.06271): metadata tasks as a search dimension, soft/hard sharing in the spec, the
leaderboard's metadata accuracy, and class-weighted cross-entropy. No Ray."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mtlsearch.data.canonical import DatasetInfo, TaskInfo
from mtlsearch.data.icbhi_tasks import all_tasks
from mtlsearch.errors import SpecError
from mtlsearch.search.context import SearchContext
from mtlsearch.search.space import DefineByRun, enumerate_candidates
from mtlsearch.spec import load_spec
from mtlsearch.train.losses import TaskLoss, inverse_frequency_weights

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MTLSEARCH_DATA", REPO.parent / "shared" / "data"))
METADATA = ["age_group", "sex", "chest_location", "device"]


def icbhi_spec(tmp_path: Path, space: str, model: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"""experiment: tri
dataset:
  loader: icbhi
  options: {{path: {tmp_path}, audio: none, tasks: [lung_sound, disease, age_group, sex, chest_location, device]}}
model:
  encoder: {{type: mlp, hidden_dims: [8]}}
{model}
search:
  searcher: grid
  space:
{space}
""")
    return path


def error(path: Path) -> str:
    with pytest.raises(SpecError) as e:
        load_spec(path)
    return str(e.value)


# ---------------------------------------------------------------- spec


def test_metadata_and_sharing_dimensions(tmp_path):
    loaded = load_spec(
        icbhi_spec(
            tmp_path,
            """    metadata: {choice: [none, age_group, [age_group, sex], "sex+device"]}
    sharing: {choice: [hard, soft]}
    soft_lambda: {choice: [0.1, 1.0]}
    soft_layers: {choice: [all, -1, [0]]}""",
        )
    )
    space = loaded.spec.search.space
    assert space.metadata.choice == ["none", "age_group", "age_group+sex", "sex+device"]
    assert space.soft_layers.choice == ["all", "-1", "0"]
    assert (loaded.spec.model.sharing, loaded.spec.model.soft_lambda, loaded.spec.model.soft_layers) == ("hard", 0.1, "all")
    # grid: 4 metadata × (hard + soft × 2 λ × 3 layer sets)
    points = enumerate_candidates(space)
    assert len(points) == 4 * (1 + 2 * 3)
    assert {"metadata": "none", "sharing": "hard"} in points
    assert {"metadata": "age_group+sex", "sharing": "soft", "soft_lambda": 1.0, "soft_layers": "-1"} in points


def test_metadata_names_are_checked_against_the_auxiliary_tasks(tmp_path):
    path = icbhi_spec(tmp_path, "    metadata: {choice: [none, stethoscope]}")
    msg = error(path)
    assert "field 'search.space.metadata.choice.1': unknown metadata task 'stethoscope'" in msg
    assert "['age_group', 'chest_location', 'device', 'sex']" in msg
    line = path.read_text().splitlines().index("    metadata: {choice: [none, stethoscope]}") + 1
    assert f"s.yaml:{line}:" in msg
    msg = error(icbhi_spec(tmp_path, "    metadata: {choice: [sex, [age_group, disease]]}"))
    assert "'disease' is a primary task" in msg and "metadata.choice.1" in msg
    for bad, what in (
        ("[none, [none, sex]]", "expected 'none', a task name"),
        ("[sex, [sex]]", "appears twice"),
        ("[[sex, sex]]", "named twice"),
        ("[3]", "expected 'none'"),
    ):
        assert what in error(icbhi_spec(tmp_path, f"    metadata: {{choice: {bad}}}"))


def test_sharing_values_and_soft_dimensions_need_soft(tmp_path):
    assert "unknown sharing 'medium'" in error(icbhi_spec(tmp_path, "    sharing: {choice: [hard, medium]}"))
    msg = error(icbhi_spec(tmp_path, "    sharing: {choice: [hard]}\n    soft_lambda: {choice: [0.1]}"))
    assert "soft_lambda is sampled only for soft-sharing trials" in msg
    # with model.sharing: soft, soft_lambda alone is fine
    load_spec(icbhi_spec(tmp_path, "    soft_lambda: {choice: [0.1, 0.5]}", model="  sharing: soft"))
    assert "soft_layers" in error(icbhi_spec(tmp_path, "    sharing: {choice: [soft]}\n    soft_layers: {choice: [first]}"))
    assert "non-negative" in error(icbhi_spec(tmp_path, "    sharing: {choice: [soft]}\n    soft_lambda: {choice: [-1]}"))


def test_define_by_run_samples_soft_dimensions_only_for_soft_trials(tmp_path):
    optuna = pytest.importorskip("optuna")
    space = load_spec(
        icbhi_spec(
            tmp_path,
            """    metadata: {choice: [none, sex, [age_group, device]]}
    sharing: {choice: [hard, soft]}
    soft_lambda: {choice: [0.01, 0.1]}""",
        )
    ).spec.search.space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    run = DefineByRun(space)
    seen = set()
    for _ in range(30):
        trial = study.ask()
        run(trial)
        p = trial.params
        assert p["metadata"] in ("none", "sex", "age_group+device")
        assert ("soft_lambda" in p) == (p["sharing"] == "soft")
        seen.add(p["sharing"])
        study.tell(trial, 0.0)
    assert seen == {"hard", "soft"}


# ---------------------------------------------------------------- trials: which tasks, which plan


def context(tmp_path, space: str, model: str = "") -> SearchContext:
    spec = load_spec(icbhi_spec(tmp_path, space, model)).spec
    info = DatasetInfo("icbhi", tuple(t for t in all_tasks() if t.name != "diagnosis"), "x", 3, "fp")
    return SearchContext("tri", spec.model_dump_json(), "unused", info.to_json(), {}, "unused")


def test_a_trial_trains_the_primary_tasks_and_its_metadata_tasks(tmp_path):
    ctx = context(tmp_path, "    metadata: {choice: [none, sex, [age_group, device]]}\n    sharing: {choice: [hard, soft]}")
    assert ctx.trained_tasks({"metadata": "none"}) == ["lung_sound", "disease", "chest_location"]  # not offered: always trained
    d = ctx.describe({"architecture": "MTL", "metadata": "age_group+device", "sharing": "soft"})
    plan = d["plan"]
    assert plan.tasks == ["lung_sound", "disease", "age_group", "chest_location", "device"]
    assert plan.sharing == "soft" and plan.soft_lambda == 0.1 and len(plan.encoder_groups) == 5  # the paper's λ
    assert d["metadata"] == ["age_group", "device"] and d["sharing"] == "soft"
    hard = ctx.describe({"architecture": "MTL", "metadata": "sex", "sharing": "hard"})["plan"]
    assert hard.encoder_groups == (("lung_sound", "disease", "sex", "chest_location"),) and hard.sharing == "hard"
    job = ctx.job_for({"metadata": "sex", "sharing": "soft"})
    assert job.plan.soft and job.plan.tasks == ["lung_sound", "disease", "sex", "chest_location"]


def test_without_the_dimension_every_task_is_trained_with_the_fixed_sharing(tmp_path):
    ctx = context(tmp_path, "    lr: {choice: [0.001]}", model="  sharing: soft\n  soft_lambda: 0.5\n  soft_layers: [0]")
    plan = ctx.describe({})["plan"]
    assert plan.tasks == ["lung_sound", "disease", "age_group", "sex", "chest_location", "device"]
    assert (plan.sharing, plan.soft_lambda, plan.soft_layers) == ("soft", 0.5, "0")


# ---------------------------------------------------------------- the leaderboard


def test_leaderboard_reports_metadata_accuracy(tmp_path):
    from mtlsearch.report.leaderboard import candidate_label, format_leaderboard, leaderboard
    from mtlsearch.store.results import ResultsStore

    store = ResultsStore(str(tmp_path))
    store.write_experiment("exp", {"baselines": {}, "primary_tasks": ["lung_sound"]})

    def epoch(trial, config, dm, scores):
        rows = [
            {"task": t, "role": role, "metric": metric, "split": s, "value": v}
            for t, (role, metric, v) in scores.items()
            for s in ("val", "test")
        ]
        store.write_trial_epoch(
            "exp",
            trial,
            1,
            {
                "architecture": "MTL",
                "grouping": "",
                "groups": "[]",
                "config": json.dumps(config),
                "dm_val": dm,
                "dm_test": dm,
                "cost_worker_s": 1.0,
            },
            rows,
        )

    lung = ("primary", "icbhi_score", 0.5)
    epoch("t1", {"metadata": "sex", "sharing": "soft"}, 2.0, {"lung_sound": lung, "sex": ("auxiliary", "accuracy", 0.53)})
    epoch("t2", {"metadata": "none", "sharing": "hard"}, 1.0, {"lung_sound": lung})
    epoch(
        "t3",
        {"metadata": "age_group+device", "sharing": "hard"},
        0.5,
        {"lung_sound": lung, "age_group": ("auxiliary", "accuracy", 0.9), "device": ("auxiliary", "accuracy", 0.75)},
    )
    rows = leaderboard(store, "exp")
    assert [r["trial_id"] for r in rows] == ["t1", "t2", "t3"]
    assert rows[0]["metadata"] == {"sex": {"val": 0.53, "test": 0.53}} and rows[1]["metadata"] == {}
    assert list(rows[2]["metadata"]) == ["age_group", "device"]
    assert [candidate_label(r) for r in rows] == ["MTL soft +sex", "MTL", "MTL +age_group +device"]
    lines = format_leaderboard(rows, store.read_experiment("exp")).splitlines()
    assert "meta acc test" in lines[0]
    assert "sex 0.5300" in lines[2] and " - " in lines[3] and "age_group 0.9000, device 0.7500" in lines[4]
    json.dumps(rows)


def test_leaderboard_without_the_dimension_shows_auxiliary_accuracy_tasks(tmp_path):
    from mtlsearch.report.leaderboard import leaderboard
    from mtlsearch.store.results import ResultsStore

    store = ResultsStore(str(tmp_path))
    store.write_experiment("exp", {"baselines": {}})
    rows = [
        {"task": "a", "role": "primary", "metric": "f1", "split": "test", "value": 0.5},
        {"task": "sex", "role": "auxiliary", "metric": "accuracy", "split": "test", "value": 0.6},
        {"task": "aux_pair", "role": "auxiliary", "metric": "f1", "split": "test", "value": 0.1},
    ]  # CO-TASK style: not metadata
    store.write_trial_epoch(
        "exp",
        "t1",
        1,
        {"architecture": "MTL", "grouping": "", "groups": "[]", "config": "{}", "dm_val": 1.0, "dm_test": 1.0},
        rows,
    )
    [row] = leaderboard(store, "exp")
    assert row["metadata"] == {"sex": {"test": 0.6}}


# ---------------------------------------------------------------- class-weighted cross-entropy (Tri-MTL §III-A2)


def test_inverse_frequency_weights_on_a_hand_made_count_table():
    tasks = [
        TaskInfo("bin", "binary", ("neg", "pos")),
        TaskInfo("multi", "multiclass", ("x", "y", "z", "never"), metric="macro_f1"),
    ]
    # bin: 6 negatives, 2 positives (N = 8); multi: x 4, y 2, z 1, never 0, one missing (N = 7, 3 classes present)
    y = np.array([[0, 0], [0, 0], [0, 0], [0, 0], [0, 1], [0, 1], [1, 2], [1, -1]])
    w = inverse_frequency_weights(y, tasks)
    assert w["bin"] == pytest.approx([8 / (2 * 6), 8 / (2 * 2)])  # [2/3, 2]
    assert w["multi"] == pytest.approx([7 / (3 * 4), 7 / (3 * 2), 7 / 3, 0.0])
    for name, j in (("bin", 0), ("multi", 1)):  # Σ_c w_c n_c = N: mean weight 1 over the labelled examples
        col = y[:, j][y[:, j] >= 0]
        assert sum(w[name][c] for c in col) == pytest.approx(len(col))
    assert inverse_frequency_weights(torch.from_numpy(y), tasks, ["multi"]).keys() == {"multi"}
    assert inverse_frequency_weights(y, tasks, False) == {}
    assert inverse_frequency_weights(y, tasks, ["multi", "not_in_this_trial"]).keys() == {"multi"}


@pytest.mark.parametrize("complete", [True, False])
def test_weighted_losses_are_the_weighted_means(complete):
    tasks = [
        TaskInfo("a", "binary", ("0", "1")),
        TaskInfo("m", "multiclass", ("x", "y", "z"), metric="macro_f1"),
        TaskInfo("b", "binary", ("0", "1")),
    ]
    g = torch.Generator().manual_seed(0)
    logits = {"a": torch.randn(6, 1, generator=g), "m": torch.randn(6, 3, generator=g), "b": torch.randn(6, 1, generator=g)}
    y = torch.tensor([[1, 2, 0], [0, 0, 1], [1, 1, 1], [0, 2, 0], [1, 0, 0], [0, 1, 1]])
    if not complete:
        y[0, 0] = y[1, 1] = -1
    weights = {"a": [0.5, 2.0], "m": [1.0, 3.0, 0.25]}  # b unweighted
    loss = TaskLoss(tasks, complete=complete, class_weights=weights)
    got = loss(logits, loss.targets(y))
    expected = []
    for j, t in enumerate(tasks):
        keep = y[:, j] >= 0
        yt = y[keep, j]
        w = torch.tensor(weights.get(t.name, [1.0, 1.0]))[yt]
        if t.kind == "binary":
            per = F.binary_cross_entropy_with_logits(logits[t.name][keep, 0], yt.float(), reduction="none")
        else:
            per = F.cross_entropy(logits[t.name][keep], yt, reduction="none")
        expected.append(float((w * per).sum() / keep.sum()))  # divided by the labelled examples, not by Σ w
    assert got.tolist() == pytest.approx(expected, rel=1e-6)
    unweighted = TaskLoss(tasks, complete=complete)(logits, loss.targets(y))
    assert got[2].item() == pytest.approx(unweighted[2].item())  # b unchanged
    # all weights 1: the unweighted loss
    ones = TaskLoss(tasks, complete=complete, class_weights={"a": [1, 1], "m": [1, 1, 1], "b": [1, 1]})(logits, loss.targets(y))
    assert torch.allclose(ones, unweighted, atol=1e-6)


def test_class_weights_are_checked():
    tasks = [TaskInfo("m", "multiclass", ("x", "y", "z"), metric="macro_f1")]
    with pytest.raises(ValueError, match="3 classes but 2 class weights"):
        TaskLoss(tasks, complete=True, class_weights={"m": [1.0, 2.0]})
    with pytest.raises(ValueError, match="unknown task"):
        TaskLoss(tasks, complete=True, class_weights={"q": [1.0]})


# ---------------------------------------------------------------- one soft Tri-MTL run on the real annotations (no Ray)

REAL = DATA / "icbhi"


@pytest.mark.skipif(not (REAL / "meta" / "official_split.txt").is_file(), reason=f"real ICBHI annotations not under {REAL}")
def test_soft_trimtl_trains_on_the_real_annotations(tmp_path):
    """MTL soft + sex on ICBHI cycles read from the real annotations (x = [start, end, duration], no audio)."""
    from mtlsearch.data.icbhi import IcbhiOptions
    from mtlsearch.data.registry import prepare
    from mtlsearch.train.trainer import MultiTaskTrainer

    opts = IcbhiOptions(
        path=str(REAL), audio="none", tasks=["lung_sound", "disease", "age_group", "sex", "chest_location", "device"]
    )
    table = prepare("icbhi", opts, tmp_path / "cache")
    spec_path = icbhi_spec(
        tmp_path, "    metadata: {choice: [none, age_group, sex, chest_location, device]}\n    sharing: {choice: [hard, soft]}"
    )
    spec = load_spec(spec_path).spec
    from mtlsearch.data.canonical import read_info

    info = read_info(table)
    ctx = SearchContext("tri", spec.model_dump_json(), str(table), info.to_json(), {}, "unused")
    job = ctx.job_for({"architecture": "MTL", "metadata": "sex", "sharing": "soft"})
    job.epochs, job.batch_size, job.lr = 1, 256, 1e-2
    trainer = MultiTaskTrainer(job)
    assert [t.name for t in trainer.tasks] == ["lung_sound", "disease", "sex"]
    assert len(trainer.model.encoders) == 3 and trainer.model.regularizer().item() == 0.0  # same start
    stats = trainer.run_epoch(0)
    assert set(stats.test) == {"lung_sound", "disease", "sex"}
    assert 0.0 <= stats.test["sex"] <= 1.0


# ---------------------------------------------------------------- Open-I: the optional projection metadata task


def test_openi_projection_metadata_task(tmp_path):
    import pyarrow.parquet as pq
    from test_openi import fixture_reports, write_reports_csv

    from mtlsearch.data.openi import OpenICsvOptions
    from mtlsearch.data.openi_labels import PROJECTION_CLASSES
    from mtlsearch.data.registry import get_loader, prepare
    from mtlsearch.errors import DataError

    csv_path = write_reports_csv(tmp_path / "openi" / "indiana_reports.csv", fixture_reports())
    loader = get_loader("openi_csv")
    plain = OpenICsvOptions(path=str(csv_path), top_k=4, vocab_size=50)
    with_meta = OpenICsvOptions(path=str(csv_path), top_k=4, vocab_size=50, metadata_tasks=["projection"])
    assert [t.name for t in loader.tasks(plain)] == ["Cardiomegaly", "Opacity", "Thoracic_Vertebrae", "Nodule"]
    proj = loader.tasks(with_meta)[-1]
    assert (proj.name, proj.kind, proj.classes, proj.role, proj.metric) == (
        "projection",
        "multiclass",
        PROJECTION_CLASSES,
        "auxiliary",
        "accuracy",
    )
    assert loader.fingerprint(plain) != loader.fingerprint(with_meta)
    table = pq.read_table(prepare("openi_csv", with_meta, tmp_path / "cache"))
    ids, views, labels = (
        table.column("id").to_pylist(),
        table.column("projections").to_pylist(),
        table.column("projection").to_pylist(),
    )
    # uid % 3 == 0: a frontal view only; else frontal and lateral
    assert labels[ids.index("12")] == 0 and views[ids.index("12")] == "Frontal"
    assert labels[ids.index("11")] == 2 and views[ids.index("11")] == "Frontal;Lateral"
    assert all(lab == PROJECTION_CLASSES.index(v) for lab, v in zip(labels, views))
    plain_table = pq.read_table(prepare("openi_csv", plain, tmp_path / "cache"))
    assert plain_table.column("split").to_pylist() == table.column("split").to_pylist()  # the splits do not move
    (csv_path.parent / "indiana_projections.csv").unlink()
    with pytest.raises(DataError, match="needs the projections CSV"):
        loader.build(OpenICsvOptions(path=str(csv_path), top_k=4, vocab_size=50, metadata_tasks=["projection"]), "fp")
