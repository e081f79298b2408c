"""Text encoders: token cache (once per dataset and tokenizer, Arrow), the Hugging Face encoder, training on text, the spec."""

from dataclasses import asdict

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from test_openi import fixture_reports, write_reports_csv

from mtlsearch.data.canonical import read_info
from mtlsearch.data.openi import OpenICsvOptions
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.data.tokens import ensure_tokens, read_token_splits, token_cache_path, tokenize_texts
from mtlsearch.errors import DataError
from mtlsearch.models.encoders import build_encoder
from mtlsearch.models.networks import TextEncoder
from mtlsearch.models.plan import make_plan
from mtlsearch.pretrained import load_encoder
from mtlsearch.train.job import TrainJob
from mtlsearch.train.trainer import MultiTaskTrainer

MAX_LEN = 32


@pytest.fixture(scope="module")
def text_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("openi")
    src = write_reports_csv(root / "indiana_reports.csv", fixture_reports())
    path = prepare("openi_csv", OpenICsvOptions(path=str(src), top_k=3, val_fraction=0.2, test_fraction=0.2), root / "cache")
    return str(path)


def test_tokenize_rows_hold_length_then_padded_ids():
    tok, _ = load_encoder(None)
    rows = tokenize_texts(["Heart size normal.", "word " * 100], None, 16)
    assert rows.shape == (2, 17) and rows.dtype == np.int32
    ref = tok("Heart size normal.")["input_ids"]
    assert rows[0, 0] == len(ref) and list(rows[0, 1 : 1 + len(ref)]) == ref
    assert (rows[0, 1 + len(ref) :] == tok.pad_token_id).all()
    assert rows[1, 0] == 16 and rows[1, 16] == tok.sep_token_id  # truncated, still ends with [SEP]


def test_token_cache_is_built_once_and_keyed_by_length(text_dataset):
    path = ensure_tokens(text_dataset, None, MAX_LEN)
    assert (
        path == token_cache_path(text_dataset, None, MAX_LEN)
        and path.parent.parent == token_cache_path(text_dataset, None, 8).parent.parent
    )
    mtime = path.stat().st_mtime_ns
    assert ensure_tokens(text_dataset, None, MAX_LEN).stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert token_cache_path(text_dataset, None, 8) != path
    splits = read_token_splits(path)
    table = pq.read_table(text_dataset, columns=["split", "text"])
    texts = np.asarray(table.column("text").to_pylist())
    split = np.asarray(table.column("split").to_pylist())
    for s, rows in splits.items():
        assert rows.shape == ((split == s).sum(), MAX_LEN + 1)
        np.testing.assert_array_equal(rows, tokenize_texts(list(texts[split == s]), None, MAX_LEN).astype(np.int64))
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_dataset_without_text_is_a_clear_error(tmp_path):
    path = prepare("synthetic", SyntheticOptions(num_tasks=2, num_groups=1, num_samples=100), tmp_path)
    with pytest.raises(DataError, match=r"keeps no raw text .*ohsumed_folders, openi_csv, openi_xml"):
        ensure_tokens(path, None, MAX_LEN)


def test_encoder_pooling_masks_padding_and_freezes_lower_layers():
    torch.manual_seed(0)
    enc = build_encoder({"type": "text", "pooling": "mean", "max_length": 16, "freeze_layers": 2}, 17)
    assert isinstance(enc, TextEncoder) and enc.out_dim == 384
    frozen = {n for n, p in enc.model.named_parameters() if not p.requires_grad}
    assert "embeddings.word_embeddings.weight" in frozen
    assert {n.split(".")[2] for n in frozen if n.startswith("encoder.layer.")} == {"0", "1"}
    enc.eval()
    rows = torch.from_numpy(tokenize_texts(["no acute cardiopulmonary disease", "normal heart size"], None, 16)).long()
    out = enc(rows)
    alone = enc(rows[:1])
    torch.testing.assert_close(out[:1], alone, atol=1e-5, rtol=1e-5)  # padding of a longer batch-mate changes nothing
    # mean pooling equals the bundled model's own masked mean
    _, ref_model = load_encoder(None)
    n = int(rows[1, 0])
    with torch.no_grad():
        ref = ref_model(input_ids=rows[1:2, 1 : 1 + n]).last_hidden_state.mean(dim=1)
    torch.testing.assert_close(out[1:2], ref, atol=1e-5, rtol=1e-5)
    cls = build_encoder({"type": "text", "pooling": "cls", "max_length": 16}, 17).eval()
    with torch.no_grad():
        torch.testing.assert_close(
            cls(rows[1:2]), ref_model(input_ids=rows[1:2, 1 : 1 + n]).last_hidden_state[:, 0], atol=1e-5, rtol=1e-5
        )
    with pytest.raises(ValueError, match=r"freeze_layers must be in \[0, 6\]"):
        build_encoder({"type": "text", "max_length": 16, "freeze_layers": 7}, 17)


