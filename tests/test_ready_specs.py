"""The ready specs under search_spaces/: each validates with the CLI's spec loader, and the Open-I and
ICBHI specs' datasets hold the expected tasks and splits on the shared real data (`mtlsearch data inspect`,
no Ray). Data-dependent checks skip with a reason when the shared data folder is absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SHARED_DATA

from mtlsearch.cli import main
from mtlsearch.data.registry import get_loader
from mtlsearch.spec import Spec, load_spec

SPECS = sorted((REPO / "search_spaces").glob("*.yaml"))
DATA_SPECS = {
    "ohsumed_grouping",
    "ohsumed_cotask",
    "openi_grouping",
    "icbhi_trimtl",
    "icbhi_multimodal",
    "openi_multimodal",
}  # read files under ${MTLSEARCH_DATA} to list their tasks


def test_the_ready_specs_are_there():
    assert {"quickstart", "synthetic_grouping", *DATA_SPECS} <= {p.stem for p in SPECS}


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_spec_validates(path: Path, monkeypatch, tmp_path):
    data = yaml.safe_load(path.read_text())
    if path.stem == "table_example":  # its CSV is made by the command its header gives, in the working folder
        from mtlsearch.data.example_table import write_example_table

        monkeypatch.chdir(tmp_path)
        write_example_table(tmp_path / "clinic.csv")
    spec = Spec.model_validate(data)  # the schema, with no data needed
    get_loader(spec.dataset.loader).Options.model_validate(spec.dataset.options)
    assert spec.experiment == path.stem
    if path.stem in DATA_SPECS:
        if not SHARED_DATA.is_dir():
            pytest.skip(
                f"shared real data not found at {SHARED_DATA}: the dataset checks of {path.name} need it (set MTLSEARCH_DATA)"
            )
        monkeypatch.setenv("MTLSEARCH_DATA", str(SHARED_DATA))
    loaded = load_spec(path)  # what `mtlsearch validate` / `launch` run: schema, loader options, task names, groupings
    assert loaded.spec == spec


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_ready_spec_confirms_its_best_candidates_with_seeds(path: Path):
    confirm = Spec.model_validate(yaml.safe_load(path.read_text())).search.confirm
    assert confirm is not None and confirm.top >= 3 and confirm.seeds >= 3


def _inspect(spec: str, source: Path, tmp_path, capsys, monkeypatch) -> dict:
    if not source.exists():
        pytest.skip(f"real data not found at {source} (shared data folder {SHARED_DATA}; set MTLSEARCH_DATA)")
    monkeypatch.setenv("MTLSEARCH_DATA", str(SHARED_DATA))
    assert main(["data", "inspect", str(REPO / "search_spaces" / spec), "--storage", str(tmp_path), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


OPENI_TASKS = [
    "Lung",
    "Opacity",
    "Cardiomegaly",
    "Pulmonary_Atelectasis",
    "Calcinosis",
    "Calcified_Granuloma",
    "Thoracic_Vertebrae",
    "Cicatrix",
    "Spine",
    "Markings",
    "Aorta",
    "Pleural_Effusion",
]


def test_openi_spec_dataset(tmp_path, capsys, monkeypatch):
    report = _inspect("openi_grouping.yaml", SHARED_DATA / "openi" / "indiana_reports.csv", tmp_path, capsys, monkeypatch)
    assert report["size"] == {"train": 2085, "val": 368, "test": 613}  # 3,066 reports kept of 3,851
    assert [t["name"] for t in report["tasks"]] == OPENI_TASKS
    for t in report["tasks"]:
        assert (t["kind"], t["role"], t["metric"]) == ("binary", "primary", "f1")
        for split, counts in t["counts"].items():
            assert counts["positive"] >= 18, (t["name"], split, counts)  # enough positives for F1 in every split
    assert report["input_columns"]["x"] == "float32[1000]"


def test_icbhi_spec_dataset(tmp_path, capsys, monkeypatch):
    report = _inspect("icbhi_trimtl.yaml", SHARED_DATA / "icbhi" / "wav", tmp_path, capsys, monkeypatch)
    tasks = {t["name"]: t for t in report["tasks"]}
    assert list(tasks) == ["lung_sound", "disease", "age_group", "sex", "chest_location", "device"]
    assert [n for n, t in tasks.items() if t["role"] == "primary"] == ["lung_sound", "disease"]
    assert tasks["lung_sound"]["metric"] == tasks["disease"]["metric"] == "icbhi_score"
    assert report["input_columns"]["x"] == "float32[102144] = 798x128"
    size = report["size"]
    assert size["train"] > 0 and size["test"] > 0
    for t in tasks.values():  # every task is labelled in the splits that have cycles
        for split in ("train", "test"):
            assert sum(v for k, v in t["counts"][split].items() if k != "missing") == size[split], (t["name"], split)
    wavs = sorted(p.stem for p in (SHARED_DATA / "icbhi" / "wav").glob("*.wav"))
    if len(wavs) == 10:
        # The 10 shared recordings: 1 of them (patient 103) is in the official train split, 9 in test. The val
        # patients are carved from all 920 annotated recordings before cycles without audio are dropped, and none
        # of them is among the 10, so val is empty here (the spec's header explains it); see the loader's docstring.
        assert size == {"train": 6, "val": 0, "test": 91}
        assert tasks["lung_sound"]["counts"]["train"] == {"normal": 2, "crackle": 0, "wheeze": 4, "both": 0, "missing": 0}
        assert tasks["lung_sound"]["counts"]["test"] == {"normal": 80, "crackle": 1, "wheeze": 10, "both": 0, "missing": 0}
