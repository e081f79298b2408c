"""``loader: table``: every format, option and bad-data error, on small files built here; and Open-I's CSV.

Fixtures are written to ``tmp_path`` by the tests; the real-data test reads
``$MTLSEARCH_DATA/openi/indiana_reports.csv`` and skips when it is absent.
"""

from __future__ import annotations

import csv
import gzip
import http.server
import json
import logging
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_DATA
from pydantic import ValidationError

from mtlsearch.data.canonical import read_info
from mtlsearch.data.registry import get_loader, prepare
from mtlsearch.data.table import TableOptions
from mtlsearch.errors import DataError

RNG = np.random.default_rng(0)


def write_csv(path: Path, header: list[str], rows: list[list], delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def patients(n: int = 120, seed: int = 0) -> tuple[list[str], list[list]]:
    """A table of n rows: id, patient, two features, three binary labels (0/1, yes/no, true/false with NA), one multiclass, a note."""
    rng = np.random.default_rng(seed)
    header = ["pid", "patient", "age", "bmi", "dx_copd", "dx_asthma", "dx_flu", "severity", "note"]
    rows = []
    for i in range(n):
        age, bmi = rng.normal(50, 10), rng.normal(25, 3)
        copd = int(age + rng.normal(0, 5) > 52)
        asthma = "yes" if bmi + rng.normal(0, 2) > 26 else "no"
        flu = "NA" if i % 17 == 0 else ("true" if (i % 3 == 0) else "false")
        severity = ["mild", "moderate", "severe"][i % 3]
        rows.append(
            [
                f"p{i:03d}",
                f"h{i // 3}",
                f"{age:.2f}",
                f"{bmi:.2f}",
                copd,
                asthma,
                flu,
                severity,
                f"cough wheeze {'crackle' if copd else 'clear'} note {i}",
            ]
        )
    return header, rows


def load(**options):
    loader = get_loader("table")
    opts = TableOptions(**options)
    return loader.build(opts, loader.fingerprint(opts))


def column(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_pylist())


# ---------------------------------------------------------------- formats and options


def test_csv_with_label_globs_kinds_and_default_features(tmp_path):
    path = write_csv(tmp_path / "clinic.csv", *patients())
    info, table = load(path=str(path), labels=["dx_*", "severity"], id_column="pid")
    assert info.task_names == ["dx_copd", "dx_asthma", "dx_flu", "severity"]
    kinds = {t.name: (t.kind, t.classes, t.metric) for t in info.tasks}
    assert kinds["dx_asthma"] == ("binary", ("negative", "positive"), "f1")
    assert kinds["severity"] == ("multiclass", ("mild", "moderate", "severe"), "macro_f1")
    assert info.extra["feature_names"] == ["age", "bmi"]  # the numeric columns that are no label or id
    flu = column(table, "dx_flu")
    assert (flu[[0, 17, 34]] == -1).all() and set(flu.tolist()) == {-1, 0, 1}
    assert column(table, "id")[0] == "p000"
    assert set(column(table, "split").tolist()) == {"train", "val", "test"}
    x = np.stack(table.column("x").to_numpy(zero_copy_only=False))
    assert x.shape == (120, 2) and abs(float(x[0, 0]) - float(patients()[1][0][2])) < 1e-4


def test_tsv_jsonl_and_parquet_give_the_same_labels(tmp_path):
    header, rows = patients()
    csv_info, csv_table = load(
        path=str(write_csv(tmp_path / "a.csv", header, rows)), labels=["dx_copd", "dx_asthma"], features=["age", "bmi"]
    )
    tsv = write_csv(tmp_path / "a.tsv", header, rows, delimiter="\t")
    jsonl = tmp_path / "a.jsonl.gz"
    with gzip.open(jsonl, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(
                json.dumps({"pid": r[0], "age": float(r[2]), "bmi": float(r[3]), "dx_copd": bool(r[4]), "dx_asthma": r[5]}) + "\n"
            )
    parquet = tmp_path / "a.parquet"
    pq.write_table(
        pa.table(
            {
                "age": [float(r[2]) for r in rows],
                "bmi": [float(r[3]) for r in rows],
                "dx_copd": [r[4] for r in rows],
                "dx_asthma": [r[5] for r in rows],
            }
        ),
        parquet,
    )
    for path in (tsv, jsonl, parquet):
        info, table = load(path=str(path), labels=["dx_copd", "dx_asthma"], features=["age", "bmi"])
        assert info.task_names == csv_info.task_names
        for t in info.task_names:
            assert column(table, t).tolist() == column(csv_table, t).tolist(), path.name
        assert column(table, "split").tolist() == column(csv_table, "split").tolist()


def test_parquet_vector_column_is_flattened(tmp_path):
    n = 60
    emb = RNG.normal(size=(n, 4)).astype(np.float32)
    y = (emb[:, 0] > 0).astype(int)
    pq.write_table(
        pa.table({"emb": pa.array(emb.tolist(), pa.list_(pa.float32())), "label": y, "other": 1 - y}), tmp_path / "v.parquet"
    )
    info, table = load(path=str(tmp_path / "v.parquet"), labels=["label", "other"], min_positives=1)
    assert info.input_dim == 4 and info.extra["feature_names"] == [f"emb[{j}]" for j in range(4)]
    np.testing.assert_allclose(np.stack(table.column("x").to_numpy(zero_copy_only=False)), emb)


def test_multilabel_column_top_k_none_and_missing_values(tmp_path):
    rows = []
    for i in range(150):
        labels = ["Opacity"] if i % 3 == 0 else []
        labels += ["lung opacity"] if i % 4 == 0 else []
        labels += ["cardiomegaly" if i % 15 == 0 else "Cardiomegaly"] if i % 5 == 0 else []
        labels += ["Nodule"] if i % 11 == 0 else []
        cell = ";".join(labels) or ("normal" if i % 7 else "No Indexing")
        rows.append([f"r{i}", cell, f"{i % 9}"])
    path = write_csv(tmp_path / "findings.csv", ["uid", "Problems", "score"], rows)
    info, table = load(
        path=str(path),
        multilabel_column="Problems",
        top_k=3,
        none_values=["normal"],
        missing_values=["No Indexing"],
        id_column="uid",
        min_positives=1,
    )
    assert info.task_names == ["Opacity", "lung_opacity", "Cardiomegaly"]  # ranked by rows; case variants merged
    assert info.task("Cardiomegaly").title == "Cardiomegaly"  # spelt as most rows spell it
    ids = column(table, "id").tolist()
    unindexed = ids.index("r7") if rows[7][1] == "No Indexing" else None
    normal = ids.index("r1")
    assert column(table, "Opacity")[normal] == 0 and column(table, "Cardiomegaly")[ids.index("r5")] == 1
    if unindexed is not None:
        assert all(column(table, t)[unindexed] == -1 for t in info.task_names)


def test_multilabel_column_of_json_lists(tmp_path):
    path = tmp_path / "reports.jsonl"
    with open(path, "w") as f:
        for i in range(90):
            findings = (["Effusion"] if i % 2 else []) + (["Nodule"] if i % 3 == 0 else [])
            f.write(json.dumps({"id": f"r{i}", "findings": findings if i % 10 else None, "age": i % 7}) + "\n")
    info, table = load(path=str(path), multilabel_column="findings", id_column="id", min_positives=1)
    assert info.task_names == ["Effusion", "Nodule"]
    assert column(table, "Effusion")[:4].tolist() == [-1, 1, 0, 1] and column(table, "Nodule")[3] == 1  # null: unknown, []: none


def test_split_column_with_mapping_and_groups_kept_together(tmp_path):
    header, rows = patients()
    given = [r + [["TR", "VA", "TE"][i % 3] if i % 3 else "TR"] for i, r in enumerate(rows)]
    path = write_csv(tmp_path / "s.csv", header + ["fold"], given)
    info, table = load(
        path=str(path),
        labels=["dx_copd", "dx_asthma"],
        split_column="fold",
        split_values={"TR": "train", "VA": "val", "TE": "test"},
        min_positives=1,
    )
    assert column(table, "split").tolist()[:3] == ["train", "val", "test"]
    with pytest.raises(DataError, match=r"s\.csv:2: split column 'fold': value 'TR' is not a split"):
        load(path=str(path), labels=["dx_copd"], split_column="fold")
    info, table = load(
        path=str(write_csv(tmp_path / "g.csv", header, rows)), labels=["dx_copd", "dx_asthma"], group_column="patient"
    )
    split = column(table, "split")
    patient = np.array([r[1] for r in rows])
    assert all(len(set(split[patient == p])) == 1 for p in set(patient))
    assert "whole groups of 'patient'" in info.extra["split_method"]


def test_descriptions_inline_yaml_and_csv(tmp_path):
    path = write_csv(tmp_path / "d.csv", *patients())
    info, _ = load(
        path=str(path),
        labels=["dx_copd", "dx_asthma"],
        descriptions={"dx_copd": {"title": "COPD", "description": "chronic obstructive"}, "dx_asthma": "wheezing"},
    )
    assert (info.task("dx_copd").title, info.task("dx_copd").description, info.task("dx_asthma").description) == (
        "COPD",
        "chronic obstructive",
        "wheezing",
    )
    (tmp_path / "desc.yaml").write_text("dx_copd: {title: COPD}\n")
    info, _ = load(path=str(path), labels=["dx_copd", "dx_asthma"], descriptions="desc.yaml")
    assert info.task("dx_copd").title == "COPD"
    options = TableOptions(path=str(path), labels=["dx_copd", "dx_asthma"], descriptions="desc.yaml")
    before = get_loader("table").fingerprint(options)
    (tmp_path / "desc.yaml").write_text("dx_copd: {title: Chronic obstructive pulmonary disease}\n")
    assert get_loader("table").fingerprint(options) != before  # an edited sidecar rebuilds the cached table
    write_csv(tmp_path / "desc.csv", ["task", "title", "description"], [["dx_asthma", "Asthma", "reversible airway obstruction"]])
    info, _ = load(path=str(path), labels=["dx_copd", "dx_asthma"], descriptions="desc.csv")
    assert info.task("dx_asthma").description == "reversible airway obstruction"
    with pytest.raises(DataError, match=r"descriptions: no task 'dx_copf' \(did you mean 'dx_copd'\?"):
        load(path=str(path), labels=["dx_copd", "dx_asthma"], descriptions={"dx_copf": "x"})


def test_text_column_bag_of_words_and_raw_text(tmp_path):
    path = write_csv(tmp_path / "t.csv", *patients())
    info, table = load(path=str(path), labels=["dx_copd"], text="note", vocab_size=10)
    assert info.extra["text_column"] == "text" and column(table, "text")[0].startswith("cough wheeze")
    assert info.input_dim == len(info.extra["vocabulary"]) <= 10 and "crackle" in info.extra["vocabulary"]
    info, _ = load(path=str(path), labels=["dx_copd"], text="note", features=["age"], vocab_size=10)
    assert info.extra["feature_names"][0] == "age" and info.input_dim == 1 + len(info.extra["vocabulary"])


def test_audio_column_gives_log_mel_spectrograms(tmp_path):
    sf = pytest.importorskip("soundfile")
    rows = []
    for i in range(24):
        t = np.arange(4000) / 4000.0
        wave = 0.3 * np.sin(2 * np.pi * (200 if i % 2 else 800) * t) + 0.01 * RNG.normal(size=t.shape)
        (tmp_path / "wav").mkdir(exist_ok=True)
        sf.write(tmp_path / "wav" / f"c{i}.wav", wave.astype(np.float32), 4000)
        rows.append([f"wav/c{i}.wav", i % 2, 1 - i % 2, i])
    path = write_csv(tmp_path / "clips.csv", ["file", "low", "high", "gain"], rows)
    info, table = load(
        path=str(path),
        labels=["low", "high"],
        audio="file",
        sample_rate=4000,
        cycle_seconds=1.0,
        num_mel_bins=16,
        min_positives=1,
    )
    frames, bins = info.extra["feature_shape"]
    assert bins == 16 and frames == 98 and info.input_dim == frames * bins
    x = np.stack(table.column("x").to_numpy(zero_copy_only=False)).reshape(-1, frames, bins)
    low, high = x[column(table, "low") == 1].mean(axis=(0, 1)), x[column(table, "high") == 1].mean(axis=(0, 1))
    assert low.argmax() < high.argmax()  # the 200 Hz clips peak in a lower mel bin than the 800 Hz ones
    with pytest.raises(DataError, match="features and the bag of words must be off"):
        load(path=str(path), labels=["low", "high"], audio="file", features=["gain"], sample_rate=4000, min_positives=1)


def test_http_and_s3_sources(tmp_path, monkeypatch, s3_env):
    monkeypatch.setenv("MTLSEARCH_DATA", str(tmp_path / "data"))
    served = tmp_path / "served"
    served.mkdir()
    path = write_csv(served / "remote.csv", *patients())
    local, _ = load(path=str(path), labels=["dx_copd"])
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        info, table = load(path=f"http://127.0.0.1:{server.server_address[1]}/remote.csv", labels=["dx_copd"])
    finally:
        server.shutdown()
        server.server_close()
    assert info.extra["splits"] == local.extra["splits"] and info.input_dim == 2
    s3_env.client.upload_file(str(path), s3_env.bucket, "tables/remote.csv")
    info, _ = load(path=f"s3://{s3_env.bucket}/tables/remote.csv", labels=["dx_copd"])
    assert info.extra["splits"] == local.extra["splits"]


# ---------------------------------------------------------------- bad data


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"labels": ["dx_copf"]}, r"labels: no column 'dx_copf' \(did you mean 'dx_copd'"),
        ({"labels": ["Dx_*"]}, r"labels: glob matches no column 'Dx_\*'"),
        ({"labels": ["dx_copd"], "features": ["note"]}, r"c\.csv:2: feature column 'note' is not numeric: value 'cough"),
        (
            {"labels": ["dx_copd"], "id_column": "patient"},
            r"c\.csv:3: id 'h0' \(id_column 'patient'\) repeats the id of .*c\.csv:2",
        ),
        ({"labels": ["dx_copd"], "text": "notes"}, r"text: no column 'notes' \(did you mean 'note'\?"),
        ({"labels": ["dx_copd"], "kinds": {"severity": "binary"}}, r"kinds: no label column 'severity'"),
        (
            {"labels": ["severity"], "kinds": {"severity": "binary"}},
            r"c\.csv:2: label column 'severity': value 'mild' is not binary",
        ),
    ],
)
def test_errors_name_the_file_the_column_and_what_was_expected(tmp_path, options, message):
    path = write_csv(tmp_path / "c.csv", *patients())
    with pytest.raises(DataError, match=message):
        load(path=str(path), **options)


