"""`mtlsearch data inspect` on the real OHSUMED ARFF through the ready spec (skips without the shared data)."""

import json

import pytest
from conftest import REPO, SHARED_DATA

from mtlsearch.cli import main


def test_inspect_ohsumed_arff_reports_sizes_cardinality_and_titles(tmp_path, capsys, monkeypatch):
    arff = SHARED_DATA / "ohsumed" / "meka_arff" / "OHSUMED-F.arff"
    if not arff.is_file():
        pytest.skip(f"real OHSUMED data not found at {arff} (set MTLSEARCH_DATA)")
    monkeypatch.setenv("MTLSEARCH_DATA", str(SHARED_DATA))
    spec = str(REPO / "search_spaces" / "ohsumed_grouping.yaml")
    assert main(["data", "inspect", spec, "--storage", str(tmp_path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sum(report["size"].values()) == 13929
    assert report["num_tasks"] == 23
    assert report["label_cardinality_binary"] == pytest.approx(1.663, abs=0.001)
    assert report["input_columns"] == {"x": "float32[1002]"}
    assert report["tasks"][3]["name"] == "C04" and report["tasks"][3]["title"] == "Neoplasms"
    assert main(["data", "inspect", spec, "--storage", str(tmp_path)]) == 0
    assert "C04          binary     primary   f1" in capsys.readouterr().out
