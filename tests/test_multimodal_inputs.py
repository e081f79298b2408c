"""Multimodal inputs: tables with several input columns, the fused encoder (concat / attention) and the
``timeseries`` encoder, every architecture training in-process on packed inputs, the ``model.inputs``
spec checks, and the two ready multimodal specs on the shared real data (no Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO, SHARED_DATA
from torch import nn

from mtlsearch.data.canonical import (
    METADATA_KEY,
    DatasetInfo,
    InputInfo,
    TaskInfo,
    build_table,
    read_info,
    read_input_splits,
    read_splits,
    write_table,
)
from mtlsearch.errors import SpecError
from mtlsearch.models.encoders import build_encoder, encoder_plugin
from mtlsearch.models.encoders.multimodal import TOKEN_EXACT, FusionOptions, multimodal_config, pack_rows
from mtlsearch.models.fusion import FusedEncoder
from mtlsearch.models.multitask import MultiTaskModel
from mtlsearch.models.plan import make_plan
from mtlsearch.models.soft_sharing import encoder_layers, selected_parameters
from mtlsearch.plugins import trusted_options
from mtlsearch.spec import load_spec
from mtlsearch.spec.encoders import EncoderSpec
from mtlsearch.train.job import TrainJob
from mtlsearch.train.trainer import MultiTaskTrainer

TASKS = ("a", "b", "c", "d")
INPUTS = (
    InputInfo("signal", "timeseries", (12, 2), "signal"),
    InputInfo("patient", "tabular", (4,), "patient", attributes=("c",)),
    InputInfo("mel", "spectrogram", (6, 5), "mel"),
)


def encoder(options: dict):
    from pydantic import TypeAdapter

    return TypeAdapter(EncoderSpec).validate_python(options)


def multimodal_table(path: Path, n: int = 48, seed: int = 0) -> DatasetInfo:
    """Four binary tasks over three inputs; a and b follow the signal's mean, c and d the patient row."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, 12, 2)).astype(np.float32)
    patient = rng.normal(size=(n, 4)).astype(np.float32)
    mel = rng.normal(size=(n, 6, 5)).astype(np.float32)
    labels = {
        "a": (signal.mean(axis=(1, 2)) > 0).astype(np.int64),
        "b": (signal[:, :, 0].mean(axis=1) > 0).astype(np.int64),
        "c": (patient[:, 0] > 0).astype(np.int64),
        "d": (patient[:, 1] + mel.mean(axis=(1, 2)) > 0).astype(np.int64),
    }
    info = DatasetInfo(
        name="mm",
        tasks=tuple(TaskInfo(t, "binary", ("no", "yes")) for t in TASKS),
        input_column="signal",
        input_dim=24,
        fingerprint=f"mm{seed}",
        inputs=INPUTS,
    )
    splits = ["train"] * (n // 2) + ["val"] * (n // 4) + ["test"] * (n - n // 2 - n // 4)
    table = build_table(info, [f"r{i}" for i in range(n)], splits, {"signal": signal, "patient": patient, "mel": mel}, labels)
    write_table(table, path)
    return info


# ---------------------------------------------------------------- the canonical table


def test_table_round_trip_with_several_inputs(tmp_path):
    path = tmp_path / "mm.parquet"
    info = multimodal_table(path)
    back = read_info(path)
    assert back.inputs == INPUTS and back.input_names == ["signal", "patient", "mel"]
    assert back.input("patient").attributes == ("c",)
    table = pq.read_table(path)
    assert table.schema.field("mel").type.list_size == 30 and table.schema.field("signal").type.list_size == 24
    arrays = read_input_splits(path, ["mel", "patient"])
    raw = np.asarray(table.column("mel").combine_chunks().values).reshape(-1, 30)
    np.testing.assert_array_equal(arrays["mel"]["train"], raw[:24])
    assert arrays["patient"]["val"].shape == (12, 4)
    # single-input readers still read the main input (input_column)
    assert read_splits(path, list(info.task_names))["train"].x.shape == (24, 24)
    with pytest.raises(KeyError, match=r"no input 'audio'; its inputs are \['signal', 'patient', 'mel'\]"):
        read_input_splits(path, ["audio"])


def test_build_table_checks_the_input_arrays(tmp_path):
    info = DatasetInfo("mm", (TaskInfo("a", "binary", ("n", "y")),), "signal", 24, "fp", inputs=INPUTS)
    arrays = {"signal": np.zeros((2, 12, 2)), "patient": np.zeros((2, 4)), "mel": np.zeros((2, 6, 5))}
    with pytest.raises(ValueError, match="pass features as a mapping"):
        build_table(info, ["0", "1"], ["train"] * 2, np.zeros((2, 24)), {"a": np.zeros(2)})
    with pytest.raises(ValueError, match=r"numeric inputs are \['signal', 'patient', 'mel'\]"):
        build_table(info, ["0", "1"], ["train"] * 2, {"signal": arrays["signal"]}, {"a": np.zeros(2)})
    with pytest.raises(ValueError, match=r"input 'mel' has shape \[6, 5\] per example"):
        build_table(info, ["0", "1"], ["train"] * 2, {**arrays, "mel": np.zeros((2, 29))}, {"a": np.zeros(2)})
    with pytest.raises(ValueError, match="input_column 'x'"):
        DatasetInfo("mm", info.tasks, "x", 24, "fp", inputs=INPUTS)
    with pytest.raises(ValueError, match="spectrogram's shape is \\[frames, mel_bins\\]"):
        InputInfo("mel", "spectrogram", (30,), "mel")


def test_a_table_written_before_inputs_still_reads(tmp_path):
    """Old metadata has no 'inputs': one input derived from input_column/input_dim/feature_shape (+ its text)."""
    info = DatasetInfo(
        "old", (TaskInfo("a", "binary", ("n", "y")),), "x", 12, "fp", extra={"feature_shape": [3, 4], "text_column": "text"}
    )
    import pyarrow as pa

    table = build_table(
        info,
        ["0", "1"],
        ["train", "test"],
        np.arange(24.0).reshape(2, 12),
        {"a": np.array([0, 1])},
        extra_columns={"text": pa.array(["one", "two"])},
    )
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    del meta["inputs"]  # what a table written before this change holds
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()}), tmp_path / "old.parquet")
    back = read_info(tmp_path / "old.parquet")
    assert back.inputs == (InputInfo("x", "spectrogram", (3, 4), "x"), InputInfo("text", "text", (), "text"))
    flat = DatasetInfo("flat", info.tasks, "x", 12, "fp")
    assert flat.inputs == (InputInfo("x", "tabular", (12,), "x"),)
    np.testing.assert_array_equal(read_input_splits(tmp_path / "old.parquet", ["x"])["x"]["test"], [np.arange(12.0, 24.0)])