def test_value_errors_constant_and_rare_labels(tmp_path, caplog):
    header, rows = patients()
    bad = [r[:4] + [2 if i == 5 else r[4]] + r[5:] for i, r in enumerate(rows)]
    with pytest.raises(
        DataError, match=r"b\.csv:7: label column 'dx_copd': value '2' is not binary .* kinds: \{dx_copd: multiclass\}"
    ):
        load(path=str(write_csv(tmp_path / "b.csv", header, bad)), labels=["dx_copd"])
    const = [r[:4] + [0] + r[5:] for r in rows]
    with pytest.raises(DataError, match=r"label column 'dx_copd' is constant \(every labelled row is 'negative'\)"):
        load(path=str(write_csv(tmp_path / "k.csv", header, const)), labels=["dx_copd"])
    rare = [r[:4] + [int(i in (3, 40))] + r[5:] for i, r in enumerate(rows)]  # 2 positives: some split has none
    rare_path = write_csv(tmp_path / "r.csv", header, rare)
    with pytest.raises(
        DataError, match=r"r\.csv: a task has no positive in a split.*'dx_copd' \(train \d, val \d, test \d\).*drop_rare: true"
    ):
        load(path=str(rare_path), labels=["dx_copd", "dx_asthma"])
    with caplog.at_level(logging.WARNING):
        info, _ = load(path=str(rare_path), labels=["dx_copd", "dx_asthma"], drop_rare=True)
    assert info.task_names == ["dx_asthma"] and "drop_rare dropped 1 task(s)" in caplog.text and "'dx_copd'" in caplog.text
    few = [r[:4] + [int(i % 20 == 0)] + r[5:] for i, r in enumerate(rows)]  # 6 positives: fewer than 5 in val and test
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        info, _ = load(path=str(write_csv(tmp_path / "f.csv", header, few)), labels=["dx_copd", "dx_asthma"])
    assert (
        info.task_names == ["dx_copd", "dx_asthma"] and "fewer than min_positives 5" in caplog.text and "'dx_copd'" in caplog.text
    )


