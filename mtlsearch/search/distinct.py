"""A Tune searcher wrapper under which a search never runs one configuration twice.

Every trial of a search trains with the spec's seed, so a configuration that
has already run would give the same result again. TPE proposes such repeats
often on small categorical spaces (it exploits its best configuration): in one
24-trial OHSUMED search, 10 trials were the same STL configuration. The grid
searcher, once its candidates are used up, hands over to TPE and repeats too.

:class:`DistinctConfigs` wraps the Optuna searcher of a discrete space (all of
whose configurations :func:`mtlsearch.search.space.enumerate_candidates` can
list). When the inner searcher proposes a configuration that has already been
started, the proposal is closed at once (Optuna is told the earlier run's
result, or a failure while that run is still going, so it learns nothing false)
and a configuration not yet started is drawn at random (seeded) and run
instead, through Optuna's trial queue. When every configuration has been
started, the search ends early (``Searcher.FINISHED``) and says so: the
remaining trials could only repeat results already known.
"""

from __future__ import annotations

import copy
import json
import logging
import random

from ray.tune.search import Searcher
from ray.tune.utils.util import unflatten_dict

from mtlsearch.metrics.result_keys import EPOCH

log = logging.getLogger(__name__)


def config_key(config: dict) -> str:
    """One string per configuration (nested or flat ``a/b`` keys give the same string)."""
    return json.dumps(unflatten_dict(dict(config)), sort_keys=True, default=str)


class DistinctConfigs(Searcher):
    """Runs each configuration of ``candidates`` at most once (see the module docstring).

    ``searcher`` is an ``OptunaSearch``; ``candidates`` lists every
    configuration of the space with Optuna's parameter names (as the grid
    searcher enqueues them). ``seed`` seeds the draw of replacements.
    """

    def __init__(self, searcher: Searcher, candidates: list[dict], seed: int):
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher
        self.candidates = {config_key(c): c for c in candidates}
        self.rng = random.Random(seed)
        self.started: set[str] = set()  # keys of the configurations a trial was started with
        self.results: dict[str, dict | None] = {}  # key -> {metric: value, epoch} of its finished trial (None: errored)
        self.inner_ids: dict[str, str] = {}  # trial id -> the inner searcher's id for it
        self.keys: dict[str, str] = {}  # trial id -> its configuration's key
        self.repeats_replaced = 0
        self.exhausted = False

    # -- Tune's Searcher interface ---------------------------------------------------------

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        ok = self.searcher.set_search_properties(metric, mode, config, **spec)
        if ok:
            self._metric, self._mode = self.searcher.metric, self.searcher.mode
        return ok

    def suggest(self, trial_id: str) -> dict | None:
        if self.exhausted:
            return Searcher.FINISHED
        config = self.searcher.suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            return config
        key = config_key(config)
        inner_id = trial_id
        if key in self.started:
            self._close_repeat(trial_id, key)
            unseen = [k for k in self.candidates if k not in self.started]
            if not unseen:
                self.exhausted = True
                self._say(
                    f"all {len(self.candidates)} distinct configurations of the search space have run; "
                    "ending the search early (more trials would only repeat known results)"
                )
                return Searcher.FINISHED
            pick = self.candidates[self.rng.choice(sorted(unseen))]
            self.searcher._ot_study.enqueue_trial(pick)  # OptunaSearch's study: the next ask() takes these values
            inner_id = f"{trial_id}/distinct"
            config = self.searcher.suggest(inner_id)
            key = config_key(config)
            self.repeats_replaced += 1
        self.started.add(key)
        self.inner_ids[trial_id] = inner_id
        self.keys[trial_id] = key
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.inner_ids:
            self.searcher.on_trial_result(self.inner_ids[trial_id], result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self.inner_ids:
            return
        self.results[self.keys[trial_id]] = (
            None if error or not result else {m: result[m] for m in (*self._metrics(), EPOCH) if m in result}
        )
        self.searcher.on_trial_complete(self.inner_ids[trial_id], result=result, error=error)

    # Tune saves a wrapper's own state (get_state) and the base searcher (save_to_dir) apart.
    def get_state(self) -> dict:
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k != "searcher"})

    def set_state(self, state: dict) -> None:
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)

    def announce(self, num_samples: int) -> None:
        """Say up front when the space holds fewer configurations than the trials asked for."""
        if len(self.candidates) < num_samples:
            self._say(
                f"the search space has {len(self.candidates)} distinct configurations: at most "
                f"{len(self.candidates)} trials will run (each once), not {num_samples}"
            )

    # -- helpers -------------------------------------------------------------------------------

    def _metrics(self) -> list[str]:
        """The result keys the study is told: one, or a multi-objective study's list."""
        return list(self.metric) if isinstance(self.metric, list) else [self.metric]

    def _close_repeat(self, trial_id: str, key: str) -> None:
        """Close the inner searcher's repeated proposal with what is known of that configuration."""
        known = self.results.get(key)
        if known is not None and all(known.get(m) is not None for m in self._metrics()):
            self.searcher.on_trial_complete(trial_id, result=known)
        else:  # still running, or it errored: no value to report
            self.searcher.on_trial_complete(trial_id, error=True)

    def _say(self, message: str) -> None:
        log.info("search: %s", message)
