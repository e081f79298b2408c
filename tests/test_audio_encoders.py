"""Spectrogram encoders (small CNN, Audio Spectrogram Transformer): shapes, gradients, freezing,
weight loading, a training step through the trainer, and the spec's encoder union. No Ray."""

from dataclasses import asdict

import numpy as np
import pytest
import torch
from conftest import write_spec
from pydantic import ValidationError

from mtlsearch.data.canonical import DatasetInfo, TaskInfo, build_table, write_table
from mtlsearch.errors import SpecError
from mtlsearch.models.encoders import build_encoder
from mtlsearch.models.encoders.ast import ASTOptions as ASTEncoderSpec
from mtlsearch.models.encoders.cnn import CNNOptions as CNNEncoderSpec
from mtlsearch.models.encoders.mlp import MLPOptions as MLPEncoderSpec
from mtlsearch.models.multitask import MultiTaskModel
from mtlsearch.models.networks import ASTEncoder, CNNEncoder, MLPEncoder
from mtlsearch.models.plan import make_plan
from mtlsearch.spec import ModelSpec, load_spec
from mtlsearch.train.job import TrainJob
from mtlsearch.train.trainer import MultiTaskTrainer

FRAMES, MELS = 64, 128  # ICBHI has 798 frames; fewer keep the tests fast
SHAPE = (FRAMES, MELS)
DIM = FRAMES * MELS
TINY_AST = {"type": "ast", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def _x(batch: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, DIM, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "cfg, cls, out_dim",
    [
        ({"type": "cnn"}, CNNEncoder, 64),
        ({"type": "cnn", "channels": [4, 8], "stem_stride": 1, "kernel_size": 5, "dropout": 0.2}, CNNEncoder, 8),
        (TINY_AST, ASTEncoder, 32),
        (
            {**TINY_AST, "pooling": "mean", "patch_size": 8, "frequency_stride": 8, "time_stride": 8, "dropout": 0.1},
            ASTEncoder,
            32,
        ),
    ],
)
def test_forward_shape_and_gradients(cfg, cls, out_dim):
    torch.manual_seed(0)
    enc = build_encoder(cfg, DIM, SHAPE)
    assert isinstance(enc, cls) and enc.out_dim == out_dim
    x = _x(3).requires_grad_(True)
    h = enc(x)
    assert h.shape == (3, out_dim) and torch.isfinite(h).all()
    h.pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # the input reaches the output
    params = [p for p in enc.parameters() if p.requires_grad]
    assert params and all(p.grad is not None for p in params)
    assert sum(float(p.grad.abs().sum()) for p in params) > 0


def test_rows_are_read_as_frames_by_mel_bins():
    """Row-major (frame t, bin m at t * MELS + m): one bright frame lights only the time patches covering it."""
    spec = torch.zeros(1, FRAMES, MELS)
    spec[0, 10, :] = 1.0
    ast = build_encoder({**TINY_AST, "patch_size": 16, "frequency_stride": 16, "time_stride": 16}, DIM, SHAPE)
    seen = {}
    ast.ast.embeddings.patch_embeddings.register_forward_hook(lambda m, i, o: seen.update(out=o))
    ast(spec.reshape(1, DIM))
    bias = ast.ast.embeddings.patch_embeddings.projection.bias
    grid = (seen["out"] - bias).abs().sum(-1).view(MELS // 16, FRAMES // 16)  # frequency-major patch order
    assert (grid[:, 0] > 0).all() and (grid[:, 1:] == 0).all()  # frame 10 lies in the first 16-frame column
    cnn = build_encoder({"type": "cnn", "channels": [4]}, DIM, SHAPE)
    seen.clear()
    cnn.net[0].register_forward_hook(lambda m, i, o: seen.update(inp=i[0]))
    cnn(spec.reshape(1, DIM))
    assert seen["inp"].shape == (1, 1, FRAMES, MELS) and torch.equal(seen["inp"][0, 0], spec[0])


def test_ast_freeze_layers():
    enc = build_encoder({**TINY_AST, "freeze_layers": 1}, DIM, SHAPE)
    ast = enc.ast
    layers = ast.layers if hasattr(ast, "layers") else ast.encoder.layer
    assert not any(p.requires_grad for p in ast.embeddings.parameters())
    assert not any(p.requires_grad for p in layers[0].parameters())
    assert all(p.requires_grad for p in layers[1].parameters())
    assert all(p.requires_grad for p in ast.layernorm.parameters())
    enc(_x(2)).sum().backward()
    assert all(p.grad is None for p in layers[0].parameters()) and ast.embeddings.cls_token.grad is None
    assert all(p.grad is not None for p in layers[1].parameters())
    unfrozen = build_encoder(TINY_AST, DIM, SHAPE)
    assert all(p.requires_grad for p in unfrozen.parameters())
    with pytest.raises(ValueError, match=r"freeze_layers must be in \[0, 2\]"):
        build_encoder({**TINY_AST, "freeze_layers": 3}, DIM, SHAPE)


def test_ast_loads_local_pretrained_weights(tmp_path):
    from transformers import ASTConfig, ASTModel

    torch.manual_seed(1)
    source = ASTModel(
        ASTConfig(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_length=FRAMES, num_mel_bins=MELS
        )
    )
    with torch.no_grad():  # AST initialises the tokens and position embeddings to zero: make them distinctive
        source.embeddings.position_embeddings.normal_()
        source.embeddings.cls_token.normal_()
    source.save_pretrained(tmp_path / "ast")
    enc = build_encoder({"type": "ast", "pretrained": str(tmp_path / "ast")}, DIM, SHAPE).eval()
    theirs, ours = source.state_dict(), enc.ast.state_dict()
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in theirs)
    x = _x(2)
    with torch.no_grad():
        assert torch.allclose(enc(x), source.eval()(input_values=x.view(2, FRAMES, MELS)).pooler_output, atol=1e-6)
    # architecture fields come from the weights
    with pytest.raises(ValueError, match="fixed by the pretrained weights"):
        build_encoder({"type": "ast", "pretrained": str(tmp_path / "ast"), "hidden_size": 64}, DIM, SHAPE)


def test_ast_pretrained_on_other_lengths_crops_or_interpolates_positions(tmp_path):
    """Weights saved for 64 frames, used on 32 (centre crop of the time patches) and 128 (interpolation)."""
    from transformers import ASTConfig, ASTModel

    torch.manual_seed(2)
    source = ASTModel(
        ASTConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_length=FRAMES,
            num_mel_bins=MELS,
            patch_size=16,
            frequency_stride=16,
            time_stride=16,
        )
    )
    with torch.no_grad():
        source.embeddings.position_embeddings.normal_()
    source.save_pretrained(tmp_path / "ast")
    pos = source.embeddings.position_embeddings.detach()
    grid = pos[0, 2:].view(8, 4, 32)  # (frequency, time, hidden)
    short = build_encoder({"type": "ast", "pretrained": str(tmp_path / "ast")}, 32 * MELS, (32, MELS))
    p = short.ast.embeddings.position_embeddings.detach()
    assert p.shape == (1, 2 + 8 * 2, 32)
    assert torch.equal(p[0, :2], pos[0, :2]) and torch.equal(p[0, 2:].view(8, 2, 32), grid[:, 1:3])
    long = build_encoder({"type": "ast", "pretrained": str(tmp_path / "ast")}, 128 * MELS, (128, MELS))
    assert long.ast.embeddings.position_embeddings.shape == (1, 2 + 8 * 8, 32)
    assert long(torch.randn(2, 128 * MELS)).shape == (2, 32)
    same = {k: v for k, v in source.state_dict().items() if k != "embeddings.position_embeddings"}
    assert all(torch.equal(v, long.ast.state_dict()[k]) for k, v in same.items())