def test_constant_feature_is_named_in_a_warning(tmp_path, caplog):
    header, rows = patients()
    path = write_csv(tmp_path / "c.csv", header + ["site"], [r + ["1"] for r in rows])
    with caplog.at_level(logging.WARNING):
        load(path=str(path), labels=["dx_copd"], features=["age", "site"])
    assert "feature column 'site' is constant" in caplog.text


def test_files_cut_short_and_encoding_errors(tmp_path):
    header, rows = patients(20)
    text = write_csv(tmp_path / "full.csv", header, rows).read_text()
    (tmp_path / "cut.csv").write_text(text[: text.rindex(",")])  # the last row loses its last field
    with pytest.raises(DataError, match=r"cut\.csv:21: 8 fields, the header has 9 \(the last line: a file cut short\?\)"):
        load(path=str(tmp_path / "cut.csv"), labels=["dx_copd"])
    (tmp_path / "quote.csv").write_text(text + 'p999,h1,1,1,1,yes,true,mild,"an open quote\n')
    with pytest.raises(DataError, match=r"quote\.csv:22: malformed CSV .*a quoted field is not closed"):
        load(path=str(tmp_path / "quote.csv"), labels=["dx_copd"])
    lines = text.splitlines(keepends=True)
    (tmp_path / "latin.csv").write_bytes("".join(lines[:5]).encode() + "p5,h1,1,1,1,yes,true,mild,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv:6: not UTF-8 text"):
        load(path=str(tmp_path / "latin.csv"), labels=["dx_copd"])
    (tmp_path / "cut.jsonl").write_text('{"a": 1, "y": 1}\n{"a": 2, "y": 0}\n{"a": 3, "y"')
    with pytest.raises(DataError, match=r"cut\.jsonl:3: not a JSON object .*the last line: a file cut short"):
        load(path=str(tmp_path / "cut.jsonl"), labels=["y"])
    pq.write_table(pa.table({"a": list(range(50)), "y": [i % 2 for i in range(50)]}), tmp_path / "t.parquet")
    data = (tmp_path / "t.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.parquet: cannot read the Parquet file .*a file cut short"):
        load(path=str(tmp_path / "cut.parquet"), labels=["y"])
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        load(path=str(tmp_path / "empty.csv"), labels=["y"])


