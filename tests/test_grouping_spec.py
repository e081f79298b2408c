"""The grouping dimension of the spec and its conditional sampling (no Ray)."""

import optuna
import pytest
from conftest import write_spec

from mtlsearch.errors import SpecError
from mtlsearch.search.space import DefineByRun
from mtlsearch.spec import load_spec

GROUPING_SPACE = """architecture: {choice: [MTL, GMHL, GMTL]}
    grouping:
      method: {choice: [embedding, affinity, manual]}
      k: {int: [2, 4]}
      manual: {choice: [planted, mixed]}"""


def _error(path) -> str:
    with pytest.raises(SpecError) as e:
        load_spec(path)
    return str(e.value)


def test_grouping_space_samples_k_only_for_computed_methods(tmp_path):
    loaded = load_spec(write_spec(tmp_path / "s.yaml", tmp_path, space=GROUPING_SPACE))
    space = loaded.spec.search.space
    assert space.grouping_space().k_values() == [2, 3, 4]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(60):
        trial = study.ask()
        DefineByRun(space)(trial)
        p = trial.params
        if p["architecture"] == "MTL":
            assert set(p) == {"architecture"}
            continue
        seen.add(p["grouping_method"])
        if p["grouping_method"] == "manual":
            assert "k" not in p and p["grouping"] in ("planted", "mixed")
        else:
            assert "grouping" not in p and 2 <= p["k"] <= 4
        study.tell(trial, 0.0)
    assert seen == {"embedding", "affinity", "manual"}


def test_manual_shorthand_still_works(tmp_path):
    loaded = load_spec(write_spec(tmp_path / "s.yaml", tmp_path))
    g = loaded.spec.search.space.grouping_space()
    assert g.method.choice == ["manual"] and g.manual.choice == ["planted", "mixed"]


def test_grouping_errors_name_the_field(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path, space=GROUPING_SPACE)
    text = spec.read_text()
    spec.write_text(text.replace("[embedding, affinity, manual]", "[embeding, manual]"))
    assert "unknown grouping method 'embeding'" in _error(spec)
    spec.write_text(text.replace("k: {int: [2, 4]}", "k: {int: [2, 9]}"))
    msg = _error(spec)
    assert "field 'search.space.grouping.k'" in msg and "must not exceed the number of tasks (6)" in msg
    spec.write_text(text.replace("      k: {int: [2, 4]}\n", ""))
    assert "need k" in _error(spec)
    spec.write_text(text.replace("[planted, mixed]", "[planted, nosuch]"))
    assert "'nosuch', which is not defined under 'groupings'" in _error(spec)


def test_description_text_needs_descriptions(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path, space=GROUPING_SPACE)
    spec.write_text(spec.read_text() + "grouping_methods:\n  embedding: {text: description}\n")
    msg = _error(spec)
    assert "field 'grouping_methods.embedding.text'" in msg and "dataset.descriptions" in msg
    descriptions = "".join(f"    task_{i:02d}: task number {i}\n" for i in range(6))
    spec.write_text(
        spec.read_text().replace(
            "dataset:\n  loader: synthetic\n", f"dataset:\n  loader: synthetic\n  descriptions:\n{descriptions}"
        )
    )
    load_spec(spec)
    spec.write_text(spec.read_text().replace("    task_05: task number 5\n", "    task_99: nope\n"))
    assert "field 'dataset.descriptions.task_99': unknown task" in _error(spec)


def test_grid_enumerates_every_candidate_once_through_optuna(tmp_path):
    from mtlsearch.search.space import enumerate_candidates

    space_text = GROUPING_SPACE + "\n    hidden_dim: {choice: [16, 32]}"
    loaded = load_spec(write_spec(tmp_path / "s.yaml", tmp_path, space=space_text))
    space = loaded.spec.search.space
    points = enumerate_candidates(space)
    # MTL, then (GMHL, GMTL) x (embedding k=2..4, affinity k=2..4, manual planted/mixed), each x 2 hidden sizes
    assert len(points) == (1 + 2 * (3 + 3 + 2)) * 2
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    for p in points:
        study.enqueue_trial(p)
    asked = []
    for _ in points:
        trial = study.ask()
        DefineByRun(space)(trial)
        asked.append(trial.params)
        study.tell(trial, 0.0)
    assert sorted(map(str, asked)) == sorted(map(str, points))


def test_grid_rejects_continuous_dimensions(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path)
    spec.write_text(spec.read_text().replace("  num_samples: 8", "  num_samples: 8\n  searcher: grid"))
    assert "searcher 'grid' needs discrete dimensions" in _error(spec) and "['lr']" in _error(spec)
