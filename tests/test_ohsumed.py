"""OHSUMED loaders: MEKA sparse ARFF and Joachims' folders, iterative stratification, real-data counts."""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from mtlsearch.data.arff import read_arff, read_header
from mtlsearch.data.canonical import read_info, read_splits
from mtlsearch.data.inspect import inspect_table
from mtlsearch.data.ohsumed import OhsumedArffOptions, OhsumedFoldersOptions, tokenize
from mtlsearch.data.ohsumed_categories import OHSUMED_CATEGORIES
from mtlsearch.data.registry import get_loader, loader_names, prepare
from mtlsearch.data.splits import iterative_stratification, stratified_splits
from mtlsearch.errors import DataError

CODES = [f"C{i:02d}" for i in range(1, 24)]
REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MTLSEARCH_DATA", REPO.parent / "shared" / "data"))
REAL_ARFF = DATA / "ohsumed" / "meka_arff" / "OHSUMED-F.arff"
REAL_FOLDERS = DATA / "ohsumed" / "text_gcn_single_23" / "data" / "ohsumed_single_23"


# ---------------------------------------------------------------- fixtures


def _fixture_labels(n: int = 150, seed: int = 0) -> np.ndarray:
    y = (np.random.default_rng(seed).random((n, 23)) < 0.2).astype(int)
    assert y.sum(0).min() >= 10
    return y


def write_meka_arff(path: Path, y: np.ndarray, x: np.ndarray, *, dense_every: int = 7) -> list[str]:
    """A MEKA sparse ARFF with the labels declared in reverse order (C23 first) and some dense rows.

    Returns the label attribute order.
    """
    order = CODES[::-1]
    lines = ["% a MEKA multi-label fixture", "@relation 'fixture: -C 23 -split 10'", ""]
    lines += [f"@attribute {c} {{0,1}}" for c in order]
    lines += [f"@attribute 'word {j}' numeric" for j in range(x.shape[1])]
    lines += ["", "@data", ""]
    for i in range(len(y)):
        values = [y[i, CODES.index(c)] for c in order] + [x[i, j] for j in range(x.shape[1])]
        if i % dense_every == 3:
            lines.append(",".join(f"{v:g}" for v in values))
        else:
            lines.append("{" + ",".join(f"{k} {v:g}" for k, v in enumerate(values) if v != 0) + "}")
    path.write_text("\n".join(lines) + "\n")
    return order


@pytest.fixture()
def arff_fixture(tmp_path):
    y = _fixture_labels()
    x = np.round(np.random.default_rng(1).random((len(y), 4)) * (np.random.default_rng(2).random((len(y), 4)) < 0.5), 3)
    path = tmp_path / "mini.arff"
    write_meka_arff(path, y, x)
    return path, y, x


def _docs():
    """(split, doc id, categories, text): doc 0001 is under C01 and C05; 'zebra' is only in test documents."""
    words = {
        "C01": "bacteria infection sepsis",
        "C04": "tumor carcinoma neoplasm",
        "C05": "bone joint fracture",
        "C14": "heart cardiac artery",
    }
    docs = [("training", "0001", ["C01", "C05"], "Sepsis after fracture.\n Bacteria infection of the bone joint.")]
    cats = list(words)
    for i in range(2, 42):
        c = [cats[i % 4]] + ([cats[(i + 1) % 4]] if i % 5 == 0 else [])
        text = f"Document {i} title.\n The " + " ".join(words[k] for k in c) + f" patients study number{i % 3}"
        docs.append(("training", f"{i:04d}", c, text))
    for i in range(100, 112):
        c = [cats[i % 4]]
        docs.append(("test", f"{i:04d}", c, f"Test doc.\n {words[c[0]]} zebra patients"))
    return docs


def write_joachims(root: Path, docs=None, with_split: bool = True) -> Path:
    for split, doc_id, cats, text in docs or _docs():
        for c in cats:
            d = root / split / c if with_split else root / c
            d.mkdir(parents=True, exist_ok=True)
            (d / doc_id).write_text(text)
    return root


# ---------------------------------------------------------------- registration and tasks


def test_loaders_registered_with_category_tasks(arff_fixture, tmp_path):
    assert {"ohsumed_arff", "ohsumed_folders"} <= set(loader_names())
    path, _, _ = arff_fixture
    tasks = get_loader("ohsumed_arff").tasks(OhsumedArffOptions(path=str(path)))
    assert [t.name for t in tasks] == CODES
    c01 = tasks[0]
    assert (c01.kind, c01.metric, c01.classes) == ("binary", "f1", ("negative", "positive"))
    assert c01.title == OHSUMED_CATEGORIES["C01"].name and c01.description == OHSUMED_CATEGORIES["C01"].description
    assert c01.title and c01.description
    folder = write_joachims(tmp_path / "j")
    assert [t.name for t in get_loader("ohsumed_folders").tasks(OhsumedFoldersOptions(path=str(folder)))] == CODES