def test_spectrogram_encoders_need_a_feature_shape():
    for kind in ("cnn", "ast"):
        cfg = TINY_AST if kind == "ast" else {"type": kind}
        with pytest.raises(ValueError, match=rf"encoder '{kind}' needs spectrogram inputs .* flat features of size 20"):
            build_encoder(cfg, 20)
        with pytest.raises(ValueError, match="flat features of size 3"):
            build_encoder(cfg, 3, (3,))  # ICBHI with audio: none
        with pytest.raises(ValueError, match=r"feature_shape \[64, 100\] does not match the input size"):
            build_encoder(cfg, DIM, (64, 100))
    assert isinstance(build_encoder({"type": "mlp", "hidden_dims": [4]}, 20), MLPEncoder)
    assert build_encoder({"type": "mlp", "hidden_dims": [4]}, DIM, SHAPE).out_dim == 4  # the MLP ignores the shape
    with pytest.raises(ValueError, match="unknown encoder type 'rnn'"):
        build_encoder({"type": "rnn"}, 20)


def _tiny_icbhi(path, n: int = 48, feature_shape=(FRAMES, MELS)) -> str:
    tasks = (
        TaskInfo("lung_sound", "multiclass", ("normal", "crackle", "wheeze", "both"), metric="icbhi_score"),
        TaskInfo("disease", "binary", ("healthy", "unhealthy"), metric="icbhi_score"),
        TaskInfo("age_group", "binary", ("adult", "pediatric"), role="auxiliary", metric="accuracy"),
    )
    rng = np.random.default_rng(0)
    dim = int(np.prod(feature_shape))
    info = DatasetInfo(
        name="icbhi_like",
        tasks=tasks,
        input_column="x",
        input_dim=dim,
        fingerprint="t",
        extra={"feature_shape": list(feature_shape)},
    )
    labels = {"lung_sound": rng.integers(0, 4, n), "disease": rng.integers(0, 2, n), "age_group": rng.integers(0, 2, n)}
    labels["age_group"][:5] = -1  # missing labels
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x += labels["disease"][:, None].astype(np.float32)  # something to learn
    splits = ["train"] * (n - 16) + ["val"] * 8 + ["test"] * 8
    out = path / "icbhi_like.parquet"
    write_table(build_table(info, [f"c{i}" for i in range(n)], splits, x, labels), out)
    return str(out)


