"""The Optuna study's journal (mtlsearch.search.study): where it lives, how it pickles, trims, and travels to S3.

The real searches that fill it are checked in test_launch_e2e.py (every finished trial in the study) and
test_resume.py (a resumed search continues the same study)."""

import pickle
import shutil
from pathlib import Path

import optuna

from mtlsearch.search import study
from mtlsearch.store.atomic import read_bytes


def _study(storage, name="x"):
    return optuna.create_study(storage=storage, study_name=name, load_if_exists=True, direction="maximize")


def test_a_local_store_keeps_the_journal_in_the_experiment_folder(tmp_path):
    path = study.local_journal_path(str(tmp_path), "e")
    assert path == str(tmp_path / "experiments" / "e" / study.JOURNAL_FILE)
    assert study.dashboard_command(str(tmp_path), "e") == f"optuna-dashboard {path}"
    s = _study(study.journal_storage(str(tmp_path), "e"), "e")
    t = s.ask()
    t.suggest_float("lr", 1e-4, 1e-1, log=True)
    s.tell(t, 0.25)
    loaded = optuna.load_study(
        study_name="e", storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    )
    assert [(x.state.name, x.value) for x in loaded.trials] == [("COMPLETE", 0.25)]


def test_the_pickled_storage_writes_at_the_unpickling_machines_path(tmp_path, monkeypatch):
    """Tune pickles the searcher with its study: a resume on another machine (another cache) must use its own path."""
    root = "s3://bucket/prefix"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a"))
    s = _study(study.journal_storage(root, "e"), "e")
    s.tell(s.ask(), 1.0)
    first = Path(study.local_journal_path(root, "e"))
    assert first.is_relative_to(tmp_path / "a") and first != Path(study.local_journal_path("s3://bucket/other", "e"))
    blob = pickle.dumps(s)

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    second = Path(study.local_journal_path(root, "e"))
    assert second.is_relative_to(tmp_path / "b")
    second.parent.mkdir(parents=True)
    shutil.copy(first, second)  # the store's copy, fetched to this machine
    restored = pickle.loads(blob)
    restored.tell(restored.ask(), 2.0)
    assert [t.value for t in optuna.load_study(study_name="e", storage=study.journal_storage(root, "e")).trials] == [1.0, 2.0]
    plain = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(first)))
    assert len(optuna.load_study(study_name="e", storage=plain).trials) == 1  # the first machine's file untouched


def test_an_unfinished_last_line_is_cut(tmp_path):
    root = str(tmp_path)
    s = _study(study.journal_storage(root, "e"), "e")
    s.tell(s.ask(), 1.0)
    path = study.local_journal_path(root, "e")
    with open(path, "ab") as f:
        f.write(b'{"op_code": 4, "worker_id"')  # a write cut short by a killed driver
    assert study.trim_unfinished_line(path) == len(b'{"op_code": 4, "worker_id"')
    assert study.trim_unfinished_line(path) == 0
    s = _study(study.journal_storage(root, "e"), "e")
    s.tell(s.ask(), 2.0)  # appending after the cut line would make the journal unreadable
    assert [t.value for t in optuna.load_study(study_name="e", storage=study.journal_storage(root, "e")).trials] == [1.0, 2.0]


def test_trials_left_running_are_closed_as_failed(tmp_path):
    root = str(tmp_path)
    s = _study(study.journal_storage(root, "e"), "e")
    s.tell(s.ask(), 1.0)
    s.ask()
    assert study.close_abandoned(root, "e") == 1
    trials = optuna.load_study(study_name="e", storage=study.journal_storage(root, "e")).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"]
    assert trials[1].user_attrs == {study.ABANDONED_ATTR: True}
    assert study.close_abandoned(str(tmp_path / "none"), "e") == 0


def test_the_searcher_names_each_study_trial_after_its_tune_trial(tmp_path):
    from mtlsearch.search.space import DefineByRun
    from mtlsearch.spec.space import SearchSpace

    space = SearchSpace.model_validate({"lr": {"loguniform": [1e-4, 1e-2]}})
    searcher = study.StoredOptunaSearch(
        space=DefineByRun(space, []),
        metric="dm_val",
        mode="max",
        storage=study.journal_storage(str(tmp_path), "e"),
        study_name="e",
    )
    config = searcher.suggest("abc_00000")
    searcher.on_trial_complete("abc_00000", result={"dm_val": 0.5, "trial_id": "abc_00000"})
    searcher.suggest("abc_00001")
    searcher.on_trial_complete("abc_00001", error=True)
    searcher._completed_trials.discard("abc_00000")  # restored from before it ended: it reports, ends again
    searcher.on_trial_result("abc_00000", {"dm_val": 0.6, "training_iteration": 2})
    searcher.on_trial_complete("abc_00000", result={"dm_val": 0.7, "trial_id": "abc_00000"})
    assert "abc_00000" in searcher._completed_trials
    fresh = study.StoredOptunaSearch(  # a restored searcher that gets no result before the end
        space=DefineByRun(space, []), metric="dm_val", mode="max", storage=searcher._storage, study_name="e"
    )
    fresh._ot_trials["abc_00000"] = searcher._ot_trials["abc_00000"]
    fresh.on_trial_complete("abc_00000", result={"dm_val": 0.7, "trial_id": "abc_00000"})
    assert fresh._closed_in_study == {"abc_00000"}
    trials = optuna.load_study(study_name="e", storage=study.journal_storage(str(tmp_path), "e")).trials
    assert [(t.state.name, t.value, t.user_attrs) for t in trials] == [
        ("COMPLETE", 0.5, {study.TUNE_TRIAL_ID: "abc_00000"}),
        ("FAIL", None, {}),
    ]
    assert trials[0].params == config


def test_a_remote_stores_journal_is_uploaded_and_fetched_back(s3_env, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = f"s3://{s3_env.bucket}/study"
    s = _study(study.journal_storage(root, "e"), "e")
    s.tell(s.ask(), 1.0)
    study.upload_journal(root, "e")
    path = study.local_journal_path(root, "e")
    uploaded = read_bytes(study.store_journal_uri(root, "e"))
    assert uploaded == open(path, "rb").read()
    assert "(copied to s3://" in study.dashboard_command(root, "e")

    s.tell(s.ask(), 2.0)  # a local copy ahead of the store's (not uploaded before an interruption) is kept
    study.fetch_journal(root, "e")
    assert len(optuna.load_study(study_name="e", storage=study.journal_storage(root, "e")).trials) == 2

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))  # another machine: the store's copy
    study.fetch_journal(root, "e")
    assert open(study.local_journal_path(root, "e"), "rb").read() == uploaded


def test_nothing_to_fetch_is_said(tmp_path, caplog):
    study.fetch_journal(str(tmp_path), "e")
    assert "no Optuna study at" in caplog.text


def test_a_new_search_does_not_continue_a_left_over_journal(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = "s3://bucket/prefix"
    s = _study(study.journal_storage(root, "e"), "e")  # a cached journal of an experiment since deleted
    s.tell(s.ask(), 1.0)
    fresh = _study(study.new_journal_storage(root, "e"), "e")
    assert fresh.trials == []
