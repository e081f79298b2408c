"""Multi-objective search (``search.objectives: [dm_val, cost]``): the spec field, the Pareto set, and the Optuna
study in a real journal file, driven through the searcher as Tune drives it (no Ray cluster).

The real multi-objective search on Ray (ASHA on, its leaderboard, CSV and report) is in test_launch_e2e.py.
"""

import math
import pickle
from pathlib import Path

import optuna
import pytest
from conftest import write_spec

from mtlsearch.errors import SpecError
from mtlsearch.metrics.result_keys import COST, DM_VAL, EPOCH
from mtlsearch.report.pareto import PARETO, pareto_front, pareto_set
from mtlsearch.search import study
from mtlsearch.search.launcher import launch
from mtlsearch.search.tuner import _searcher
from mtlsearch.spec import load_spec
from mtlsearch.store.results import ERROR, FINISHED, STOPPED_EARLY, ResultsStore

EPOCHS = 4
MULTI = "objectives: [dm_val, cost]"


def _spec(tmp_path: Path, search_extra: str = MULTI, name: str = "s.yaml") -> Path:
    return write_spec(tmp_path / name, tmp_path / "store", experiment="mo", epochs=EPOCHS, search_extra=search_extra)


def _error(path: Path) -> str:
    with pytest.raises(SpecError) as e:
        load_spec(path)
    return str(e.value)


def test_the_spec_takes_objectives_and_names_a_bad_one(tmp_path):
    assert load_spec(_spec(tmp_path, "")).spec.search.objectives == ["dm_val"]
    assert load_spec(_spec(tmp_path)).spec.search.objectives == ["dm_val", "cost"]
    assert load_spec(_spec(tmp_path, "objectives: [cost, dm_val]\nsearcher: nsga2")).spec.search.searcher == "nsga2"
    for bad, says in (
        ("objectives: [cost]", "expected a list holding 'dm_val'"),
        ("objectives: [dm_val, dm_val]", "an objective is listed twice"),
        ("objectives: [dm_val, speed]", "'speed'"),
    ):
        path = _spec(tmp_path, bad)
        line = path.read_text().splitlines().index(f"  {bad}") + 1
        msg = _error(path)
        assert f"s.yaml:{line}: field 'search.objectives" in msg and says in msg, msg


def test_the_pareto_front_keeps_the_undominated_points():
    points = [(10.0, 2.0), (30.0, 5.0), (40.0, 1.0), (10.0, 1.0), (5.0, math.nan), (30.0, 5.0), (50.0, 6.0)]
    # (40, 1) and (10, 1) are dominated; NaN is never on it; equal points do not dominate each other
    assert pareto_front(points) == [0, 1, 5, 6]
    assert pareto_front([]) == []


def test_the_pareto_set_is_of_full_budget_trials_only():
    rows = [
        {"trial_id": "a", "status": FINISHED, COST: 10.0, DM_VAL: 2.0},
        {"trial_id": "b", "status": FINISHED, COST: 30.0, DM_VAL: 5.0},
        {"trial_id": "c", "status": FINISHED, COST: 40.0, DM_VAL: 1.0},
        {"trial_id": "d", "status": STOPPED_EARLY, COST: 3.0, DM_VAL: 4.0},  # cheap because ASHA stopped it
        {"trial_id": "e", "status": ERROR, COST: 1.0, DM_VAL: 9.0},
        {"trial_id": "f", "status": "running", COST: 1.0, DM_VAL: 9.0},
    ]
    assert pareto_set(rows) == {"a", "b"}


def test_the_pareto_table_tells_short_trials_costs_apart():
    from mtlsearch.report.leaderboard import pareto_table

    rows = [
        {"trial_id": "a", "architecture": "MTL", "grouping": "", COST: 0.145, DM_VAL: 1.0, "dm_test": 0.5, PARETO: True},
        {"trial_id": "b", "architecture": "MTL", "grouping": "", COST: 0.0512, DM_VAL: -2.0, "dm_test": -1.0, PARETO: True},
        {"trial_id": "c", "architecture": "MTL", "grouping": "", COST: 165.54, DM_VAL: 3.0, "dm_test": 2.0, PARETO: True},
    ]
    header, body = pareto_table(rows)
    costs = [cells[header.index("cost (worker·s)")] for cells in body]
    assert costs == ["0.0512", "0.145", "165.5"]  # cheapest first; a fraction of a second keeps 3 digits


# the trials Tune hands the searcher: (tune trial id, last epoch, Δm(val), cost, errored)
TOLD = [
    ("t_00000", EPOCHS, 2.0, 10.0, False),
    ("t_00001", EPOCHS, 5.0, 30.0, False),
    ("t_00002", EPOCHS, 1.0, 40.0, False),  # dominated by t_00000
    ("t_00003", 1, 4.0, 3.0, False),  # ASHA stopped it after one epoch
    ("t_00004", 2, 0.0, 6.0, True),
]


def _drive(searcher, told=TOLD) -> list[dict]:
    """Tune's calls for each trial: suggest, one result per epoch, then complete (or error)."""
    configs = []
    for trial_id, epochs, dm, cost, errored in told:
        configs.append(searcher.suggest(trial_id))
        for epoch in range(1, epochs + 1):  # a multi-objective study takes no intermediate values
            searcher.on_trial_result(
                trial_id, {DM_VAL: dm, COST: cost * epoch / epochs, EPOCH: epoch, "training_iteration": epoch}
            )
        result = {DM_VAL: dm, COST: cost, EPOCH: epochs, "trial_id": trial_id}
        searcher.on_trial_complete(trial_id, result=None if errored else result, error=errored)
    return configs