def test_options_are_checked_at_the_spec_boundary(tmp_path):
    with pytest.raises(ValidationError, match="exactly one of labels"):
        TableOptions(path="x.csv")
    with pytest.raises(ValidationError, match="exactly one of labels"):
        TableOptions(path="x.csv", labels=["a"], multilabel_column="b")
    with pytest.raises(ValidationError, match="top_k and none_values apply to multilabel_column only"):
        TableOptions(path="x.csv", labels=["a"], top_k=3)
    with pytest.raises(ValidationError, match="split_values needs split_column"):
        TableOptions(path="x.csv", labels=["a"], split_values={"a": "train"})


def test_a_failed_load_leaves_the_stored_table_as_it_was(tmp_path):
    header, rows = patients()
    path = write_csv(tmp_path / "c.csv", header, rows)
    cache = tmp_path / "cache"
    table_path = prepare("table", TableOptions(path=str(path), labels=["dx_copd"]), cache)
    before = table_path.read_bytes()
    write_csv(
        path, header, [r[:4] + ["maybe" if i % 10 == 0 else r[4]] + r[5:] for i, r in enumerate(rows)]
    )  # the same file, now bad
    with pytest.raises(DataError, match="is not binary"):
        prepare("table", TableOptions(path=str(path), labels=["dx_copd"]), cache)
    assert table_path.read_bytes() == before and sorted(p.name for p in cache.iterdir()) == [table_path.parent.name]
    assert read_info(table_path).task_names == ["dx_copd"]


