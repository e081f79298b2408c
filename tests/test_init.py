"""``mtlsearch init DATA_FILE``: a spec inferred from a data file validates, builds its dataset and launches as written."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from mtlsearch.cli import main
from mtlsearch.data.registry import prepare
from mtlsearch.errors import UsageError
from mtlsearch.spec import load_spec
from mtlsearch.spec_init import InitRequest, experiment_name, hidden_dims, init_spec, label_patterns, max_groups


def planted_rows(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of 8 features and 6 binary tasks in 2 planted groups (tasks 0-2 read features 0-3, tasks 3-5 features 4-7)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    latent = np.stack([x[:, :4].sum(1), x[:, 4:].sum(1)], axis=1)
    y = np.stack([latent[:, t // 3] + 0.5 * rng.normal(size=n) > 0.4 * (t % 3) for t in range(6)], axis=1).astype(int)
    return x, y


def write_csv(path, n: int = 600, text: bool = False):
    x, y = planted_rows(n)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["visit_id", "patient_id", *[f"f{i}" for i in range(8)], *[f"dx_{t}" for t in range(6)], "note"])
        for i in range(n):
            note = f"{'cough wheeze' if y[i, 0] else 'clear'} {'fever' if y[i, 3] else 'afebrile'}"
            w.writerow([f"v{i}", f"p{i // 3}", *[f"{v:.4f}" for v in x[i]], *y[i].tolist(), note])
    return path


def write_arff(path, n: int = 300):
    x, y = planted_rows(n)
    lines = ["% a MEKA file", "@relation 'toy: -C 3'"]
    lines += [f"@attribute L{t} {{0,1}}" for t in range(3)] + [f"@attribute f{i} numeric" for i in range(8)] + ["@data"]
    lines += [",".join([*map(str, y[i, :3]), *(f"{v:.4f}" for v in x[i])]) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def data_csv(tmp_path):
    return write_csv(tmp_path / "clinic visits.csv")


def test_csv_with_label_globs_writes_a_valid_spec_whose_dataset_builds(data_csv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = init_spec(InitRequest(str(data_csv), labels=["dx_*"]))
    assert result.out.name == "clinic visits.yaml"  # default: <stem>.yaml in the current directory
    loaded = load_spec(result.out)
    spec = loaded.spec
    assert spec.experiment == "clinic_visits"
    assert spec.dataset.loader == "table"
    assert spec.dataset.options["path"] == str(data_csv)  # absolute
    assert spec.dataset.options["labels"] == ["dx_*"]
    assert spec.dataset.options["id_column"] == "visit_id"  # unique *_id column
    assert "group_column" not in spec.dataset.options  # patient_id repeats: only a hint
    assert "--group patient_id" in result.summary
    assert spec.model.encoder.type == "mlp"
    assert spec.search.space.architecture.choice == ["STL", "MTL", "GMHL", "GMTL"]
    assert spec.search.space.grouping.k.int == (2, 5)  # min(6, 6 - 1)
    assert spec.search.confirm.each_architecture
    assert spec.evaluation.thresholds == "val_tuned"
    assert spec.search.space.grouping.method.choice == ["embedding", "head_coupling"]
    path = prepare(spec.dataset.loader, loaded.loader_options, tmp_path / "cache")
    table = pq.read_table(path)
    assert table.num_rows == 600
    assert [c for c in table.column_names if c.startswith("dx_")] == [f"dx_{t}" for t in range(6)]
    # every section is commented, and the summary lists the tasks, inputs, splits and next commands
    text = result.out.read_text()
    for section in ("storage:", "loader:", "model:", "train:", "thresholds:", "grouping_methods:", "num_samples:"):
        assert any(line.lstrip().startswith(section) and "#" in line for line in text.splitlines()), section
    for part in ("csv, 600 rows", "tasks (6)", "dx_5", "8 numeric feature columns", "train 408", "mtlsearch launch"):
        assert part in result.summary, part


def test_arff_with_meka_labels_needs_no_labels(tmp_path):
    pytest.importorskip("mtlsearch.data.arff_dataset")
    arff = write_arff(tmp_path / "toy.arff")
    result = init_spec(InitRequest(str(arff), out=str(tmp_path / "toy.yaml")))
    loaded = load_spec(result.out)
    assert loaded.spec.dataset.loader == "arff"
    assert "labels" not in loaded.spec.dataset.options
    assert [t.name for t in result.info.tasks] == ["L0", "L1", "L2"]
    assert result.info.input_dim == 8
    assert "MEKA's -C 3" in result.summary
    assert loaded.spec.search.space.grouping.k.int == (2, 2)


def test_arff_without_meka_option_asks_for_labels(tmp_path):
    arff = write_arff(tmp_path / "plain.arff")
    arff.write_text(arff.read_text().replace("'toy: -C 3'", "plain"))
    with pytest.raises(UsageError, match=r"no MEKA -C option(.|\n)*likely labels \(declared \{0,1\}\): L0, L1, L2"):
        init_spec(InitRequest(str(arff), out=str(tmp_path / "p.yaml")))


def test_table_without_labels_exits_2_and_lists_the_candidates(data_csv, tmp_path, capsys):
    rc = main(["init", str(data_csv), "--out", str(tmp_path / "s.yaml")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "pass --labels" in err
    assert "the file's columns: visit_id, patient_id, f0" in err
    assert "likely label columns (every sample value 0/1, yes/no or true/false): dx_0, dx_1, dx_2, dx_3, dx_4, dx_5" in err
    assert '--labels "dx_*"' in err
    assert not (tmp_path / "s.yaml").exists()


def test_existing_out_is_kept_without_force(data_csv, tmp_path):
    out = tmp_path / "mine.yaml"
    out.write_text("# my own spec\n")
    with pytest.raises(UsageError, match="mine.yaml exists.*--force"):
        init_spec(InitRequest(str(data_csv), labels=["dx_*"], out=str(out)))
    assert out.read_text() == "# my own spec\n"
    init_spec(InitRequest(str(data_csv), labels=["dx_*"], out=str(out), force=True))
    assert load_spec(out).spec.experiment == "clinic_visits"


def test_text_column_and_the_text_encoder_alternative(data_csv, tmp_path):
    out = tmp_path / "text.yaml"
    result = init_spec(InitRequest(str(data_csv), labels=["dx_0", "dx_3"], text="note", group="patient_id", out=str(out)))
    loaded = load_spec(out)
    options = loaded.spec.dataset.options
    assert options["text"] == "note" and options["group_column"] == "patient_id"
    assert loaded.spec.model.encoder.type == "mlp"  # over the bag of words
    # 2 tasks: no grouped architectures, no grouping
    assert loaded.spec.search.space.architecture.choice == ["STL", "MTL"]
    assert loaded.spec.search.space.grouping is None
    assert "grouping them (GMHL, GMTL) makes no sense" in out.read_text()
    table = pq.read_table(prepare("table", loaded.loader_options, tmp_path / "cache"))
    assert "text" in table.column_names
    assert "text 'note' (bag of words" in result.summary
    # the commented alternative validates once uncommented
    text = out.read_text()
    assert "  # encoder: {type: text}" in text
    swapped = tmp_path / "swapped.yaml"
    swapped.write_text(
        "\n".join(
            line.replace("# encoder: {type: text}", "encoder: {type: text}") if "{type: text}" in line else line
            for line in text.splitlines()
            if "type: mlp" not in line
        )
    )
    assert load_spec(swapped).spec.model.encoder.type == "text"


def test_jsonl_split_and_id_columns_and_parquet(tmp_path):
    x, y = planted_rows(300)
    rows = [
        {
            "uid": f"u{i}",
            "split": ["train", "train", "train", "valid", "test"][i % 5],
            "v": x[i].tolist(),
            "a": int(y[i, 0]),
            "b": bool(y[i, 3]),
        }
        for i in range(300)
    ]
    jsonl = tmp_path / "obs.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = init_spec(InitRequest(str(jsonl), labels=["a", "b"], out=str(tmp_path / "obs.yaml")))
    options = load_spec(result.out).spec.dataset.options
    assert options["id_column"] == "uid" and options["split_column"] == "split"
    assert options["split_values"] == {"test": "test", "train": "train", "valid": "val", "val": "val"}
    assert result.info.input_dim == 8  # the vector column, flattened
    assert "train 180, val 60, test 60 (given by the split column)" in result.summary

    import pyarrow as pa

    table = pa.table({"id": [f"r{i}" for i in range(300)], **{f"f{i}": x[:, i] for i in range(8)}, "a": y[:, 0], "b": y[:, 3]})
    pq.write_table(table, tmp_path / "obs.parquet")
    result = init_spec(InitRequest(str(tmp_path / "obs.parquet"), labels=["a", "b"], out=str(tmp_path / "pq.yaml")))
    assert load_spec(result.out).spec.dataset.options["id_column"] == "id"
    assert result.summary.startswith(f"{tmp_path / 'obs.parquet'}: parquet, 300 rows")


def test_multilabel_column(tmp_path):
    x, y = planted_rows(300)
    path = tmp_path / "ml.csv"
    names = ["Lung Opacity", "Edema", "Nodule"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["f0", "f1", "f2", "findings"])
        for i in range(300):
            found = [names[t] for t in range(3) if y[i, t]] or ["normal"]
            w.writerow([*(f"{v:.3f}" for v in x[i, :3]), "|".join(found)])
    with pytest.raises(UsageError, match=r"'findings' looks like label lists: .*--multilabel findings --delimiter '\|'"):
        init_spec(InitRequest(str(path), out=str(tmp_path / "ml.yaml")))
    result = init_spec(InitRequest(str(path), multilabel="findings", delimiter="|", top_k=3, out=str(tmp_path / "ml.yaml")))
    options = load_spec(result.out).spec.dataset.options
    assert options["multilabel_column"] == "findings" and options["delimiter"] == "|" and options["top_k"] == 3
    assert "Lung_Opacity" in [t.name for t in result.info.tasks]


def test_helpers():
    assert experiment_name(__import__("pathlib").Path("/d/my data (v2).csv.gz")) == "my_data_v2_"
    assert hidden_dims(8) == [64, 32] and hidden_dims(2000) == [256, 128] and hidden_dims(600) == [256, 128]
    assert [max_groups(t) for t in (3, 6, 7, 20)] == [2, 5, 6, 6]
    assert label_patterns(["dx_a", "dx_b"], ["id", "dx_a", "dx_b"]) == ["dx_*"]
    assert label_patterns(["dx_a", "dx_b"], ["dx_a", "dx_b", "dx_note"]) == ["dx_a", "dx_b"]


def test_cli_subprocess(data_csv, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mtlsearch.cli", "init", str(data_csv), "--labels", "dx_*", "--out", "cli.yaml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote cli.yaml (validated)" in proc.stdout
    assert "mtlsearch launch cli.yaml" in proc.stdout
    check = subprocess.run(
        [sys.executable, "-m", "mtlsearch.cli", "validate", "cli.yaml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.ray
def test_written_spec_launches(ray_cluster, tmp_path):
    from mtlsearch.search.launcher import launch

    data = write_csv(tmp_path / "planted.csv")
    result = init_spec(InitRequest(str(data), labels=["dx_*"], out=str(tmp_path / "planted.yaml")))
    spec = yaml.safe_load(result.out.read_text())
    spec["storage"] = str(tmp_path / "store")  # the same spec, shrunk: few trials and epochs, no confirmation
    spec["train"]["epochs"] = 3
    spec["search"].update(num_samples=3, scheduler={"enabled": True, "grace_period": 1, "reduction_factor": 2})
    del spec["search"]["confirm"]
    spec["grouping_methods"]["head_coupling"]["epochs"] = 3
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(spec, sort_keys=False))
    with (tmp_path / "launch.log").open("w") as f:
        name, rows = launch(load_spec(small), out=f)
    assert name == "planted"
    assert rows, "no leaderboard"
    assert all(math.isfinite(r["dm_val"]) for r in rows)
    log = (tmp_path / "launch.log").read_text()
    assert "grouping: head_coupling" in log and "grouping: embedding" in log  # both grouping methods ran before the trials
