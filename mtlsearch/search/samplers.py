"""The Optuna sampler of ``search.searcher``, made so Tune can pickle it.

* ``optuna`` (and ``grid`` once its enqueued points ran): TPE, which is Optuna's
  multi-objective TPE when ``search.objectives`` holds several;
* ``nsga2``: NSGA-II (Deb et al., "A fast and elitist multiobjective genetic
  algorithm: NSGA-II", IEEE Transactions on Evolutionary Computation, 2002), as
  Optuna implements it;
* ``random``.

Each is seeded with the spec's seed. Tune pickles the searcher, and with it the
sampler, into its experiment state (``--resume`` restores it); Optuna 5's genetic
samplers hold a ``threading.Lock``, which does not pickle, so NSGA-II is
:class:`PicklableNSGAIISampler`.
"""

from __future__ import annotations

import threading

import optuna

from mtlsearch.spec import Spec


class PicklableNSGAIISampler(optuna.samplers.NSGAIISampler):
    """Optuna's NSGA-II whose lock is left out when pickled and made anew when unpickled."""

    _LOCK = "_thread_lock"

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != self._LOCK}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        setattr(self, self._LOCK, threading.Lock())


def make_sampler(spec: Spec) -> optuna.samplers.BaseSampler:
    """The sampler of ``spec.search.searcher``, seeded with ``spec.seed``."""
    if spec.search.searcher == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed)
    if spec.search.searcher == "nsga2":
        return PicklableNSGAIISampler(seed=spec.seed)
    return optuna.samplers.TPESampler(seed=spec.seed)
