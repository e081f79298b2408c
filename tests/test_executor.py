"""Both training paths: a single-worker trial trains inside its Tune trial; Ray Train runs the same loop.

The in-trial path and the Ray Train path share one loop (mtlsearch.train.loop),
so a search gives the same reported numbers, store rows and leaderboard on both.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import tune_results, write_spec

from mtlsearch.errors import SpecError
from mtlsearch.search.launcher import launch
from mtlsearch.search.tuner import max_concurrent_trials
from mtlsearch.spec import TrainSpec, load_spec
from mtlsearch.store.results import ResultsStore
from mtlsearch.train.executor import trial_footprint, trial_resources

TIMING_KEYS = {"train_seconds", "eval_seconds", "samples_per_s", "cost_worker_s", "elapsed_s"}
"""Reported keys that measure time: they differ between any two runs."""
TUNE_KEYS = {
    "timestamp",
    "checkpoint_dir_name",
    "done",
    "training_iteration",
    "trial_id",
    "date",
    "time_this_iter_s",
    "time_total_s",
    "pid",
    "hostname",
    "node_ip",
    "config",
    "time_since_restore",
    "iterations_since_restore",
    "experiment_tag",
    "should_checkpoint",
    "checkpoint_path",
}
"""Keys Tune adds to every result (and Ray Train's ``checkpoint_path``): not the loop's."""
RUN_SPECIFIC = {"trial_id", "cost_worker_s", "samples_per_s", "reported_at", "ended_at", "pareto"}
"""Store and leaderboard fields that name the trial or measure time (``pareto`` too: it ranks the trials' costs)."""


def test_executor_resolution_footprint_and_threads():
    one = TrainSpec()
    assert one.resolved_executor == "in_trial" and one.threads == 1
    assert trial_resources(one) == {"CPU": 1.0} and trial_footprint(one) == (1.0, 0.0)
    ddp = TrainSpec(workers=2, cpus_per_worker=0.5, driver_cpus=0.5)
    assert ddp.resolved_executor == "ray_train"
    assert trial_resources(ddp) == {"CPU": 0.5} and trial_footprint(ddp) == (1.5, 0.0)
    forced = TrainSpec(executor="ray_train")
    assert trial_resources(forced) == {"CPU": 1.0} and trial_footprint(forced) == (2.0, 0.0)
    gpu = TrainSpec(cpus_per_worker=4, gpus_per_worker=0.5)
    assert trial_resources(gpu) == {"CPU": 4.0, "GPU": 0.5} and gpu.threads == 4
    assert TrainSpec(torch_threads=3).threads == 3


def test_in_trial_with_several_workers_is_a_spec_error(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", tmp_path / "store", extra_train="workers: 2\nexecutor: in_trial")
    with pytest.raises(SpecError, match=r"s\.yaml:\d+: field 'train'.*executor 'in_trial' trains one worker"):
        load_spec(spec)


def test_ready_specs_run_two_single_worker_trials_on_two_cores():
    import yaml

    from mtlsearch.spec import SearchSpec

    specs = sorted(Path(__file__).resolve().parents[1].glob("search_spaces/*.yaml"))
    assert len(specs) >= 5
    for path in specs:  # (tests/test_ready_specs.py validates them whole, with the real data)
        raw = yaml.safe_load(path.read_text())
        spec = SimpleNamespace(train=TrainSpec(**raw["train"]), search=SearchSpec(**raw["search"]))
        assert spec.train.resolved_executor == "in_trial", path.name
        assert max_concurrent_trials(spec, {"CPU": 2.0}) == 2, path.name


def _loop_numbers(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in TIMING_KEYS | TUNE_KEYS}


def _same(a, b) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b


def _differences(a: dict, b: dict) -> dict:
    """The loop's reported numbers that differ between two results (NaN equals NaN), and keys only one has."""
    na, nb = _loop_numbers(a), _loop_numbers(b)
    return {k: (na.get(k), nb.get(k)) for k in set(na) | set(nb) if k not in na or k not in nb or not _same(na[k], nb[k])}


@pytest.mark.ray
def test_both_paths_report_the_same_numbers_rows_and_leaderboard(ray_cluster, tmp_path):
    """The same seeded search (ASHA on, one trial at a time) on both paths: every reported number is equal.

    Two trials (each Ray Train run starts in about 10 s on two cores), one at a time, so TPE sees the same
    finished trials before each suggestion on both paths.
    The Ray Train path trains its baselines in a Ray Train run, the in-trial path in a Ray task: the
    baselines must agree too.
    """
    space = (
        "architecture: {choice: [STL, MTL, GMTL]}\n    grouping: {choice: [planted, mixed]}\n    lr: {loguniform: [0.001, 0.01]}"
    )
    runs = {}
    for executor in ("in_trial", "ray_train"):
        spec = write_spec(
            tmp_path / f"{executor}.yaml",
            tmp_path / executor,
            experiment="paths",
            num_samples=2,
            epochs=3,
            tasks=4,
            samples=800,
            space=space,
            extra_train=f"executor: {executor}",
        )
        spec.write_text(spec.read_text().replace("search:\n", "search:\n  max_concurrent_trials: 1\n"))
        log = tmp_path / f"{executor}.log"
        with log.open("w") as f:
            _, rows = launch(load_spec(spec), out=f)
        runs[executor] = {
            "rows": rows,
            "log": log.read_text(),
            "store": ResultsStore(str(tmp_path / executor)),
            "tune": tune_results(tmp_path / executor, "paths"),
        }
    a, b = runs["in_trial"], runs["ray_train"]
    assert "one worker, a Ray task" in a["log"] and "Ray Train, 1 workers" in b["log"]
    assert "trains in its own Tune trial" in a["log"] and "runs 1 Ray Train worker(s)" in b["log"]

    # the baselines: same scores and best epochs
    assert a["store"].read_experiment("paths")["baselines"] == b["store"].read_experiment("paths")["baselines"]

    # the leaderboard: same candidates in the same order with the same numbers (trial ids and costs aside)
    def board(rows):
        return [{k: v for k, v in r.items() if k not in RUN_SPECIFIC} for r in rows]

    assert board(a["rows"]) == board(b["rows"])

    # every number the loop reported, epoch by epoch, trial by trial (paired by their sampled config)
    def by_config(per_trial):
        return sorted(per_trial.values(), key=lambda rows: json.dumps(rows[0]["config"], sort_keys=True))

    ta, tb = by_config(a["tune"]), by_config(b["tune"])
    assert [r[0]["config"] for r in ta] == [r[0]["config"] for r in tb]
    assert [len(r) for r in ta] == [len(r) for r in tb]
    for ra, rb in zip(ta, tb):
        for x, y in zip(ra, rb):
            assert not _differences(x, y)
    # the store rows: same keys and values per (epoch, task, split, metric)
    for table in ("trials", "task_metrics", "status"):
        ka, kb = (
            sorted(
                tuple(sorted((k, str(v)) for k, v in r.items() if k not in RUN_SPECIFIC))
                for r in run["store"].read("paths", table).to_pylist()
            )
            for run in (a, b)
        )
        assert ka == kb, table


@pytest.mark.ray
def test_one_worker_runs_outside_tune_are_ray_tasks_that_resume_from_the_store(ray_cluster, tmp_path):
    """Baselines and the affinity run train in a Ray task (another process), never in the launcher;
    a baseline run started again under the same name resumes after its last stored epoch."""
    import os
    from dataclasses import asdict

    from mtlsearch.data.canonical import read_info
    from mtlsearch.data.registry import prepare
    from mtlsearch.data.synthetic import SyntheticOptions
    from mtlsearch.models.plan import make_plan
    from mtlsearch.train.executor import fit, on_cluster
    from mtlsearch.train.job import TrainJob

    train = TrainSpec()
    assert on_cluster(lambda: os.getpid(), train) != os.getpid()
    path = prepare("synthetic", SyntheticOptions(num_tasks=3, num_groups=1, num_samples=300, multiclass_tasks=0), tmp_path / "d")
    info = read_info(path)
    job = TrainJob(
        dataset_path=str(path),
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan("STL", info.task_names).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [8]},
        epochs=3,
        batch_size=64,
        lr=3e-3,
        seed=0,
        torch_threads=1,
    )
    first = fit(job, train, "stl_run", str(tmp_path / "runs"))
    assert (tmp_path / "runs" / "stl_run" / "state.pt").is_file()
    assert first["epoch"] == 3 and first["resumed_at_epoch"] == 0
    again = fit(job, train, "stl_run", str(tmp_path / "runs"))  # all epochs are stored: nothing left to train
    assert not _differences(again, first) and again["elapsed_s"] == first["elapsed_s"]  # the stored report, again
    from dataclasses import replace

    longer = fit(replace(job, epochs=4), train, "stl_run", str(tmp_path / "runs"))  # resumes after epoch 3
    assert longer["epoch"] == 4 and longer["resumed_at_epoch"] == 3