def test_options_are_checked():
    with pytest.raises(ValueError):
        OhsumedArffOptions(path="x.arff", test_fraction=1.5)
    with pytest.raises(ValueError):
        OhsumedFoldersOptions(path="x", unknown=1)


# ---------------------------------------------------------------- ARFF


def test_arff_reader_sparse_dense_and_nominal(tmp_path):
    text = """% comment
@RELATION "r: -C -1"
@attribute 'a b' NUMERIC
@attribute c real
@attribute lab {yes,no}

@DATA
{0 1.5,2 no}
{1 -2}
0,3,yes
% comment in data
{}
"""
    path = tmp_path / "t.arff"
    path.write_text(text)
    d = read_arff(path)
    h = d.header
    assert [a.name for a in h.attributes] == ["a b", "c", "lab"]
    assert h.label_indices() == [2]  # -C -1: the last attribute
    assert d.num_rows == 4 and d.row_lines.tolist() == [8, 9, 10, 12]
    # nominal values are stored as declaration indices; an omitted sparse nominal value is the first one
    np.testing.assert_array_equal(d.dense(), [[1.5, 0, 1], [0, -2, 0], [0, 3, 0], [0, 0, 0]])
    np.testing.assert_array_equal(d.dense([2, 0]), [[1, 1.5], [0, 0], [0, 0], [0, 0]])
    gz = tmp_path / "t.arff.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    np.testing.assert_array_equal(read_arff(gz).dense(), d.dense())


def test_arff_table_maps_labels_by_name(arff_fixture, tmp_path):
    path, y, x = arff_fixture
    assert read_header(path).attributes[0].name == "C23"  # declared out of order
    table_path = prepare("ohsumed_arff", OhsumedArffOptions(path=str(path), seed=3), tmp_path / "cache")
    info = read_info(table_path)
    assert info.task_names == CODES and info.input_dim == 4
    assert info.extra["feature_names"] == [f"word {j}" for j in range(4)]
    table = pq.read_table(table_path)
    got_y = np.stack([table.column(c).to_numpy() for c in CODES], axis=1)
    np.testing.assert_array_equal(got_y, y)
    got_x = np.asarray(table.column("x").combine_chunks().values).reshape(len(y), 4)
    assert got_x.dtype == np.float32
    np.testing.assert_allclose(got_x, x.astype(np.float32))
    split = np.asarray(table.column("split").to_pylist())
    sizes = {s: int((split == s).sum()) for s in ("train", "val", "test")}
    assert sum(sizes.values()) == len(y) and len(set(table.column("id").to_pylist())) == len(y)
    # iterative stratification trades a little size accuracy for label balance (every row here has ~4.6 labels)
    assert abs(sizes["test"] - 0.2 * len(y)) <= 0.05 * len(y) and abs(sizes["val"] - 0.1 * 0.8 * len(y)) <= 0.05 * len(y)
    for s in ("train", "val", "test"):
        assert (got_y[split == s].sum(0) > 0).all(), f"a label has no positive in {s}"
    arrays = read_splits(table_path, CODES)
    assert arrays["train"].x.shape == (sizes["train"], 4)


def test_arff_split_seeded_and_fingerprint_follows_the_data(arff_fixture, tmp_path):
    path, y, x = arff_fixture
    loader = get_loader("ohsumed_arff")
    a = prepare("ohsumed_arff", OhsumedArffOptions(path=str(path)), tmp_path / "a")
    b = prepare("ohsumed_arff", OhsumedArffOptions(path=str(path)), tmp_path / "b")
    c = prepare("ohsumed_arff", OhsumedArffOptions(path=str(path), seed=1), tmp_path / "c")
    assert pq.read_table(a).column("split").equals(pq.read_table(b).column("split"))
    assert not pq.read_table(a).column("split").equals(pq.read_table(c).column("split"))
    copy = tmp_path / "elsewhere" / "copy.arff"
    copy.parent.mkdir()
    shutil.copy(path, copy)
    fp = loader.fingerprint(OhsumedArffOptions(path=str(path)))
    assert loader.fingerprint(OhsumedArffOptions(path=str(copy))) == fp  # same data, another place: same table
    with open(copy, "a") as f:
        f.write("{0 1,23 2}\n")
    assert loader.fingerprint(OhsumedArffOptions(path=str(copy))) != fp
    rebuilt = prepare("ohsumed_arff", OhsumedArffOptions(path=str(copy)), tmp_path / "a")
    assert rebuilt != a and pq.read_table(rebuilt).num_rows == len(y) + 1


