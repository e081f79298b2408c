"""MTLV label-embedding clustering: task features from the bundled encoder, k-medoids, elbow."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mtlsearch.data.ohsumed_categories import OHSUMED_CATEGORIES
from mtlsearch.grouping.embedding import (
    cluster_tasks,
    distance_matrix,
    elbow_curve,
    embed_texts,
    groups_from_labels,
    knee_point,
)
from mtlsearch.pretrained import BUNDLED_ENCODER, EncoderNotFoundError, clear_encoder_cache, load_encoder, resolve_encoder

# --- encoder (one loaded model shared by the module) ----------------------------------


@pytest.fixture(scope="module")
def encoder() -> str:
    """The bundled encoder's directory, loaded once (the loader caches it per process)."""
    path = resolve_encoder(None)
    load_encoder(path)
    return path


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_resolve_encoder_aliases_and_paths(tmp_path):
    bundled = resolve_encoder(None)
    assert resolve_encoder(BUNDLED_ENCODER) == bundled
    assert resolve_encoder("sentence-transformers/all-MiniLM-L6-v2") == bundled
    assert resolve_encoder(str(tmp_path)) == str(tmp_path)  # an existing directory is taken as is
    assert resolve_encoder("dmis-lab/biobert-v1.1") == "dmis-lab/biobert-v1.1"  # a hub id passes through
    with pytest.raises(EncoderNotFoundError, match="no such local model directory"):
        resolve_encoder(str(tmp_path / "missing-model"))


def test_embeddings_shape_finite_deterministic(encoder):
    texts = ["Cardiovascular Diseases", "Neoplasms", "Eye Diseases", ""]
    a = embed_texts(texts, encoder=encoder)
    b = embed_texts(texts, encoder=encoder)
    assert a.shape == (4, 384) and a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])
    # padding does not leak into the mean: a text embeds the same alone or in a batch of longer texts
    alone = embed_texts(["Neoplasms"], encoder=encoder)
    np.testing.assert_allclose(alone[0], a[1], atol=1e-5)
    assert embed_texts([], encoder=encoder).shape == (0, 384)


def test_embedding_is_token_mean_of_last_layer(encoder):
    import torch

    tok, model = load_encoder(encoder)
    batch = tok(["myocardial infarction"], return_tensors="pt")
    with torch.no_grad():
        expected = model(**batch).last_hidden_state[0].mean(dim=0).numpy()
    np.testing.assert_allclose(embed_texts(["myocardial infarction"], encoder=encoder)[0], expected, atol=1e-5)


def test_semantic_sanity(encoder):
    heart, mi, bone = embed_texts(["heart attack", "myocardial infarction", "bone fracture"], encoder=encoder)
    assert _cos(heart, mi) > _cos(heart, bone) + 0.1
    assert np.linalg.norm(heart - mi) < np.linalg.norm(heart - bone)


def test_local_path_equals_alias(encoder, tmp_path):
    texts = ["Virus Diseases", "Parasitic Diseases"]
    by_alias = embed_texts(texts, encoder=BUNDLED_ENCODER)
    by_default = embed_texts(texts)
    by_path = embed_texts(texts, encoder=encoder)
    np.testing.assert_allclose(by_path, by_alias, atol=1e-6)
    np.testing.assert_allclose(by_default, by_alias, atol=1e-6)