# ---------------------------------------------------------------- fused encoder and timeseries encoder


class TokenProbe(nn.Module):
    """Records the token ids it is given; output: their sum (one feature)."""

    out_dim = 1

    def forward(self, x):
        assert x.dtype == torch.long
        self.seen = x
        return x.sum(dim=1, keepdim=True).float()


def test_token_ids_are_exact_in_the_packed_rows():
    ids = np.array([[3, 101, 30521, TOKEN_EXACT - 1], [2, 7, 0, 0]], dtype=np.int64)
    tab = np.array([[0.5, -1.0], [2.0, 3.0]], dtype=np.float32)
    packed = pack_rows([tab, ids])
    assert packed.dtype == np.float32 and packed.shape == (2, 6)
    probe = TokenProbe()
    linear = nn.Linear(2, 3)
    linear.out_dim = 3
    fused = FusedEncoder([("tab", linear, 0, 2, False), ("tokens", probe, 2, 4, True)], "concat", dim=5)
    out = fused(torch.from_numpy(packed))
    assert out.shape == (2, 5) and fused.out_dim == 5
    assert torch.equal(probe.seen, torch.from_numpy(ids))
    with pytest.raises(ValueError, match="exact in float32"):
        pack_rows([np.array([[TOKEN_EXACT]])])


