"""``loader: arff``: MEKA (``-C N``) and MULAN (label XML) ARFF files, label selection, features, errors; ohsumed_arff as its preset."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_DATA
from pydantic import ValidationError

from mtlsearch.data.arff_dataset import ArffOptions
from mtlsearch.data.canonical import read_info
from mtlsearch.data.ohsumed import OhsumedArffOptions
from mtlsearch.data.registry import get_loader, prepare
from mtlsearch.errors import DataError

REAL_ARFF = SHARED_DATA / "ohsumed" / "meka_arff" / "OHSUMED-F.arff"
CODES = [f"C{i:02d}" for i in range(1, 24)]

# ---------------------------------------------------------------- fixtures

N = 90
FEATURES = [("f1", "numeric"), ("f2", "real"), ("f3", "integer")]
LABELS = [("L1", "{0,1}"), ("L2", "{0,1}"), ("L3", "{0,1}")]


def _data(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.round(rng.random((n, 3)) * 4, 2) * (rng.random((n, 3)) < 0.6)  # some zeros, for sparse rows
    y = (rng.random((n, 3)) < np.array([0.5, 0.4, 0.3])).astype(int)
    return x, y


def _value(v: float | int) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def write_arff(path: Path, relation: str, attributes: list[tuple[str, str]], rows: list[list], sparse: bool = False) -> Path:
    lines = ["% a fixture", f"@relation '{relation}'", ""]
    lines += [f"@attribute {name} {typ}" for name, typ in attributes]
    lines += ["", "@data"]
    for row in rows:
        if sparse:
            # nominal values are written as themselves; numeric zeros (and nominal first-declared values) are left out
            items = []
            for i, v in enumerate(row):
                typ = attributes[i][1]
                first = typ.startswith("{") and str(v) == typ[1:-1].split(",")[0]
                if not (first or (not typ.startswith("{") and v == 0)):
                    items.append(f"{i} {_value(v)}")
            lines.append("{" + ",".join(items) + "}")
        else:
            lines.append(",".join(_value(v) for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def mulan_file(tmp_path: Path, *, sparse: bool = False, name: str = "mulan.arff") -> tuple[Path, np.ndarray, np.ndarray]:
    """MULAN's layout: features first, labels last, no -C in the relation name."""
    x, y = _data()
    rows = [[*map(float, x[i]), *map(int, y[i])] for i in range(N)]
    return write_arff(tmp_path / name, "mulan-fixture", FEATURES + LABELS, rows, sparse), x, y


def meka_file(tmp_path: Path, c: int, *, sparse: bool = False) -> tuple[Path, np.ndarray, np.ndarray]:
    """MEKA's layout: ``-C 3`` (labels first) or ``-C -3`` (labels last)."""
    x, y = _data()
    if c > 0:
        attrs, rows = LABELS + FEATURES, [[*map(int, y[i]), *map(float, x[i])] for i in range(N)]
    else:
        attrs, rows = FEATURES + LABELS, [[*map(float, x[i]), *map(int, y[i])] for i in range(N)]
    return write_arff(tmp_path / f"meka{c}.arff", f"meka-fixture: -C {c} -split 10", attrs, rows, sparse), x, y


def _build(tmp_path: Path, **options):
    path = prepare("arff", ArffOptions(**options), tmp_path / "cache")
    return read_info(path), pq.read_table(path)


def _x(table) -> np.ndarray:
    col = table.column("x").combine_chunks()
    return np.asarray(col.flatten()).reshape(len(col), -1)


def _labels(table, names) -> np.ndarray:
    return np.stack([table.column(n).to_numpy() for n in names], axis=1)


# ---------------------------------------------------------------- layouts and selections


def test_mulan_layout_through_the_registry(tmp_path):
    path, x, y = mulan_file(tmp_path)
    info, table = _build(tmp_path, path=str(path), labels={"last": 3})
    assert info.task_names == ["L1", "L2", "L3"] and info.name == "mulan"
    assert all(t.kind == "binary" and t.classes == ("negative", "positive") and t.metric == "f1" for t in info.tasks)
    assert table.column("id").to_pylist() == [f"row{i:02d}" for i in range(N)]
    assert np.array_equal(_labels(table, info.task_names), y)
    assert np.allclose(_x(table), x) and info.input_dim == 3
    assert info.extra["feature_names"] == ["f1", "f2", "f3"]
    assert info.extra["loader"] == "arff" and info.extra["relation"] == "mulan-fixture"
    assert "iterative stratification" in info.extra["split_method"]
    sizes = {s: info.extra["splits"][s]["size"] for s in ("train", "val", "test")}
    assert sizes["test"] == pytest.approx(0.2 * N, abs=2) and sizes["val"] == pytest.approx(0.15 * 0.8 * N, abs=2)
    assert get_loader("arff").fingerprint(ArffOptions(path=str(path), labels={"last": 3})) == info.fingerprint