def _job(path: str, encoder: dict, arch: str = "GMTL") -> TrainJob:
    from mtlsearch.data.canonical import read_info

    info = read_info(path)
    plan = make_plan(arch, info.task_names, (("lung_sound", "disease"), ("age_group",)))
    return TrainJob(
        dataset_path=path,
        tasks=[asdict(t) for t in info.tasks],
        plan=plan.to_dict(),
        encoder=encoder,
        epochs=1,
        batch_size=8,
        lr=3e-3,
        seed=0,
        torch_threads=1,
    )


@pytest.mark.parametrize("encoder", [{"type": "cnn", "channels": [4, 8]}, {**TINY_AST, "num_hidden_layers": 1}])
def test_gmtl_trains_a_step_with_spectrogram_encoders(tmp_path, encoder):
    path = _tiny_icbhi(tmp_path)
    trainer = MultiTaskTrainer(_job(path, encoder))
    model = trainer.model
    assert len(model.encoders) == 2 and model.encoders[0].input_shape == SHAPE
    assert trainer.eval_batch < 8192
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = trainer.run_epoch(0)
    assert np.isfinite(stats.train_loss) and stats.samples == 32
    assert set(stats.val) == {"lung_sound", "disease", "age_group"}
    after = model.state_dict()
    changed = [k for k in before if before[k].dtype.is_floating_point and not torch.equal(before[k], after[k])]
    assert any(k.startswith("encoders.0.") for k in changed) and any(k.startswith("encoders.1.") for k in changed)
    assert any(k.startswith("heads.") for k in changed)


def test_multitask_model_passes_input_shape_and_is_seeded():
    from mtlsearch.data.canonical import TaskInfo as T

    tasks = [T("a", "binary", ("n", "y")), T("b", "multiclass", ("p", "q", "r"))]
    plan = make_plan("STL", ["a", "b"])
    cfg = {"type": "cnn", "channels": [4]}
    m1 = MultiTaskModel(plan, tasks, cfg, DIM, seed=3, input_shape=SHAPE)
    m2 = MultiTaskModel(plan, tasks, cfg, DIM, seed=3, input_shape=SHAPE)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    out = m1(_x(2))
    assert out["a"].shape == (2, 1) and out["b"].shape == (2, 3)
    with pytest.raises(ValueError, match="needs spectrogram inputs"):
        MultiTaskModel(plan, tasks, cfg, DIM, seed=3)


def test_trainer_rejects_cnn_on_flat_data(tmp_path):
    path = _tiny_icbhi(tmp_path, feature_shape=(3,))
    with pytest.raises(ValueError, match="encoder 'cnn' needs spectrogram inputs .* flat features of size 3"):
        MultiTaskTrainer(_job(path, {"type": "cnn"}))
    assert MultiTaskTrainer(_job(path, {"type": "mlp", "hidden_dims": [4]})).model.encoders[0].out_dim == 4


# --- the spec's encoder union ------------------------------------------------------


def test_encoder_union_accepts_each_type_with_defaults():
    assert ModelSpec().encoder == MLPEncoderSpec()
    assert ModelSpec.model_validate({"encoder": {"hidden_dims": [8]}}).encoder == MLPEncoderSpec(
        hidden_dims=[8]
    )  # type defaults to mlp
    cnn = ModelSpec.model_validate({"encoder": {"type": "cnn"}}).encoder
    assert isinstance(cnn, CNNEncoderSpec) and cnn.channels == [16, 32, 64] and cnn.dropout == 0.0
    ast = ModelSpec.model_validate(
        {
            "encoder": {
                "type": "ast",
                "pretrained": "MIT/ast-finetuned-audioset-10-10-0.4593",
                "freeze_layers": 6,
                "pooling": "mean",
            }
        }
    ).encoder
    assert isinstance(ast, ASTEncoderSpec) and ast.hidden_size is None and ast.freeze_layers == 6
    # what the spec dumps, build_encoder takes
    for spec in (
        cnn,
        ASTEncoderSpec(type="ast", hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64),
    ):
        assert build_encoder(spec.model_dump(), DIM, SHAPE).out_dim in (64, 32)


