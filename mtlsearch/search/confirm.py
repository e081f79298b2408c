"""Confirmation with seeds (``search.confirm: {top: K, seeds: S}``): after the search, retrain the best candidates.

One search trial is one training run with one seed; on OHSUMED a second seed
moves an STL baseline by up to 4 points and Δm by up to 23. So after the search:

1. The candidates are picked on validation: the ``top`` K search trials by
   Δm(val) (finished or stopped by ASHA, not failed; one per configuration),
   plus, with ``each_architecture``, the best of every architecture tried. In
   a multi-objective search the members of the Pareto set come first (by
   Δm(val)), then the other trials.
2. The STL baselines are trained with each of ``S`` new seeds
   ``seed + 1 … seed + S`` (:func:`confirmation_seeds`) by the baselines'
   own machinery (:func:`mtlsearch.search.baselines.ensure_baselines`: stored,
   keyed by the seed, reused by any later search, resumable), one run per seed,
   all at once on the cluster.
3. Each candidate is retrained with each seed as an ordinary Tune trial (its
   config plus :data:`~mtlsearch.store.results.CONFIRMS` and
   :data:`~mtlsearch.store.results.SEED`) of a second Tune run,
   ``experiments/<name>/tune_confirm``: the same trainable, store, TensorBoard,
   progress lines and ``--resume``; no ASHA (every run gets the full budget).
   A run reports Δm against the baselines of its own seed, so its Δm is paired.
4. :func:`mtlsearch.report.confirmation.summarize` turns the finished runs into
   intervals; they are written to ``experiments/<name>/confirmation.parquet``.

The seeds are new, not the search's: the candidates were chosen for their
score with the search's seed, and reusing it would carry that selection's luck
into the interval.
"""

from __future__ import annotations

import contextvars
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from mtlsearch.data.canonical import DatasetInfo
from mtlsearch.metrics.delta_m import anchored_baselines, without
from mtlsearch.metrics.objectives import is_multi_objective
from mtlsearch.metrics.result_keys import DM_VAL
from mtlsearch.report.leaderboard import confirmation_rows, leaderboard
from mtlsearch.report.pareto import PARETO
from mtlsearch.search.baselines import ensure_baselines
from mtlsearch.search.context import SearchContext
from mtlsearch.search.distinct import config_key
from mtlsearch.spec import ARCHITECTURES, ConfirmSpec, Spec
from mtlsearch.store.results import CONFIRMS, SEED, ResultsStore

log = logging.getLogger(__name__)


def confirmation_seeds(spec: Spec) -> list[int]:
    """``seed + 1 … seed + S``: new seeds, the same for every candidate and the baselines (the pairing)."""
    return [spec.seed + 1 + i for i in range(spec.search.confirm.seeds)]


def pick_candidates(rows: list[dict], confirm: ConfirmSpec, pareto_first: bool = False) -> list[dict]:
    """The search trials to confirm, from leaderboard rows sorted by Δm(val): the ``top`` distinct configurations
    with a finite Δm(val) that did not fail and, with ``each_architecture``, the best one of every architecture.

    ``pareto_first`` (a multi-objective search): the members of the Pareto set come first, by Δm(val), then the
    other trials by Δm(val); so the ``top`` are the trade-offs a user chooses among (both objectives are
    measured on validation and training, never on test)."""
    eligible, seen = [], set()
    for r in rows:
        key = config_key(r["config"])
        if r["status"] == "error" or r[DM_VAL] is None or math.isnan(r[DM_VAL]) or key in seen:
            continue
        seen.add(key)
        eligible.append(r)
    if pareto_first:
        eligible = [r for r in eligible if r.get(PARETO)] + [r for r in eligible if not r.get(PARETO)]
    chosen = eligible[: confirm.top]
    if confirm.each_architecture:
        for arch in ARCHITECTURES:
            best = next((r for r in eligible if r["architecture"] == arch), None)
            if best is not None and best not in chosen:
                chosen.append(best)
    return chosen