def test_path_expansion_and_missing_path(arff_fixture, monkeypatch, tmp_path):
    path, _, _ = arff_fixture
    monkeypatch.setenv("OHS_TEST_DIR", str(path.parent))
    loader = get_loader("ohsumed_arff")
    assert len(loader.tasks(OhsumedArffOptions(path="${OHS_TEST_DIR}/mini.arff"))) == 23
    assert len(loader.tasks(OhsumedArffOptions(path="$OHS_TEST_DIR/mini.arff"))) == 23
    monkeypatch.setenv("HOME", str(path.parent))
    assert len(loader.tasks(OhsumedArffOptions(path="~/mini.arff"))) == 23

    monkeypatch.delenv("OHS_UNSET_VAR", raising=False)
    with pytest.raises(DataError) as e:
        loader.tasks(OhsumedArffOptions(path="${OHS_UNSET_VAR}/ohsumed/x.arff"))
    msg = str(e.value)
    assert "'${OHS_UNSET_VAR}/ohsumed/x.arff'" in msg and "$OHS_UNSET_VAR is not set" in msg and e.value.exit_code == 2
    with pytest.raises(DataError) as e:
        prepare("ohsumed_arff", OhsumedArffOptions(path="${OHS_TEST_DIR}/nope.arff"), tmp_path / "cache")
    assert f"{path.parent}/nope.arff" in str(e.value) and "not set" not in str(e.value)


GOOD_HEADER = (
    "@relation 'x: -C 23'\n"
    + "".join(f"@attribute {c} {{0,1}}\n" for c in CODES)
    + "@attribute w1 numeric\n@attribute w2 numeric\n@data\n"
)
HEADER_LINES = GOOD_HEADER.count("\n")


@pytest.mark.parametrize(
    "body, line, words",
    [
        ("{0 1,23 1}\n{1 1,24 2\n", 2, "truncated"),  # sparse row cut off
        ("{0 1,23 1}\n{3 1,25 1}\n", 2, "index 25 out of range"),
        ("{0 1,23 abc}\n", 1, "'abc'"),
        ("{0 1,x 1}\n", 1, "not an integer"),
        ("{0 1,23}\n", 1, "truncated"),
        ("{0 2}\n", 1, "not one of its declared values"),
        ("0,1,0,0,0\n", 1, "5 values"),  # dense row too short
        ("{0 1,23 ?}\n", 1, "missing"),
    ],
)
def test_malformed_arff_names_file_and_line(tmp_path, body, line, words):
    path = tmp_path / "bad.arff"
    path.write_text(GOOD_HEADER + body)
    with pytest.raises(DataError) as e:
        read_arff(path)
    assert f"{path}:{HEADER_LINES + line}:" in str(e.value)
    assert words in str(e.value)


def test_missing_meka_label_count_and_bad_labels(tmp_path):
    path = tmp_path / "nolabels.arff"
    path.write_text(GOOD_HEADER.replace("x: -C 23", "plain") + "{0 1}\n")
    with pytest.raises(DataError, match=r"no MEKA label count.*-C 23") as e:
        get_loader("ohsumed_arff").tasks(OhsumedArffOptions(path=str(path)))
    assert str(path) in str(e.value)
    path.write_text(GOOD_HEADER.replace("C07", "Heart") + "{0 1}\n")
    with pytest.raises(DataError, match="'Heart'.*not an OHSUMED category"):
        get_loader("ohsumed_arff").tasks(OhsumedArffOptions(path=str(path)))
    path.write_text(GOOD_HEADER.replace("-C 23", "-C 22") + "{0 1}\n")
    with pytest.raises(DataError, match="lack categories C23"):
        get_loader("ohsumed_arff").tasks(OhsumedArffOptions(path=str(path)))
    path.write_text("@relation 'x: -C 23'\n@attribute C01 {0,1}\n")
    with pytest.raises(DataError, match="no @data"):
        read_arff(path)


# ---------------------------------------------------------------- stratification


