"""No configuration runs twice in a search (all trials share the spec's seed), and a used-up space ends it."""

import io
from pathlib import Path

from conftest import write_spec
from optuna.trial import TrialState
from ray.tune.search import ConcurrencyLimiter, Searcher, SearchGenerator
from ray.tune.search.optuna import OptunaSearch

from mtlsearch import logs
from mtlsearch.search.distinct import DistinctConfigs, config_key
from mtlsearch.search.space import discrete_candidates
from mtlsearch.search.tuner import METRIC, _searcher
from mtlsearch.spec import load_spec

TASKS = [f"task_{i:02d}" for i in range(6)]
SMALL = "architecture: {choice: [STL, MTL, GMTL]}\n    grouping: {choice: [planted, mixed]}"  # 4 configurations


def _spec(tmp_path: Path, space: str, searcher: str = "optuna"):
    text = write_spec(tmp_path / "s.yaml", tmp_path, space=space).read_text()
    (tmp_path / "s.yaml").write_text(text.replace("search:\n", f"search:\n  searcher: {searcher}\n"))
    return load_spec(tmp_path / "s.yaml").spec


def _run(searcher: Searcher, first: int, count: int, score=lambda c: 1.0 if c.get("architecture") == "STL" else 0.0):
    """Suggest and complete trials t<first>..; the configurations until FINISHED (or ``count``)."""
    out = []
    for i in range(first, first + count):
        config = searcher.suggest(f"t{i}")
        if config == Searcher.FINISHED:
            break
        out.append(config)
        searcher.on_trial_result(f"t{i}", {METRIC: score(config), "training_iteration": 1})
        searcher.on_trial_complete(f"t{i}", result={METRIC: score(config), "training_iteration": 1})
    return out


def test_tpe_repeats_are_replaced_and_a_used_up_space_ends_the_search(tmp_path):
    said = io.StringIO()
    searcher = _searcher(_spec(tmp_path, SMALL), TASKS)
    assert isinstance(searcher, DistinctConfigs) and len(searcher.candidates) == 4
    with logs.capture(said):  # what the searcher says goes to the search's log
        searcher.announce(4)
        assert said.getvalue() == ""  # as many trials as configurations: nothing to say
        searcher.announce(10)
        configs = _run(searcher, 0, 10)
        assert searcher.suggest("t99") == Searcher.FINISHED
    assert (
        "mtlsearch: search: the search space has 4 distinct configurations: at most 4 trials will run (each once), not 10"
        in said.getvalue()
    )
    keys = [config_key(c) for c in configs]
    assert sorted(keys) == sorted(searcher.candidates)  # each configuration once, then FINISHED
    assert len(searcher.searcher._ot_study.trials) > len(configs)  # Optuna did propose repeats; none ran
    assert "all 4 distinct configurations of the search space have run; ending the search early" in said.getvalue()


def test_optuna_is_told_the_known_result_of_a_repeat_or_a_failure_while_it_runs(tmp_path):
    searcher = _searcher(_spec(tmp_path, SMALL), TASKS)
    study = searcher.searcher._ot_study
    _run(searcher, 0, 10)
    closed = [t for t in study.trials if t.state == TrialState.COMPLETE]
    # every configuration's own trial plus each repeat closed with that configuration's known value
    by_params: dict[str, set] = {}
    for t in closed:
        by_params.setdefault(config_key(t.params), set()).add(t.value)
    assert all(len(values) == 1 for values in by_params.values()), by_params
    assert searcher.exhausted and len(closed) == 4 + searcher.repeats_replaced + 1  # + the repeat that ended it

    (tmp_path / "b").mkdir()
    running = _searcher(_spec(tmp_path / "b", SMALL), TASKS)
    first = running.suggest("r0")  # still running when the next proposal comes
    running.searcher._ot_study.enqueue_trial(running.searcher._ot_trials["r0"].params)  # Optuna proposes it again
    second = running.suggest("r1")
    assert config_key(second) != config_key(first) and running.repeats_replaced == 1
    failed = [t for t in running.searcher._ot_study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].params == running.searcher._ot_trials["r0"].params  # no value yet: a failure


def test_the_state_survives_tunes_save_and_restore(tmp_path):
    """As Tune saves a search (``--resume``): the wrapper's state and the Optuna searcher, apart."""
    spec = _spec(tmp_path, SMALL)
    first = _searcher(spec, TASKS)
    before = _run(first, 0, 2)
    (tmp_path / "state").mkdir()
    SearchGenerator(ConcurrencyLimiter(first, max_concurrent=1)).save_to_dir(str(tmp_path / "state"), session_str="s")
    again = _searcher(spec, TASKS)
    SearchGenerator(ConcurrencyLimiter(again, max_concurrent=1)).restore_from_dir(str(tmp_path / "state"))
    assert again.started == first.started and again.searcher is not first.searcher
    after = _run(again, 2, 10)
    keys = [config_key(c) for c in before + after]
    assert sorted(keys) == sorted(first.candidates)


def test_the_grid_searcher_ends_after_its_candidates_instead_of_repeating(tmp_path):
    searcher = _searcher(_spec(tmp_path, SMALL, searcher="grid"), TASKS)
    configs = _run(searcher, 0, 10)
    assert len(configs) == 4 and searcher.repeats_replaced == 0 and searcher.exhausted


def test_continuous_static_weight_and_huge_spaces_are_not_wrapped(tmp_path):
    assert isinstance(_searcher(_spec(tmp_path, SMALL + "\n    lr: {loguniform: [0.001, 0.01]}"), TASKS), OptunaSearch)
    static = load_spec(
        write_spec(
            tmp_path / "w.yaml", tmp_path, space="static_weights: {choice: [0.5, 1.0]}", extra_train="weighting: {name: static}"
        )
    ).spec
    assert discrete_candidates(static.search.space, TASKS) is None  # 2^tasks combinations
    space = _spec(tmp_path, "hidden_dim: {int: [1, 400]}\n    batch_size: {choice: [16, 32, 64]}").search.space
    assert len(discrete_candidates(space, TASKS)) == 1200
    assert discrete_candidates(space, TASKS, limit=1000) is None