@pytest.mark.parametrize("fusion", ["concat", "linear", "attention"])
def test_fused_encoder_shapes_and_layers(tmp_path, fusion):
    path = tmp_path / "mm.parquet"
    info = multimodal_table(path)
    inputs = {
        "signal": encoder({"type": "timeseries", "channels": [4, 6]}),
        "patient": encoder({"type": "mlp", "hidden_dims": [8]}),
        "mel": encoder({"type": "cnn", "channels": [3]}),
    }
    cfg = multimodal_config(inputs, FusionOptions(type=fusion, dim=7), info.inputs, ["a", "b"])
    assert [(s["name"], s["start"], s["width"]) for s in cfg["layout"]] == [
        ("signal", 0, 24),
        ("patient", 24, 4),
        ("mel", 28, 30),
    ]
    plugin = encoder_plugin(cfg)
    rows = plugin.read_inputs(trusted_options(plugin, cfg), str(path), {})
    assert rows["train"].shape == (24, 58) and rows["test"].shape == (12, 58)
    patient = read_input_splits(path, ["patient"])["patient"]["test"]
    np.testing.assert_array_equal(rows["test"][:, 24:28], patient)
    enc = build_encoder(cfg, 58)
    assert isinstance(enc, FusedEncoder) and enc.out_dim == 7 and enc.eval_batch == 256  # the cnn's
    assert enc(torch.from_numpy(rows["train"])).shape == (24, 7)
    layers = encoder_layers(enc)
    n_fusion = 1 if fusion != "attention" else 4  # the projection / 3 projections and the query
    assert len(layers) == 2 + 1 + 1 + n_fusion
    assert layers[0][0].startswith("parts.signal.") and layers[2] == ["parts.patient.net.0.weight", "parts.patient.net.0.bias"]
    assert selected_parameters(enc, "-1") == (["project.weight", "project.bias"] if fusion != "attention" else ["query"])
    if fusion == "linear":  # the concat projection, without its ReLU: negative outputs stay
        x = torch.from_numpy(rows["train"])
        feats = torch.cat([enc.parts[n](part) for n, part in enc.split(x).items()], dim=1)
        out = enc(x)
        torch.testing.assert_close(out, enc.project(feats))
        assert (out < 0).any()
    # an input that gives away a trained task is refused
    with pytest.raises(ValueError, match=r"input 'patient' gives away the tasks \['c'\]"):
        multimodal_config(inputs, FusionOptions(), info.inputs, ["a", "c"])


def test_timeseries_encoder():
    enc = build_encoder({"type": "timeseries", "channels": [4, 8], "kernel_size": 3}, 40, (20, 2))
    x = torch.randn(5, 40)
    assert enc(x).shape == (5, 8) and enc.out_dim == 8
    # the channels of a step are adjacent in the flat row: step t, channel c at t * channels + c
    assert torch.equal(x.view(5, 20, 2)[:, 3, 1], x[:, 3 * 2 + 1])
    assert len(encoder_layers(enc)) == 2  # one per conv block, for soft sharing
    one = build_encoder({"type": "timeseries"}, 16, None)  # flat features: one channel of 16 steps
    assert one.input_shape == (16, 1) and one(torch.randn(2, 16)).shape == (2, 32)
    with pytest.raises(ValueError, match=r"got shape \[3, 4, 2\] for rows of size 24"):
        build_encoder({"type": "timeseries"}, 24, (3, 4, 2))


# ---------------------------------------------------------------- every architecture, in-process


def _job(path: Path, info: DatasetInfo, plan, fusion: str = "concat", epochs: int = 2) -> TrainJob:
    inputs = {
        "signal": encoder({"type": "timeseries", "channels": [4]}),
        "patient": encoder({"type": "mlp", "hidden_dims": [8]}),
        "mel": encoder({"type": "cnn", "channels": [3]}),
    }
    cfg = multimodal_config(inputs, FusionOptions(type=fusion, dim=8), info.inputs, list(plan.tasks))
    return TrainJob(
        dataset_path=str(path),
        tasks=list(info.tasks),
        plan=plan,
        encoder=cfg,
        epochs=epochs,
        batch_size=8,
        lr=0.01,
        torch_threads=1,
    )


