"""A grouping search on a real local Ray cluster: computed groupings as a searched dimension.

Synthetic data with 12 tasks in 3 planted groups; the grid searcher runs GMTL
with each of {embedding, affinity} x k in {2, 3}. The affinity method's k = 3
groups are the planted ones, and that candidate must rank at or near the top by Δm.
Tasks are assigned to the planted groups in a shuffled order, so task names
("task_03") carry no hint of the groups.
"""

import json
import textwrap
from pathlib import Path

import pytest

from mtlsearch.data.canonical import read_info
from mtlsearch.search.launcher import launch
from mtlsearch.spec import load_spec
from mtlsearch.store.results import ResultsStore

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def searched(ray_cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grouping")
    spec = tmp / "spec.yaml"
    spec.write_text(
        textwrap.dedent(f"""\
        experiment: grouping
        seed: 0
        storage: {tmp / "store"}
        dataset:
          loader: synthetic
          options: {{num_tasks: 12, num_groups: 3, num_samples: 2000, multiclass_tasks: 0, imbalance: 0.1, shuffle_groups: true, seed: 0}}
        model:
          encoder: {{type: mlp, hidden_dims: [64, 4]}}  # a narrow code: unrelated tasks compete for it
        train: {{epochs: 6, batch_size: 64, lr: 0.003}}
        grouping_methods:
          affinity: {{epochs: 2, encoder: {{type: mlp, hidden_dims: [64, 32]}}}}
        search:
          num_samples: 4
          searcher: grid
          scheduler: {{enabled: false}}
          space:
            architecture: {{choice: [GMTL]}}
            grouping:
              method: {{choice: [embedding, affinity]}}
              k: {{int: [2, 3]}}
        """)
    )
    out = tmp / "launch.log"
    with out.open("w") as f:
        name, rows = launch(load_spec(spec), out=f)
    return {"store": ResultsStore(str(tmp / "store")), "name": name, "rows": rows, "log": out.read_text()}


def test_every_candidate_runs_with_its_computed_groups(searched):
    rows, store = searched["rows"], searched["store"]
    assert sorted(r["grouping"] for r in rows) == ["affinity k=2", "affinity k=3", "embedding k=2", "embedding k=3"]
    meta = store.read_experiment(searched["name"])
    computed = meta["computed_groupings"]
    assert set(computed) == {"embedding/k=2", "embedding/k=3", "affinity/k=2", "affinity/k=3"}
    for r in rows:  # the trained plan used exactly the stored groups
        method, k = r["grouping"].split(" k=")
        assert sorted(map(sorted, r["groups"])) == sorted(map(sorted, computed[f"{method}/k={k}"]))
    assert "grouping: affinity k=3:" in searched["log"]
    assert "grouping: affinity reliability: split-half r" in searched["log"]  # launch prints how far the matrix is trusted


def test_planted_grouping_ranks_at_or_near_the_top(searched):
    rows = searched["rows"]
    meta = searched["store"].read_experiment(searched["name"])
    planted = sorted(map(sorted, read_info(meta["dataset"]["path"]).planted_groups))
    ranks = [i for i, r in enumerate(rows) if sorted(map(sorted, r["groups"])) == planted]
    assert ranks, f"no candidate trained the planted groups: {[r['groups'] for r in rows]}"
    assert ranks[0] <= 1, f"planted grouping ranked #{ranks[0] + 1}: {[(r['grouping'], r['dm_val']) for r in rows]}"


def test_grouping_plots_are_experiment_artifacts(searched):
    artifacts = Path(searched["store"].experiment_uri(searched["name"], "artifacts"))
    for name in ("embedding-elbow.png", "affinity-heatmap.png"):
        assert (artifacts / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    trials = searched["store"].read(searched["name"], "trials").to_pylist()
    assert all("k" in json.loads(r["config"]) for r in trials)