# ---------------------------------------------------------------- real data


OPENI_CSV = SHARED_DATA / "openi" / "indiana_reports.csv"


@pytest.mark.skipif(not OPENI_CSV.is_file(), reason=f"the Open-I reports CSV is not at {OPENI_CSV} (set MTLSEARCH_DATA)")
def test_table_loader_on_openi_csv_gives_the_labels_of_openi_csv(tmp_path):
    from mtlsearch.data.openi import OpenICsvOptions

    info, table = load(
        path=str(OPENI_CSV),
        multilabel_column="Problems",
        top_k=19,
        none_values=["normal"],
        missing_values=["No Indexing"],
        id_column="uid",
        text="findings",
    )
    openi = get_loader("openi_csv")
    options = OpenICsvOptions(path=str(OPENI_CSV))
    ref_info, ref = openi.build(options, openi.fingerprint(options))
    assert info.task_names == ref_info.task_names  # the same 19 terms, in the same order
    assert [t.title for t in info.tasks] == [t.title for t in ref_info.tasks]
    row = {i: k for k, i in enumerate(column(table, "id").tolist())}
    rows = [row[i] for i in column(ref, "id").tolist()]  # openi_csv drops empty and duplicate reports; compare those it keeps
    for t in ref_info.task_names:
        assert column(table, t)[rows].tolist() == column(ref, t).tolist(), t
