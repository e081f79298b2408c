"""A Tune searcher that hands out a fixed list of trial configs: the confirmation stage and ``launch(configs=…)``."""

from __future__ import annotations

import pickle

from ray.tune.search import Searcher


class ListedConfigs(Searcher):
    """A Tune searcher that hands out exactly ``configs``, in order, then ends (``Searcher.FINISHED``).

    Tune's own ``BasicVariantGenerator(points_to_evaluate=…)`` needs every key of
    every point in the param space, and ignores ``max_concurrent_trials``; a
    ``Searcher`` gets Tune's concurrency limit. Its position is saved with the
    experiment, so a restored confirmation never hands a config out twice.
    """

    def __init__(self, configs: list[dict]):
        super().__init__()
        self.configs = [dict(c) for c in configs]
        self.next = 0

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        self._metric, self._mode = metric, mode
        return True

    def suggest(self, trial_id: str) -> dict | None:
        if self.next >= len(self.configs):
            return Searcher.FINISHED
        self.next += 1
        return dict(self.configs[self.next - 1])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def get_state(self) -> dict:
        return {"configs": self.configs, "next": self.next}

    def set_state(self, state: dict) -> None:
        self.configs, self.next = state["configs"], state["next"]

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))