@pytest.mark.parametrize("c", [3, -3])
def test_meka_label_count_dense_and_sparse_give_the_same_table(tmp_path, c):
    path, x, y = meka_file(tmp_path, c)
    info, dense = _build(tmp_path / "dense", path=str(path))
    assert info.task_names == ["L1", "L2", "L3"]
    assert np.array_equal(_labels(dense, info.task_names), y) and np.allclose(_x(dense), x)
    (tmp_path / "s").mkdir()
    sparse_path, _, _ = meka_file(tmp_path / "s", c, sparse=True)
    assert "{" in sparse_path.read_text().splitlines()[-1]
    sparse_info, sparse = _build(tmp_path / "sparse", path=str(sparse_path))
    assert sparse.drop(["x"]).equals(dense.drop(["x"])) and np.array_equal(_x(sparse), _x(dense))
    assert sparse_info.extra["splits"] == info.extra["splits"]
    # the header alone gives the tasks
    assert [t.name for t in get_loader("arff").tasks(ArffOptions(path=str(path)))] == ["L1", "L2", "L3"]


def test_first_globs_names_and_their_order(tmp_path):
    path, _, y = meka_file(tmp_path, 3)
    loader = get_loader("arff")

    def names(labels):
        return [t.name for t in loader.tasks(ArffOptions(path=str(path), labels=labels))]

    assert names({"first": 2}) == ["L1", "L2"]
    assert names({"last": 1}) == ["f3"]
    assert names(["L*"]) == ["L1", "L2", "L3"]
    assert names(["L3", "L1"]) == ["L3", "L1"]
    assert names(["L3", "L*"]) == ["L3", "L1", "L2"]
    assert names("L2") == ["L2"]
    info, table = _build(tmp_path, path=str(path), labels=["L3", "L1"])
    assert info.task_names == ["L3", "L1"] and np.array_equal(_labels(table, ["L3", "L1"]), y[:, [2, 0]])
    assert info.extra["feature_names"] == ["L2", "f1", "f2", "f3"]  # an unselected label attribute is a feature


def test_mulan_xml_nested_labels_relative_path_and_fingerprint(tmp_path):
    path, _, y = mulan_file(tmp_path)
    xml = tmp_path / "mulan.xml"
    xml.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<labels xmlns="http://mulan.sourceforge.net/labels">\n'
        '  <label name="L1"><label name="L3"></label></label>\n'
        '  <label name="L2"></label>\n'
        "</labels>\n"
    )
    options = {"path": str(path), "labels": {"mulan_xml": "mulan.xml"}}  # relative to the ARFF file's folder
    assert [t.name for t in get_loader("arff").tasks(ArffOptions(**options))] == ["L1", "L3", "L2"]
    info, table = _build(tmp_path, **options)
    assert info.task_names == ["L1", "L3", "L2"]
    assert np.array_equal(_labels(table, info.task_names), y[:, [0, 2, 1]])
    fp = get_loader("arff").fingerprint(ArffOptions(**options))
    xml.write_text('<labels xmlns="http://mulan.sourceforge.net/labels"><label name="L2"/><label name="L1"/></labels>')
    assert get_loader("arff").fingerprint(ArffOptions(**options)) != fp
    assert [t.name for t in get_loader("arff").tasks(ArffOptions(**options))] == ["L2", "L1"]