def confirmation_configs(candidates: list[dict], seeds: list[int]) -> list[dict]:
    """One trial config per candidate and seed: the candidate's sampled config, the trial it confirms and the seed."""
    return [{**c["config"], CONFIRMS: c["trial_id"], SEED: s} for c in candidates for s in seeds]


def seed_baselines(
    spec: Spec,
    info: DatasetInfo,
    dataset_path: str,
    store: ResultsStore,
    experiment: str,
    use_gpu: bool,
) -> dict[int, dict[str, dict]]:
    """The STL baselines trained with each confirmation seed (stored ones reused), the seeds' runs side by side.

    Each seed's thread runs in a copy of the caller's context, so its log lines reach where the caller's go
    (:func:`mtlsearch.logs.capture`)."""
    seeds = confirmation_seeds(spec)

    def one(seed: int) -> dict[str, dict]:
        return ensure_baselines(
            spec.model_copy(update={"seed": seed}),
            info,
            dataset_path,
            store,
            experiment,
            use_gpu=use_gpu,
            label=f"seed {seed}: ",
        )

    with ThreadPoolExecutor(max_workers=len(seeds)) as pool:
        runs = [pool.submit(contextvars.copy_context().run, one, seed) for seed in seeds]
        return {seed: run.result() for seed, run in zip(seeds, runs)}


def run_confirmation(
    store: ResultsStore, context: SearchContext, dataset_path: str, stream=None, use_gpu: bool = False
) -> list[dict]:
    """Confirm the search's best candidates (steps 1-4 above), resuming an interrupted confirmation; return its rows."""
    from mtlsearch.search import tuner as tuner_mod

    spec, experiment = context.spec, context.experiment
    confirm = spec.search.confirm
    candidates = pick_candidates(leaderboard(store, experiment), confirm, is_multi_objective(spec.search.objectives))
    if not candidates:
        log.info("confirmation: no search trial has a finite Δm(val); nothing to confirm")
        return []
    seeds = confirmation_seeds(spec)
    log.info(
        f"confirmation: retraining {len(candidates)} candidate(s) ({', '.join(c['trial_id'] for c in candidates)}) and the "
        f"STL baselines with seeds {', '.join(map(str, seeds))}"
    )
    by_seed = seed_baselines(spec, context.info, dataset_path, store, experiment, use_gpu)
    meta = store.read_experiment(experiment)
    # one task set for every seed (and the search): a task any of their baselines cannot anchor is left out of all
    _, left_out = anchored_baselines(*by_seed.values(), meta["baselines"])
    if set(left_out) - set(meta.get("dm_left_out", {})):
        log.info(
            f"confirmation: Δm leaves out {', '.join(sorted(left_out))} for every seed (a baseline of 0 or NaN, named above)"
        )
    meta["confirmation"] = {
        "seeds": seeds,
        "candidates": [c["trial_id"] for c in candidates],
        "baselines": {str(s): b for s, b in by_seed.items()},
        "dm_left_out": left_out,
    }
    store.write_experiment(experiment, meta)
    context = replace(context, seed_baselines={s: without(bl, left_out) for s, bl in by_seed.items()})
    if tuner_mod.can_restore(store, experiment, tuner_mod.CONFIRM_TUNE_DIR):
        log.info(f"confirmation: resuming from {tuner_mod.tune_path(store, experiment, tuner_mod.CONFIRM_TUNE_DIR)}")
        tuner = tuner_mod.restore_tuner(store, context, tuner_mod.CONFIRM_TUNE_DIR)
    else:
        configs = confirmation_configs(candidates, seeds)
        log.info(
            f"confirmation: {len(configs)} trials ({len(candidates)} candidate(s) × {len(seeds)} seeds), full budget, no ASHA"
        )
        tuner = tuner_mod.build_confirm_tuner(store, context, configs, stream)
    tuner.fit()
    rows = confirmation_rows(leaderboard(store, experiment))
    store.write_confirmation(experiment, rows)
    return rows