def test_trainer_fine_tunes_on_cached_tokens(text_dataset):
    info = read_info(text_dataset)
    job = TrainJob(
        dataset_path=text_dataset,
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan("MTL", info.task_names, None).to_dict(),
        encoder={"type": "text", "model": None, "pooling": "mean", "max_length": MAX_LEN, "freeze_layers": 4},
        epochs=3,
        batch_size=8,
        lr=1e-3,
        seed=0,
    )
    trainer = MultiTaskTrainer(job)
    assert trainer.data["train"][0].shape[1] == MAX_LEN + 1 and trainer.data["train"][0].dtype == torch.int64
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    first = trainer.run_epoch(0)
    last = trainer.run_epoch(1)
    last = trainer.run_epoch(2)
    assert last.train_loss < first.train_loss
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])}
    assert any(".encoder.layer.5." in n for n in changed) and not any(
        ".encoder.layer.3." in n or "embeddings" in n for n in changed
    )
    assert set(last.val) == set(info.task_names)


def _openi_spec(path, storage, source, *, space: str, encoders: str = "") -> None:
    path.write_text(f"""\
experiment: text
seed: 0
storage: {storage}
dataset:
  loader: openi_csv
  options: {{path: {source}, top_k: 3, val_fraction: 0.2, test_fraction: 0.2}}
model:
  encoder: {{type: mlp, hidden_dims: [16]}}
{encoders}
train: {{epochs: 2, batch_size: 8, lr: 0.001}}
search:
  num_samples: 2
  searcher: grid
  scheduler: {{enabled: false}}
  space:
    {space}
""")


def test_spec_names_searched_encoders(tmp_path):
    from mtlsearch.errors import SpecError
    from mtlsearch.search.context import SearchContext
    from mtlsearch.search.space import enumerate_candidates
    from mtlsearch.spec import load_spec

    src = write_reports_csv(tmp_path / "r.csv", fixture_reports())
    spec = tmp_path / "s.yaml"
    enc = "  encoders:\n    minilm: {type: text, max_length: 32, freeze_layers: 4}"
    _openi_spec(spec, tmp_path, src, space="encoder: {choice: [default, minilm]}\n    hidden_dim: {choice: [8]}", encoders=enc)
    loaded = load_spec(spec)
    assert [c["encoder"] for c in enumerate_candidates(loaded.spec.search.space)] == ["default", "minilm"]
    ctx = SearchContext("t", loaded.spec.model_dump_json(), "d.parquet", "{}", {}, "")
    text = loaded.spec.model.named("minilm").model_dump()
    assert text == {"type": "text", "model": None, "pooling": "mean", "max_length": 32, "freeze_layers": 4, "dropout": 0.0}
    _openi_spec(spec, tmp_path, src, space="encoder: {choice: [default, bert]}", encoders=enc)
    with pytest.raises(SpecError, match=r"search.space.encoder names 'bert', which is not defined under model.encoders"):
        load_spec(spec)
    _openi_spec(spec, tmp_path, src, space="lr: {choice: [0.001]}", encoders="  encoders:\n    default: {type: text}")
    with pytest.raises(SpecError, match=r"'default' names model.encoder"):
        load_spec(spec)
    _openi_spec(spec, tmp_path, src, space="encoder: {choice: [minilm]}\n    hidden_dim: {choice: [8]}", encoders=enc)
    with pytest.raises(
        SpecError, match=r"hidden_dim sets the widths of an mlp encoder's hidden_dims; the searched encoders are \['text'\]"
    ):
        load_spec(spec)
    del ctx


def test_launch_searches_mlp_against_a_fine_tuned_transformer(ray_cluster, tmp_path):
    """A real search: the grid runs the bag-of-words MLP and the bundled MiniLM; texts are tokenized once, before the trials."""
    import io

    from mtlsearch.search.launcher import launch
    from mtlsearch.spec import load_spec

    src = write_reports_csv(tmp_path / "r.csv", fixture_reports())
    spec = tmp_path / "s.yaml"
    enc = "  encoders:\n    minilm: {type: text, max_length: 24, freeze_layers: 5}"
    _openi_spec(
        spec,
        tmp_path / "store",
        src,
        space="architecture: {choice: [MTL]}\n    encoder: {choice: [default, minilm]}",
        encoders=enc,
    )
    out = io.StringIO()
    name, rows = launch(load_spec(spec), out=out)
    log = out.getvalue()
    assert log.count("tokens (bundled all-MiniLM-L6-v2, max_length 24): tokenized") == 1, log
    token_files = list((tmp_path / "store" / "datasets").glob("*/tokens/*.arrow"))
    assert len(token_files) == 1
    mtime = token_files[0].stat().st_mtime_ns
    assert sorted(r["config"]["encoder"] for r in rows) == ["default", "minilm"]
    assert all(r["status"] == "finished" and np.isfinite(r["dm_val"]) for r in rows)
    assert "MTL (minilm)" in log and "MTL (default)" in log
    assert token_files[0].stat().st_mtime_ns == mtime  # the trial read the cache, did not rewrite it