@pytest.mark.parametrize(
    "arch, sharing, fusion",
    [
        ("STL", "hard", "concat"),
        ("MTL", "hard", "attention"),
        ("GMHL", "hard", "concat"),
        ("GMTL", "hard", "attention"),
        ("MTL", "soft", "concat"),
        ("GMTL", "soft", "attention"),
    ],
)
def test_every_architecture_trains_on_multimodal_inputs(tmp_path, arch, sharing, fusion):
    path = tmp_path / "mm.parquet"
    info = multimodal_table(path)
    tasks = ["a", "b", "d"]  # c: the patient input gives it away
    plan = make_plan(arch, tasks, (("a", "b"), ("d",)), sharing=sharing, soft_lambda=0.5, soft_layers="all")
    trainer = MultiTaskTrainer(_job(path, info, plan, fusion))
    assert all(isinstance(e, FusedEncoder) for e in trainer.model.encoders)
    assert len(trainer.model.encoders) == len(plan.encoder_groups)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    for epoch in range(2):
        stats = trainer.run_epoch(epoch)
        assert np.isfinite(stats.train_loss)
        assert set(stats.val) == set(tasks) and all(0.0 <= v <= 1.0 for v in stats.val.values())
    assert any(not torch.equal(b, p) for b, p in zip(before, trainer.model.parameters()))
    if sharing == "soft":  # the encoders moved apart from their shared start: the penalty is positive
        assert float(trainer.model.regularizer().detach()) > 0
        assert len(trainer.model._soft_names[0]) == len(list(trainer.model.encoders[0].parameters()))


def test_stl_multimodal_encoders_do_not_depend_on_the_other_tasks(tmp_path):
    path = tmp_path / "mm.parquet"
    info = multimodal_table(path)
    models = []
    for tasks in (["a", "b"], ["a", "d"]):
        job = _job(path, info, make_plan("STL", tasks))
        models.append(MultiTaskModel(job.plan, list(info.tasks), job.encoder, 58, seed=3))
    first, second = (m.encoders[0].state_dict() for m in models)
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_soft_layers_index_the_union_of_the_fused_layers(tmp_path):
    path = tmp_path / "mm.parquet"
    info = multimodal_table(path)
    plan = make_plan("MTL", ["a", "b"], sharing="soft", soft_layers="0,-1")
    model = MultiTaskModel(plan, list(info.tasks), _job(path, info, plan).encoder, 58, seed=0)
    names = model._soft_names[0]
    assert names[0].startswith("encoders.0.parts.signal.net.0") and names[-2:] == [
        "encoders.0.project.weight",
        "encoders.0.project.bias",
    ]
    assert float(model.regularizer().detach()) == 0.0  # soft encoders start equal


# ---------------------------------------------------------------- the spec


def icbhi_spec(tmp_path: Path, tasks: str, inputs: str, extra: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"""experiment: mm
dataset:
  loader: icbhi
  options: {{path: {SHARED_DATA / "icbhi"}, audio: none, tasks: {tasks}, clinical: [age, sex, bmi]}}
model:
  inputs:
{inputs}
search:
  searcher: grid
  space:
    lr: {{choice: [0.001]}}
{extra}""")
    return path


needs_icbhi = pytest.mark.skipif(
    not (SHARED_DATA / "icbhi" / "meta").is_dir(),
    reason=f"shared ICBHI data not found at {SHARED_DATA / 'icbhi'} (set MTLSEARCH_DATA)",
)


def spec_error(path: Path) -> str:
    with pytest.raises(SpecError) as e:
        load_spec(path)
    return str(e.value)