def test_multiclass_label_nominal_and_numeric_features(tmp_path):
    severity = ["severe", "mild", "moderate"]  # declaration order, not sorted
    colours = ["red", "green", "blue"]
    rng = np.random.default_rng(1)
    attrs = [
        ("num", "numeric"),
        ("colour", "{red,green,blue}"),
        ("flag", "{1,0}"),  # a {0,1} feature declared the other way round: kept as its 0/1 value
        ("severity", "{severe,mild,moderate}"),
        ("L1", "numeric"),  # a numeric 0/1 label is binary
    ]
    rows = [
        [float(i), colours[i % 3], int(rng.random() < 0.5), severity[(i // 2) % 3], int(rng.random() < 0.5)] for i in range(N)
    ]
    path = write_arff(tmp_path / "mixed.arff", "mixed", attrs, rows, sparse=True)
    info, table = _build(tmp_path, path=str(path), labels={"last": 2})
    sev = info.task("severity")
    assert sev.kind == "multiclass" and sev.classes == tuple(severity) and sev.metric == "macro_f1"
    assert table.column("severity").to_pylist() == [severity.index(r[3]) for r in rows]
    assert info.task("L1").kind == "binary" and table.column("L1").to_pylist() == [r[4] for r in rows]
    assert info.extra["feature_names"] == ["num", "colour=red", "colour=green", "colour=blue", "flag"]
    x = _x(table)
    assert np.array_equal(x[:, 0], [r[0] for r in rows])
    assert np.array_equal(x[:, 1:4], np.eye(3)[[colours.index(r[1]) for r in rows]])
    assert np.array_equal(x[:, 4], [r[2] for r in rows])
    assert "moderate" in info.extra["splits"]["test"]["positives"]["severity"]
    tasks = get_loader("arff").tasks(ArffOptions(path=str(path), labels={"last": 2}))
    assert [(t.name, t.kind, t.classes) for t in tasks] == [
        ("severity", "multiclass", tuple(severity)),
        ("L1", "binary", ("negative", "positive")),
    ]


def test_descriptions_and_reserved_names(tmp_path):
    x, y = _data()
    attrs = [*FEATURES, ("split", "{0,1}"), ("L2", "{0,1}")]
    rows = [[*map(float, x[i]), int(y[i, 0]), int(y[i, 1])] for i in range(N)]
    path = write_arff(tmp_path / "named.arff", "named", attrs, rows)
    (tmp_path / "desc.yaml").write_text("split_label: {title: Splitting, description: an unlucky name}\nL2: the second\n")
    options = {"path": str(path), "labels": {"last": 2}, "descriptions": "desc.yaml"}
    tasks = get_loader("arff").tasks(ArffOptions(**options))
    assert [(t.name, t.title, t.description) for t in tasks] == [
        ("split_label", "Splitting", "an unlucky name"),
        ("L2", "", "the second"),
    ]
    info, table = _build(tmp_path, **options)
    assert info.tasks == tuple(tasks) and table.column("split_label").to_pylist() == y[:, 0].tolist()


# ---------------------------------------------------------------- errors


def test_option_shapes_are_checked():
    for bad, words in [
        ({"first": 0}, "greater than or equal to 1"),
        ({"first": 1, "last": 2}, "expected labels: {first: N}"),
        ({"names": ["a"]}, "keys ['names']"),
        ([], "a non-empty list of attribute names"),
        (["L1", 2], "a non-empty list of attribute names"),
        (3, "got int 3"),
        ({"mulan_xml": "a.xml", "extra": 1}, "keys ['extra', 'mulan_xml']"),
    ]:
        with pytest.raises(ValidationError, match=r"(?s)labels.*" + re.escape(words)):
            ArffOptions(path="x.arff", labels=bad)
    assert ArffOptions(path="x.arff").val_fraction == 0.15


def _error(options: dict, words: list[str], method: str = "tasks") -> str:
    loader = get_loader("arff")
    with pytest.raises(DataError) as e:
        getattr(loader, method)(ArffOptions(**options), *(["fp"] if method == "build" else []))
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    return str(e.value)


def test_label_selection_errors(tmp_path):
    path, _, _ = mulan_file(tmp_path)
    p = str(path)
    msg = _error({"path": p, "labels": ["l2"]}, [p, "labels", "no attribute 'l2'", "did you mean 'L2'"])
    assert "the file has: f1, f2, f3, L1, L2, L3" in msg
    _error({"path": p, "labels": ["Class-*"]}, [p, "glob matches no attribute 'Class-*'"])
    _error({"path": p, "labels": {"first": 6}}, [p, "{first: 6}", "declares 6 attributes"])
    _error({"path": p, "labels": {"last": 9}}, [p, "{last: 9}", "declares 6 attributes", "at most 5"])
    msg = _error({"path": p}, [p, "no MEKA label count", "-C 23", "set labels:", "mulan_xml"])
    (tmp_path / "bad.xml").write_text(
        '<labels xmlns="http://mulan.sourceforge.net/labels"><label name="L1"/><label name="l3"/></labels>'
    )
    _error(
        {"path": p, "labels": {"mulan_xml": "bad.xml"}},
        ["bad.xml", "labels: mulan_xml", "no attribute 'l3'", "did you mean 'L3'", p],
    )
    _error({"path": p, "labels": {"mulan_xml": "missing.xml"}}, ["MULAN label XML file", "missing.xml", "not found"])
    (tmp_path / "broken.xml").write_text("<labels><label name='L1'>")
    _error({"path": p, "labels": {"mulan_xml": "broken.xml"}}, ["broken.xml", "not a MULAN label XML file"])
    (tmp_path / "other.xml").write_text("<tags><label name='L1'/></tags>")
    _error({"path": p, "labels": {"mulan_xml": "other.xml"}}, ["other.xml", "<tags>", "<labels>"])
    _error({"path": str(tmp_path / "nope.arff"), "labels": {"last": 3}}, ["ARFF file not found", "nope.arff"])


def test_label_value_errors(tmp_path):
    x, y = _data()
    rows = [[*map(float, x[i]), 1, int(y[i, 1]), 2 if i == 5 else int(y[i, 2])] for i in range(N)]
    attrs = [*FEATURES, ("const", "{0,1}"), ("L2", "{0,1}"), ("count", "numeric")]
    path = write_arff(tmp_path / "bad.arff", "bad", attrs, rows)
    _error({"path": str(path), "labels": ["const", "L2"]}, [str(path), "'const' is constant", "leave it out of labels"], "build")
    _error(
        {"path": str(path), "labels": ["count"]},
        [f"{path}:{len(attrs) + 6 + 5}:", "'count'", "numeric", "holds 2", "0/1"],
        "build",
    )
    rows = [[*map(float, x[i]), "b", 1, 0] for i in range(N)]
    path = write_arff(tmp_path / "constmc.arff", "c", [*FEATURES, ("mc", "{a,b,c}"), ("L", "{0,1}"), ("M", "{0,1}")], rows)
    _error({"path": str(path), "labels": ["mc"]}, ["'mc' is constant", "'b'"], "build")
    rows = [[i % 2, (i // 2) % 2] for i in range(N)]
    path = write_arff(tmp_path / "all.arff", "all: -C 2", [("A", "{0,1}"), ("B", "{0,1}")], rows)
    _error({"path": str(path)}, [str(path), "no feature attributes besides the 2 labels"], "build")


def test_a_task_with_no_positive_in_a_split(tmp_path, caplog):
    x, y = _data()
    rare = np.zeros(N, dtype=int)
    rare[7] = 1  # one positive: two splits have none
    rows = [[*map(float, x[i]), int(y[i, 0]), int(rare[i])] for i in range(N)]
    path = write_arff(tmp_path / "rare.arff", "rare: -C -2", [*FEATURES, ("L1", "{0,1}"), ("Rare", "{0,1}")], rows)
    _error({"path": str(path)}, [str(path), "'Rare'", "no positive in a split", "drop_rare: true"], "build")
    with caplog.at_level(logging.WARNING):
        info, table = _build(tmp_path, path=str(path), drop_rare=True)
    assert info.task_names == ["L1"] and "Rare" not in table.column_names
    assert "drop_rare dropped 1 task" in caplog.text and "'Rare'" in caplog.text


# ---------------------------------------------------------------- the real OHSUMED file: ohsumed_arff is a preset of arff


@pytest.fixture(scope="module")
def real_tables():
    if not REAL_ARFF.is_file():
        pytest.skip(f"real OHSUMED ARFF not found at {REAL_ARFF} (set MTLSEARCH_DATA to the shared data folder)")
    preset = get_loader("ohsumed_arff")
    generic = get_loader("arff")
    out = {}
    for key, loader, options in [
        ("preset", preset, OhsumedArffOptions(path=str(REAL_ARFF))),
        ("names", generic, ArffOptions(path=str(REAL_ARFF), labels=CODES, val_fraction=0.1, test_fraction=0.2, seed=0)),
        ("meka", generic, ArffOptions(path=str(REAL_ARFF), val_fraction=0.1)),
    ]:
        out[key] = loader.build(options, "fp")
    return out


def test_real_arff_generic_loader_equals_the_preset(real_tables):
    info_p, preset = real_tables["preset"]
    info_g, generic = real_tables["names"]
    assert preset.num_rows == generic.num_rows == 13929
    assert info_g.task_names == info_p.task_names == CODES
    for column in ("id", "split", "x", *CODES):
        assert generic.column(column).equals(preset.column(column)), column
    assert info_g.extra["feature_names"] == info_p.extra["feature_names"] and info_g.input_dim == info_p.input_dim == 1002
    assert info_g.extra["splits"] == info_p.extra["splits"]
    # the preset's tasks carry the MeSH headings and scope notes
    assert info_p.task("C14").title and info_p.task("C14").description and not info_g.task("C14").title
    assert {"loader", "source", "relation", "feature_names", "split_method", "splits"} <= set(info_p.extra)


def test_real_arff_meka_label_count_gives_the_same_label_sets(real_tables):
    _, preset = real_tables["preset"]
    info_m, meka = real_tables["meka"]
    names = info_m.task_names
    assert sorted(names) == CODES and names[:3] == ["C12", "C04", "C19"]  # declaration order
    assert meka.column("id").equals(preset.column("id"))
    y_meka, y_preset = _labels(meka, names), _labels(preset, CODES)
    sets_meka = [frozenset(n for n, v in zip(names, row) if v) for row in y_meka]
    sets_preset = [frozenset(n for n, v in zip(CODES, row) if v) for row in y_preset]
    assert sets_meka == sets_preset
    assert meka.column("x").equals(preset.column("x"))