def test_iterative_stratification_spreads_rare_labels():
    rng = np.random.default_rng(0)
    n = 2000
    y = np.zeros((n, 6), dtype=int)
    for k, p in enumerate([0.3, 0.1, 0.02, 0.006, 0.005, 0.004]):
        y[:, k] = rng.random(n) < p
    y[:50] = 0  # some unlabelled rows
    ratios = [0.7, 0.1, 0.2]
    a = iterative_stratification(y, ratios, seed=5)
    assert np.array_equal(a, iterative_stratification(y, ratios, seed=5))
    assert not np.array_equal(a, iterative_stratification(y, ratios, seed=6))
    sizes = np.bincount(a, minlength=3)
    assert np.all(np.abs(sizes - np.array(ratios) * n) <= 0.01 * n)
    for j, r in enumerate(ratios):
        per_label = y[a == j].sum(0)
        assert (per_label[r * y.sum(0) >= 1] >= 1).all()  # a label expected at least once in a split is there
        assert np.all(np.abs(per_label - r * y.sum(0)) <= 1.0 + 0.02 * y.sum(0))

    # rarer labels are spread far better than a random split of the same sizes does on average
    def spread(assign):
        return sum(abs(y[assign == j].sum(0) - r * y.sum(0)).sum() for j, r in enumerate(ratios))

    rand = [spread(np.random.default_rng(s).permutation(a)) for s in range(20)]
    assert spread(a) < 0.5 * np.mean(rand)
    second = iterative_stratification(y, ratios, seed=5, order=2)
    assert (np.bincount(second, minlength=3) > 0).all()
    names = stratified_splits(y, val_fraction=0.1, test_fraction=None, seed=0)
    assert set(names) == {"train", "val"}


# ---------------------------------------------------------------- Joachims' folders


def _table(path):
    t = pq.read_table(path)
    return t, np.asarray(t.column("split").to_pylist()), t.column("id").to_pylist()


def test_folders_multilabel_doc_text_and_vocabulary(tmp_path):
    root = write_joachims(tmp_path / "ohsumed-mini")
    opts = OhsumedFoldersOptions(path=str(root), vocab_size=12, weighting="count")
    table_path = prepare("ohsumed_folders", opts, tmp_path / "cache")
    info = read_info(table_path)
    t, split, ids = _table(table_path)
    docs = _docs()
    assert len(ids) == len(docs) == len(set(ids))  # 0001 under C01 and C05 is one document
    row = ids.index("0001")
    assert t.column("C01")[row].as_py() == 1 and t.column("C05")[row].as_py() == 1 and t.column("C04")[row].as_py() == 0
    assert t.column("text")[row].as_py().startswith("Sepsis after fracture.")
    assert info.extra["text_column"] == "text"
    test_ids = {d[1] for d in docs if d[0] == "test"}
    assert {i for i, s in zip(ids, split) if s == "test"} == test_ids
    assert (split == "val").sum() >= 3 and (split == "train").sum() + (split == "val").sum() == len(docs) - len(test_ids)
    vocab = info.extra["vocabulary"]
    assert len(vocab) == 12 == info.input_dim
    full = read_info(
        prepare("ohsumed_folders", OhsumedFoldersOptions(path=str(root), vocab_size=1000), tmp_path / "cache")
    ).extra["vocabulary"]
    assert "sepsis" in full and "zebra" not in full  # test documents never shape the vocabulary
    assert "the" not in vocab and "of" not in vocab  # English stop words left out
    assert set(vocab[:4]) == {"document", "patients", "study", "title"}  # in 40 of the 41 training documents
    x = read_splits(table_path, info.task_names)
    counts = np.asarray(t.column("x").combine_chunks().values).reshape(len(ids), 12)
    j = vocab.index("patients")
    assert counts[row, j] == 0 and counts[ids.index("0002"), j] == 1
    assert x["test"].x.shape == ((split == "test").sum(), 12)
    log = prepare("ohsumed_folders", OhsumedFoldersOptions(path=str(root), vocab_size=12), tmp_path / "cache")
    assert log != table_path
    np.testing.assert_allclose(
        np.asarray(pq.read_table(log).column("x").combine_chunks().values).reshape(len(ids), 12), np.log1p(counts), rtol=1e-6
    )


def test_folders_from_tar_gz_match_the_folder(tmp_path):
    root = write_joachims(tmp_path / "src" / "ohsumed-mini")
    archive = tmp_path / "ohsumed-mini.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="ohsumed-first-docs")  # a top-level folder inside the archive
    a = prepare("ohsumed_folders", OhsumedFoldersOptions(path=str(root)), tmp_path / "cache")
    b = prepare("ohsumed_folders", OhsumedFoldersOptions(path=str(archive)), tmp_path / "cache")
    assert a != b
    ta, tb = pq.read_table(a), pq.read_table(b)
    for col in ta.column_names:
        assert ta.column(col).equals(tb.column(col)), col
    assert read_info(b).name == "ohsumed-mini"