@needs_icbhi
def test_spec_checks_the_inputs(tmp_path):
    ok = load_spec(icbhi_spec(tmp_path, "[lung_sound, disease]", "    x: {type: mlp}\n    clinical: {type: mlp}"))
    assert list(ok.spec.model.inputs) == ["x", "clinical"] and ok.spec.model.fusion.type == "concat"
    msg = spec_error(icbhi_spec(tmp_path, "[lung_sound]", "    x: {type: mlp}\n    patient: {type: mlp}"))
    assert "s.yaml:8: field 'model.inputs.patient': unknown input 'patient'; the dataset's inputs are ['x', 'clinical']" in msg
    msg = spec_error(icbhi_spec(tmp_path, "[lung_sound]", "    x: {type: cnn}"))  # audio: none: x is 3 numbers
    assert "field 'model.inputs.x': encoder 'cnn' reads spectrogram inputs; input 'x' is tabular of shape [3]" in msg
    msg = spec_error(icbhi_spec(tmp_path, "[lung_sound]", "    clinical: {type: text}"))
    assert "encoder 'text' reads text inputs" in msg


@needs_icbhi
def test_an_attribute_cannot_be_both_an_input_and_a_metadata_task(tmp_path):
    msg = spec_error(icbhi_spec(tmp_path, "[lung_sound, sex, device]", "    x: {type: mlp}\n    clinical: {type: mlp}"))
    assert "s.yaml:8: field 'model.inputs.clinical': input 'clinical' carries the attributes the task(s) 'sex' (auxiliary)" in msg
    assert "cannot be both an input and a (metadata) task in one trial" in msg
    # device is not among the clinical fields [age, sex, bmi]: only sex clashes
    assert "'device'" not in msg


def test_spec_schema_rules_for_inputs(tmp_path):
    from mtlsearch.spec import Spec

    base = {
        "experiment": "mm",
        "dataset": {"loader": "synthetic", "options": {}},
        "search": {"space": {"lr": {"choice": [0.001]}}},
    }
    with pytest.raises(ValueError, match="search.space.encoder chooses among single-input encoders"):
        Spec.model_validate(
            {
                **base,
                "model": {"inputs": {"x": {"type": "mlp"}}, "encoders": {"alt": {"type": "mlp"}}},
                "search": {"space": {"encoder": {"choice": ["default", "alt"]}}},
            }
        )
    with pytest.raises(ValueError, match="'multimodal' is the fused encoder built from model.inputs"):
        Spec.model_validate({**base, "model": {"encoder": {"type": "multimodal"}}})
    with pytest.raises(ValueError, match="at least one input"):
        Spec.model_validate({**base, "model": {"inputs": {}}})
    spec = Spec.model_validate(
        {**base, "model": {"inputs": {"x": {"type": "timeseries"}}, "fusion": {"type": "attention", "dim": 8}}}
    )
    assert spec.model.fusion.dim == 8


# ---------------------------------------------------------------- the ready specs, end to end in-process


def _ready_job(name: str, tmp_path: Path, monkeypatch, config: dict):
    from mtlsearch.data.registry import prepare
    from mtlsearch.search.context import SearchContext

    monkeypatch.setenv("MTLSEARCH_DATA", str(SHARED_DATA))
    loaded = load_spec(REPO / "search_spaces" / f"{name}.yaml")
    path = prepare(loaded.spec.dataset.loader, loaded.loader_options, tmp_path / "datasets")
    info = read_info(path)
    context = SearchContext(
        experiment=name,
        spec_json=loaded.spec.model_dump_json(),
        dataset_path=str(path),
        dataset_info_json=info.to_json(),
        baselines={},
        train_runs_uri=str(tmp_path / "runs"),
    )
    job = context.job_for(config)
    job.torch_threads = 1
    return info, job