def test_missing_encoder_fails_fast_and_clearly(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    t0 = time.perf_counter()
    with pytest.raises(EncoderNotFoundError) as err:
        embed_texts(["x"], encoder="mtlsearch-no-such-org/no-such-encoder-model")
    assert time.perf_counter() - t0 < 15
    msg = str(err.value)
    assert "mtlsearch-no-such-org/no-such-encoder-model" in msg and "could not be found locally" in msg
    assert isinstance(err.value, ValueError)


def test_missing_encoder_offline_mode(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderNotFoundError, match="hub access is disabled"):
        embed_texts(["x"], encoder="mtlsearch-no-such-org/no-such-encoder-model")


def test_local_dir_that_is_not_a_model(tmp_path):
    with pytest.raises(ValueError, match="could not load encoder from local directory"):
        embed_texts(["x"], encoder=str(tmp_path))


def test_loading_and_embedding_print_nothing(encoder, capfd):
    capfd.readouterr()
    clear_encoder_cache()  # load again under capture (transformers would show a progress bar)
    embed_texts(["Eye Diseases"], encoder=encoder)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_bad_embed_arguments(encoder):
    with pytest.raises(TypeError):
        embed_texts("a single string", encoder=encoder)
    with pytest.raises(TypeError):
        embed_texts(["ok", 3], encoder=encoder)
    with pytest.raises(ValueError):
        embed_texts(["ok"], encoder=encoder, batch_size=0)


# --- k-medoids and the elbow ----------------------------------------------------------


def _partition(labels) -> set[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for i, c in enumerate(labels):
        out.setdefault(c, set()).add(i)
    return {frozenset(s) for s in out.values()}


def _blobs(seed: int = 0, per: int = 10):
    """3 tight, well-separated 2-D blobs (10 points each), shuffled; returns points and true labels."""
    rng = np.random.default_rng(seed)
    centres = np.array([(0.0, 0.0), (10.0, 0.0), (5.0, 8.66)])
    x = np.concatenate([rng.normal(c, 0.4, (per, 2)) for c in centres])
    y = np.repeat(np.arange(3), per)
    perm = rng.permutation(len(y))
    return x[perm], y[perm]


def _angular_blobs(seed: int = 0, per: int = 10):
    """3 blobs separated in angle (0°, 120°, 240°, ±5°) with radii spread over 0.5..20: cosine
    distance sees 3 tight clusters, euclidean distance does not."""
    rng = np.random.default_rng(seed)
    angles = np.concatenate([np.deg2rad(a + rng.uniform(-5, 5, per)) for a in (0, 120, 240)])
    radii = rng.uniform(0.5, 20.0, 3 * per)
    x = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    y = np.repeat(np.arange(3), per)
    perm = rng.permutation(len(y))
    return x[perm], y[perm]


def test_kmedoids_recovers_blobs_euclidean():
    x, y = _blobs()
    c = cluster_tasks(x, 3, metric="euclidean", seed=0)
    assert _partition(c.labels) == _partition(y)
    assert c.labels[0] == 0 and sorted(set(c.labels)) == [0, 1, 2]
    first = [c.labels.index(g) for g in range(3)]
    assert first == sorted(first)  # canonical: cluster ids in order of first appearance
    d = distance_matrix(x)
    for g, m in enumerate(c.medoids):
        assert c.labels[m] == g
    assert c.loss == pytest.approx(sum(d[i, c.medoids[g]] for i, g in enumerate(c.labels)))
    assert cluster_tasks(x, 3, seed=0) == c  # deterministic


def test_kmedoids_recovers_angular_blobs_cosine():
    x, y = _angular_blobs()
    c = cluster_tasks(x, 3, metric="cosine", seed=0)
    assert _partition(c.labels) == _partition(y)
    # the radii spread makes euclidean k-medoids split by radius instead: the metric matters
    assert _partition(cluster_tasks(x, 3, metric="euclidean").labels) != _partition(y)


def test_elbow_suggests_three_on_blobs():
    x, _ = _blobs()
    for k_min in (1, 2):
        curve = elbow_curve(x, k_min, 8)
        assert curve.ks == list(range(k_min, 9))
        assert curve.suggested_k == 3
        assert all(a >= b - 1e-9 for a, b in zip(curve.losses, curve.losses[1:]))
    cos_curve = elbow_curve(_angular_blobs()[0], 1, 8, metric="cosine")
    assert cos_curve.suggested_k == 3
    small = elbow_curve(x[:5], 1, 10)
    assert small.ks == [1, 2, 3, 4, 5] and small.losses[-1] == 0.0  # capped at n


def test_knee_rule():
    assert knee_point([1, 2, 3, 4, 5], [10, 9, 8, 7, 6]) == 1  # straight line: no knee
    assert knee_point([1, 2, 3, 4, 5], [5, 5, 5, 5, 5]) == 1  # flat
    assert knee_point([2, 3], [4, 1]) == 2  # too few points
    assert knee_point([1, 2, 3, 4, 5, 6], [100, 40, 10, 8, 7, 6]) == 3


@pytest.mark.parametrize("k", [0, 4, -1, 2.5, True])
def test_bad_k(k):
    x = np.eye(3)
    with pytest.raises(ValueError, match="k must"):
        cluster_tasks(x, k)


def test_bad_inputs():
    with pytest.raises(ValueError, match="metric"):
        cluster_tasks(np.eye(3), 2, metric="manhattan")
    with pytest.raises(ValueError, match="NaN"):
        cluster_tasks(np.array([[0.0, np.nan], [1.0, 1.0]]), 1)
    with pytest.raises(ValueError, match="2-D"):
        cluster_tasks(np.zeros(3), 1)
    with pytest.raises(ValueError, match="k_max"):
        elbow_curve(np.eye(4), 3, 2)
    with pytest.raises(ValueError, match="k must"):
        elbow_curve(np.eye(4), 5, 6)
    with pytest.raises(ValueError, match="labels"):
        groups_from_labels([0, 1], ["a"])


def test_k_equals_n_and_one():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    c = cluster_tasks(x, 3)
    assert c.labels == [0, 1, 2] and c.loss == 0.0
    c1 = cluster_tasks(x, 1)
    assert c1.labels == [0, 0, 0] and len(c1.medoids) == 1


def test_groups_from_labels():
    assert groups_from_labels([2, 0, 2, 1], ["a", "b", "c", "d"]) == [["a", "c"], ["b"], ["d"]]


# --- OHSUMED ------------------------------------------------------------------------


def test_ohsumed_categories_table():
    codes = [f"C{i:02d}" for i in range(1, 24)]
    assert list(OHSUMED_CATEGORIES) == codes
    for code, cat in OHSUMED_CATEGORIES.items():
        assert cat.code == code and cat.name and cat.description and cat.description != cat.name
    assert OHSUMED_CATEGORIES["C14"].name == "Cardiovascular Diseases"
    assert OHSUMED_CATEGORIES["C23"].name == "Pathological Conditions, Signs and Symptoms"


def test_ohsumed_codes_match_shared_data():
    from conftest import SHARED_DATA

    arff = SHARED_DATA / "ohsumed" / "meka_arff" / "OHSUMED-F.arff"
    if not arff.is_file():
        pytest.skip(f"shared data not found at {arff} (set MTLSEARCH_DATA)")
    labels = []
    with arff.open() as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0].lower() == "@attribute" and parts[2] == "{0,1}":
                labels.append(parts[1])
    assert sorted(labels) == sorted(OHSUMED_CATEGORIES)
    folders = SHARED_DATA / "ohsumed" / "text_gcn_single_23" / "data" / "ohsumed_single_23" / "training"
    if folders.is_dir():
        assert sorted(p.name for p in folders.iterdir() if p.is_dir()) == sorted(OHSUMED_CATEGORIES)


@pytest.mark.parametrize("text", ["name", "description"])
def test_ohsumed_clustering_is_a_partition_and_silent(encoder, text, capfd):
    codes = list(OHSUMED_CATEGORIES)
    texts = [getattr(OHSUMED_CATEGORIES[c], text) for c in codes]
    emb = embed_texts(texts, encoder=encoder)
    assert emb.shape == (23, 384)
    c = cluster_tasks(emb, 4, seed=0)
    groups = groups_from_labels(c.labels, codes)
    assert len(groups) == 4
    flat = [code for g in groups for code in g]
    assert sorted(flat) == codes and len(flat) == len(set(flat))  # every category in exactly one group
    curve = elbow_curve(emb, 2, 10, seed=0)
    assert curve.ks == list(range(2, 11)) and 2 <= curve.suggested_k <= 10
    out, err = capfd.readouterr()
    assert out == "" and err == ""