@pytest.mark.parametrize(
    "encoder, message",
    [
        (
            {"type": "rnn"},
            "unknown encoder type 'rnn'; expected one of ['mlp', 'cnn', 'ast', 'text', 'timeseries', 'multimodal']",
        ),
        (
            {"type": "cnn", "chanels": [4]},
            "field 'model.encoder.chanels': unknown key (expected one of: type, channels, kernel_size",
        ),
        (
            {"type": "ast", "hidden_dims": [4]},
            "field 'model.encoder.hidden_dims': unknown key (expected one of: type, pretrained",
        ),
        (
            {"type": "mlp", "channels": [4]},
            "field 'model.encoder.channels': unknown key (expected one of: type, hidden_dims, dropout)",
        ),
        ({"type": "cnn", "kernel_size": 4}, "field 'model.encoder.kernel_size': kernel_size must be odd"),
        ({"type": "cnn", "channels": [0]}, "field 'model.encoder.channels.0'"),
        ({"type": "ast", "pooling": "max"}, "field 'model.encoder.pooling'"),
        (
            {"type": "ast", "pretrained": "x", "num_hidden_layers": 2},
            "['num_hidden_layers'] are fixed by the pretrained weights 'x'",
        ),
        (
            {"type": "ast", "hidden_size": 30, "num_attention_heads": 4},
            "hidden_size 30 must be a multiple of num_attention_heads 4",
        ),
        ({"type": "ast", "num_hidden_layers": 2, "freeze_layers": 3}, "freeze_layers 3 exceeds num_hidden_layers 2"),
    ],
)
def test_encoder_spec_errors_name_the_field(tmp_path, encoder, message):
    import yaml

    spec = write_spec(tmp_path / "s.yaml", tmp_path)
    flow = yaml.safe_dump(encoder, default_flow_style=True).strip()
    spec.write_text(spec.read_text().replace("encoder: {type: mlp, hidden_dims: [32, 16]}", f"encoder: {flow}"))
    with pytest.raises(SpecError) as e:
        load_spec(spec)
    msg = str(e.value)
    assert message in msg, msg
    line = spec.read_text().splitlines().index(f"  encoder: {flow}") + 1
    assert f"s.yaml:{line}:" in msg


def test_hidden_dim_dimension_needs_an_mlp(tmp_path):
    from mtlsearch.search.context import SearchContext

    space = "architecture: {choice: [MTL]}\n    hidden_dim: {choice: [8, 16]}\n    dropout: {choice: [0.1]}"
    spec = write_spec(tmp_path / "s.yaml", tmp_path, space=space)
    loaded = load_spec(spec)
    ctx = SearchContext("t", loaded.spec.model_dump_json(), "d.parquet", _info_json(), {}, "")
    assert ctx.job_for({"hidden_dim": 8, "dropout": 0.1}).encoder == {"type": "mlp", "hidden_dims": [8, 8], "dropout": 0.1}
    spec.write_text(spec.read_text().replace("encoder: {type: mlp, hidden_dims: [32, 16]}", "encoder: {type: cnn}"))
    with pytest.raises(SpecError, match="hidden_dim sets the widths of an mlp encoder"):
        load_spec(spec)
    spec.write_text(spec.read_text().replace("    hidden_dim: {choice: [8, 16]}\n", ""))
    loaded = load_spec(spec)
    ctx = SearchContext("t", loaded.spec.model_dump_json(), "d.parquet", _info_json(), {}, "")
    job = ctx.job_for({"dropout": 0.1, "hidden_dim": 8})  # a stray hidden_dim never touches a cnn
    assert job.encoder == {**CNNEncoderSpec(type="cnn").model_dump(), "dropout": 0.1}


def test_affinity_proxy_encoder_accepts_the_union():
    from mtlsearch.grouping.methods.affinity_run import AffinityOptions as AffinityMethodSpec

    assert AffinityMethodSpec().encoder is None
    assert isinstance(AffinityMethodSpec.model_validate({"encoder": {"type": "cnn", "channels": [8]}}).encoder, CNNEncoderSpec)
    with pytest.raises(ValidationError):
        AffinityMethodSpec.model_validate({"encoder": {"type": "rnn"}})


def _info_json() -> str:
    tasks = tuple(TaskInfo(f"task_{i:02d}", "binary", ("n", "y")) for i in range(6))
    return DatasetInfo("synthetic", tasks, "x", 16, "f").to_json()