@pytest.mark.skipif(
    not (SHARED_DATA / "icbhi" / "wav").is_dir(), reason=f"shared ICBHI WAV files not found at {SHARED_DATA} (set MTLSEARCH_DATA)"
)
def test_icbhi_multimodal_spec_trains(tmp_path, monkeypatch):
    info, job = _ready_job("icbhi_multimodal", tmp_path, monkeypatch, {"sharing": "soft", "lr": 0.001})
    assert info.input_names == ["x", "clinical"] and info.input("clinical").shape == (21,)
    assert [s["name"] for s in job.encoder["layout"]] == ["x", "clinical"]
    from mtlsearch.data.inspect import format_inspection, inspect_table

    text = format_inspection(inspect_table(job.dataset_path))
    assert "inputs (model.inputs): x spectrogram[798, 128] (column x), clinical tabular[21] (column clinical; gives away " in text
    job.epochs = 1
    trainer = MultiTaskTrainer(job)
    x = trainer.data["test"][0]
    assert x.shape[1] == 798 * 128 + 21
    clinical = read_input_splits(job.dataset_path, ["clinical"])["clinical"]["test"]
    np.testing.assert_array_equal(x[:, -21:].numpy(), clinical)
    stats = trainer.run_epoch(0)
    assert np.isfinite(stats.train_loss) and set(stats.test) == {"lung_sound", "disease"}
    assert float(trainer.model.regularizer().detach()) > 0  # soft: two fused encoders that moved apart


@pytest.mark.skipif(
    not (SHARED_DATA / "openi" / "indiana_projections.csv").is_file(),
    reason=f"shared Open-I data not found at {SHARED_DATA / 'openi'} (set MTLSEARCH_DATA)",
)
def test_openi_multimodal_spec_trains(tmp_path, monkeypatch):
    from mtlsearch.data.tokens import ensure_tokens, read_token_splits

    info, job = _ready_job("openi_multimodal", tmp_path, monkeypatch, {"architecture": "GMHL", "grouping": "findings"})
    assert info.input_names == ["x", "text", "exam"] and info.input("exam").attributes == ("projection",)
    trainer = MultiTaskTrainer(job)
    tokens = read_token_splits(ensure_tokens(job.dataset_path, None, 48))
    packed = trainer.data["train"][0]
    assert packed.shape[1] == 49 + 11
    assert torch.equal(trainer.model.encoders[0].split(packed)["text"], torch.from_numpy(tokens["train"]))
    # a few seconds of training: a slice of the real splits (a MiniLM epoch over 2,085 reports takes minutes)
    trainer.data = {s: (x[:48], y[:48]) for s, (x, y) in trainer.data.items()}
    trainer.train_targets = trainer.loss_fn.targets(trainer.data["train"][1])
    stats = trainer.run_epoch(0)
    assert np.isfinite(stats.train_loss) and len(stats.test) == 6


def test_searched_widths_and_dropout_reach_the_multimodal_encoder(tmp_path):
    info = multimodal_table(tmp_path / "mm.parquet")
    inputs = {"patient": encoder({"type": "mlp", "hidden_dims": [8, 4]}), "signal": encoder({"type": "timeseries"})}
    cfg = multimodal_config(inputs, FusionOptions(), info.inputs, ["a"], hidden_dim=32, dropout=0.25)
    assert cfg["inputs"]["patient"]["hidden_dims"] == [32, 32] and cfg["inputs"]["signal"]["channels"] == [16, 32]
    assert cfg["fusion"] == {"type": "concat", "dim": 64, "dropout": 0.25}
    assert [s["name"] for s in cfg["layout"]] == ["patient", "signal"]  # model.inputs order, not the table's


@needs_icbhi
def test_stl_baselines_read_the_same_inputs(tmp_path):
    from mtlsearch.data.icbhi import IcbhiLoader
    from mtlsearch.data.icbhi_tasks import all_tasks
    from mtlsearch.search.baselines import baseline_config

    loaded = load_spec(icbhi_spec(tmp_path, "[lung_sound, disease]", "    x: {type: mlp}\n    clinical: {type: mlp}"))
    tasks = tuple(t for t in all_tasks() if t.name in ("lung_sound", "disease"))
    info = DatasetInfo("icbhi", tasks, "x", 3, "fp", inputs=IcbhiLoader().inputs(loaded.loader_options))
    config = baseline_config(loaded.spec, info)
    assert config["encoder"]["type"] == "multimodal" and [s["name"] for s in config["encoder"]["layout"]] == ["x", "clinical"]
    with pytest.raises(ValueError, match="needs the dataset's info"):
        baseline_config(loaded.spec)