def test_folders_without_split_carve_test(tmp_path):
    root = write_joachims(tmp_path / "all", with_split=False)
    t, split, ids = _table(prepare("ohsumed_folders", OhsumedFoldersOptions(path=str(root), test_fraction=0.25), tmp_path / "c"))
    assert set(split) == {"train", "val", "test"} and abs((split == "test").sum() - 0.25 * len(ids)) <= 2


@pytest.mark.parametrize(
    "docs, words",
    [
        ([("training", "0001", ["C01"], "a b"), ("test", "0001", ["C02"], "a b")], "both the training and the test"),
        ([("training", "0001", ["C01"], "a b"), ("training", "0001", ["C02"], "other text")], "differs from its copy"),
        ([("training", "0001", ["C24"], "a b")], "'C24' is not an OHSUMED category"),
        ([("other", "0001", ["notacategory"], "a b")], "no documents"),
        ([("test", "0001", ["C01"], "a b")], "no documents under training"),
    ],
)
def test_folders_errors(tmp_path, docs, words):
    root = write_joachims(tmp_path / "bad", docs)
    with pytest.raises(DataError, match=words):
        get_loader("ohsumed_folders").build(OhsumedFoldersOptions(path=str(root)), "fp")


def test_folders_missing_path_and_bad_archive(tmp_path):
    with pytest.raises(DataError, match="OHSUMED folder not found"):
        get_loader("ohsumed_folders").tasks(OhsumedFoldersOptions(path=str(tmp_path / "missing")))
    bad = tmp_path / "broken.tar.gz"
    bad.write_bytes(b"not a tar")
    with pytest.raises(DataError, match="cannot read the archive"):
        get_loader("ohsumed_folders").build(OhsumedFoldersOptions(path=str(bad)), "fp")


def test_tokenize():
    assert tokenize("Heart-Attack in 2 of 10 MI patients.") == ["heart", "attack", "in", "of", "10", "mi", "patients"]


# ---------------------------------------------------------------- real data


@pytest.fixture()
def real_data_env(monkeypatch):
    monkeypatch.setenv("MTLSEARCH_DATA", str(DATA))


@pytest.mark.skipif(
    not REAL_ARFF.is_file(), reason=f"real OHSUMED ARFF not found at {REAL_ARFF} (set MTLSEARCH_DATA to the shared data folder)"
)
def test_real_arff(real_data_env, tmp_path):
    path = prepare("ohsumed_arff", OhsumedArffOptions(path="${MTLSEARCH_DATA}/ohsumed/meka_arff/OHSUMED-F.arff"), tmp_path)
    info = read_info(path)
    report = inspect_table(str(path))
    assert sum(report["size"].values()) == 13929
    assert report["num_tasks"] == 23 and info.task_names == CODES
    assert info.input_dim == 1002
    assert report["label_cardinality_binary"] == pytest.approx(1.663, abs=0.001)
    table = pq.read_table(path, columns=["id", "split"])
    assert len(set(table.column("id").to_pylist())) == 13929
    assert report["size"]["test"] == pytest.approx(0.2 * 13929, abs=30)
    assert report["size"]["val"] == pytest.approx(0.1 * 0.8 * 13929, abs=30)
    for t in report["tasks"]:
        for s in ("train", "val", "test"):
            assert t["counts"][s]["positive"] > 0, f"{t['name']} has no positive in {s}"
        share = t["counts"]["test"]["positive"] / sum(t["counts"][s]["positive"] for s in ("train", "val", "test"))
        assert share == pytest.approx(0.2, abs=0.02), t["name"]


@pytest.mark.skipif(
    not REAL_FOLDERS.is_dir(),
    reason=f"real OHSUMED folders not found at {REAL_FOLDERS} (set MTLSEARCH_DATA to the shared data folder)",
)
def test_real_folders(real_data_env, tmp_path):
    opts = OhsumedFoldersOptions(path="${MTLSEARCH_DATA}/ohsumed/text_gcn_single_23/data/ohsumed_single_23")
    path = prepare("ohsumed_folders", opts, tmp_path)
    report = inspect_table(str(path))
    assert report["size"]["train"] + report["size"]["val"] == 3357
    assert report["size"]["test"] == 4043
    assert report["num_tasks"] == 23 and read_info(path).input_dim == 2000
    assert report["label_cardinality_binary"] == pytest.approx(1.0)  # the single-label subset
    for t in report["tasks"]:
        assert t["counts"]["train"]["positive"] > 0 and t["counts"]["test"]["positive"] > 0, t["name"]
    assert get_loader("ohsumed_folders").fingerprint(opts) == read_info(path).fingerprint