def _journal_study(store_root: Path, name: str = "mo") -> optuna.Study:
    """The study as optuna-dashboard reads it: Optuna's own journal storage on the file, not this project's class."""
    path = study.local_journal_path(str(store_root), name)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    return optuna.load_study(study_name=name, storage=storage)


@pytest.mark.parametrize("searcher_name", ["optuna", "nsga2"])
def test_a_multi_objective_study_is_stored_with_its_pareto_front(tmp_path, searcher_name):
    spec = load_spec(_spec(tmp_path, f"{MULTI}\nsearcher: {searcher_name}")).spec
    storage = study.new_journal_storage(spec.storage, "mo")
    searcher = _searcher(spec, [], study_storage=storage, study_name="mo")
    assert searcher.metric == [DM_VAL, COST] and searcher.mode == ["max", "min"]
    expected_sampler = optuna.samplers.NSGAIISampler if searcher_name == "nsga2" else optuna.samplers.TPESampler
    assert isinstance(searcher._ot_study.sampler, expected_sampler)
    configs = _drive(searcher)

    loaded = _journal_study(tmp_path / "store")
    assert [d.name for d in loaded.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert loaded.metric_names == ["dm_val", "cost"]
    by_tune = {t.user_attrs[study.TUNE_TRIAL_ID]: t for t in loaded.trials if study.TUNE_TRIAL_ID in t.user_attrs}
    states = {tid: t.state.name for tid, t in by_tune.items()}
    assert states == {"t_00000": "COMPLETE", "t_00001": "COMPLETE", "t_00002": "COMPLETE", "t_00003": "PRUNED"}
    assert [t.state.name for t in loaded.trials] == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "FAIL"]
    assert by_tune["t_00001"].values == [5.0, 30.0]
    assert by_tune["t_00003"].values is None and by_tune["t_00003"].user_attrs[study.STOPPED_AT_ATTR] == 1
    assert all(not t.intermediate_values for t in loaded.trials)
    assert [t.params for t in loaded.trials] == configs

    # the study's own Pareto front is the leaderboard's Pareto set of the same trials
    rows = [
        {"trial_id": tid, "status": ERROR if err else (FINISHED if ep == EPOCHS else STOPPED_EARLY), COST: c, DM_VAL: d}
        for tid, ep, d, c, err in TOLD
    ]
    assert {t.user_attrs[study.TUNE_TRIAL_ID] for t in loaded.best_trials} == pareto_set(rows) == {"t_00000", "t_00001"}
    assert searcher.suggest("t_00005")  # the sampler goes on from the stored trials
    restored = pickle.loads(pickle.dumps(searcher))  # as Tune saves and --resume restores it
    assert restored.suggest("t_00006") and len(_journal_study(tmp_path / "store").trials) == len(TOLD) + 2


def test_a_single_objective_study_is_told_every_trial_as_before(tmp_path):
    spec = load_spec(_spec(tmp_path, "")).spec
    searcher = _searcher(spec, [], study_storage=study.new_journal_storage(spec.storage, "mo"), study_name="mo")
    _drive(searcher)
    loaded = _journal_study(tmp_path / "store")
    assert loaded.metric_names == ["dm_val"] and len(loaded.directions) == 1
    assert [t.state.name for t in loaded.trials] == ["COMPLETE"] * 4 + ["FAIL"]
    assert loaded.trials[3].value == 4.0 and loaded.trials[3].intermediate_values == {1: 4.0}


def test_the_stored_studys_objectives_are_checked_before_a_resume(tmp_path):
    root = str(tmp_path / "store")
    spec = load_spec(_spec(tmp_path)).spec
    _drive(_searcher(spec, [], study_storage=study.new_journal_storage(root, "mo"), study_name="mo"))
    assert study.check_objectives(root, "mo", ["dm_val", "cost"]) is None
    assert "optimizes ['dm_val', 'cost'], not ['dm_val']" in study.check_objectives(root, "mo", ["dm_val"])
    assert "not ['cost', 'dm_val']" in study.check_objectives(root, "mo", ["cost", "dm_val"])
    assert study.check_objectives(root, "none", ["dm_val"]) is None  # no study (listed configs): nothing to check
    assert not Path(study.local_journal_path(root, "none")).exists()  # and no journal is made for it
    # a study of an older search, without names: its directions decide
    old = optuna.create_study(storage=study.journal_storage(root, "old"), study_name="old", direction="maximize")
    old.tell(old.ask(), 1.0)
    assert study.check_objectives(root, "old", ["dm_val"]) is None
    assert "has directions ['maximize']" in study.check_objectives(root, "old", ["dm_val", "cost"])


def test_resume_refuses_other_objectives_and_keeps_what_is_stored(tmp_path):
    """``launch --resume`` with the objectives changed stops before any training, naming the spec's line."""
    first = load_spec(_spec(tmp_path, "")).spec
    store = ResultsStore(first.storage)
    store.write_experiment("mo", {"experiment": "mo", "spec": first.model_dump(mode="json")})
    _drive(_searcher(first, [], study_storage=study.new_journal_storage(first.storage, "mo"), study_name="mo"))
    journal = Path(study.local_journal_path(first.storage, "mo"))
    before = (journal.read_bytes(), Path(store.experiment_uri("mo", "experiment.json")).read_bytes())

    changed = _spec(tmp_path, name="changed.yaml")
    line = changed.read_text().splitlines().index(f"  {MULTI}") + 1
    with pytest.raises(SpecError) as e:
        launch(load_spec(changed), resume=True)
    msg = str(e.value)
    assert f"changed.yaml:{line}: field 'search.objectives'" in msg
    assert "optimizes ['dm_val'], not ['dm_val', 'cost']" in msg and "without --resume" in msg
    assert (journal.read_bytes(), Path(store.experiment_uri("mo", "experiment.json")).read_bytes()) == before
