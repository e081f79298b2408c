"""Spec validation: every problem names the file, the line and the field; the CLI exits 2 and starts no Ray."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, write_spec

from mtlsearch.cli import main
from mtlsearch.errors import SpecError
from mtlsearch.spec import load_spec


def _error(path: Path) -> str:
    with pytest.raises(SpecError) as e:
        load_spec(path)
    return str(e.value)


def test_quickstart_is_valid():
    loaded = load_spec(REPO / "search_spaces" / "quickstart.yaml")
    assert loaded.spec.search.space.open_dimensions() == ["architecture", "grouping", "lr", "hidden_dim"]
    assert loaded.loader_options.num_tasks == 8


def test_unknown_key_names_field_and_line(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path)
    spec.write_text(spec.read_text().replace("  batch_size: 64", "  batch_size: 64\n  epochz: 3"))
    msg = _error(spec)
    assert "field 'train.epochz': unknown key" in msg
    assert "expected one of: epochs" in msg
    line = spec.read_text().splitlines().index("  epochz: 3") + 1
    assert f"s.yaml:{line}:" in msg


def test_wrong_type(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path)
    spec.write_text(spec.read_text().replace("epochs: 4", "epochs: four"))
    msg = _error(spec)
    assert "field 'train.epochs'" in msg and "integer" in msg and "'four'" in msg


def test_empty_search_space(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path, space="{}")
    msg = _error(spec)
    assert "search space is empty" in msg and "field 'search'" in msg


def test_bad_loader_option_and_unknown_loader(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path)
    spec.write_text(spec.read_text().replace("num_groups: 2", "num_groupz: 2"))
    assert "field 'dataset.options.num_groupz': unknown key" in _error(spec)
    spec.write_text(spec.read_text().replace("loader: synthetic", "loader: nosuch"))
    assert "field 'dataset.loader': unknown loader 'nosuch'" in _error(spec)


def test_missing_dataset_path(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path)
    spec.write_text(spec.read_text().replace("dataset:\n  loader: synthetic\n", "dataset_missing: 1\nx:\n  loader: synthetic\n"))
    msg = _error(spec)
    assert "field 'dataset': required field is missing" in msg


def test_unknown_task_in_grouping(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path)
    spec.write_text(spec.read_text().replace("task_02", "task_99", 1))
    msg = _error(spec)
    assert "field 'groupings.mixed.0.1': unknown task 'task_99'" in msg


def test_grouping_name_must_exist(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path)
    spec.write_text(spec.read_text().replace("choice: [planted, mixed]", "choice: [planted, nosuch]"))
    assert "'nosuch', which is not defined under 'groupings'" in _error(spec)


def test_bad_dimension(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path)
    spec.write_text(spec.read_text().replace("loguniform: [0.001, 0.01]", "loguniform: [0.01, 0.001]"))
    assert "search.space.lr" in _error(spec)


def test_invalid_yaml(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("experiment: x\n  bad: [\n")
    assert "not valid YAML" in _error(p)


def test_cli_validate_exit_codes(tmp_path, capsys):
    good = write_spec(tmp_path / "good.yaml", tmp_path)
    assert main(["validate", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("epochs: 4", "epochs: -1"))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "train.epochs" in err


def test_validate_starts_no_ray(tmp_path):
    bad = write_spec(tmp_path / "bad.yaml", tmp_path)
    bad.write_text(bad.read_text().replace("epochs: 4", "epochs: x"))
    code = (
        "import sys; from mtlsearch.cli import main; rc = main(['validate', sys.argv[1]]); "
        "assert 'ray' not in sys.modules, 'ray was imported'; sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "train.epochs" in proc.stderr
