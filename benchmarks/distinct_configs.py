"""Repeated configurations: the searcher of each shipped spec, plain Optuna against DistinctConfigs.

Every trial of a search trains with the spec's seed, so a configuration that
runs twice only repeats a known result. This drives each discrete spec's real
searcher (``mtlsearch.search.tuner._searcher``, TPE / random / grid exactly as a
launch builds it) for ``num_samples`` trials against a synthetic objective,
without training anything: once with the plain Optuna searcher, once wrapped in
:class:`mtlsearch.search.distinct.DistinctConfigs`, and prints, per spec, the
space's size, the trials run, how many of them repeated an earlier
configuration, and how many distinct configurations each variant covered.

The objective is a fixed pseudo-random score per configuration (a hash of its
key), plus a bonus for one architecture, so that TPE has something to exploit,
as it does in real searches. Results of 5 seeds are summed.

    MTLSEARCH_DATA=../shared/data .venv/bin/python benchmarks/distinct_configs.py [--seeds 5]

(The real-data specs are loaded, which checks their datasets' tasks; a spec
whose data is absent is skipped with a line saying so.)
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def score(key: str) -> float:
    """A fixed score in [0, 1) per configuration, +1 for MTL (what TPE will learn to exploit)."""
    base = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32
    return base + (1.0 if '"architecture": "MTL"' in key else 0.0)


def drive(searcher, trials: int) -> list[str]:
    """Suggest and complete up to ``trials`` trials; the configuration keys that ran."""
    from ray.tune.search import Searcher

    from mtlsearch.search.distinct import config_key
    from mtlsearch.search.tuner import METRIC

    ran = []
    for i in range(trials):
        config = searcher.suggest(f"t{i}")
        if config is None or config == Searcher.FINISHED:
            break
        key = config_key(config)
        ran.append(key)
        result = {METRIC: score(key), "training_iteration": 1}
        searcher.on_trial_result(f"t{i}", result)
        searcher.on_trial_complete(f"t{i}", result=result)
    return ran


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args()

    import io

    import optuna

    from mtlsearch.errors import MtlsearchError
    from mtlsearch.search.distinct import DistinctConfigs
    from mtlsearch.search.space import discrete_candidates
    from mtlsearch.search.tuner import _searcher
    from mtlsearch.spec import load_spec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("ray").setLevel(logging.ERROR)
    rows, skipped = [], []
    for path in sorted((REPO / "search_spaces").glob("*.yaml")):
        try:
            spec = load_spec(path).spec  # checks the dataset's tasks: needs its files (MTLSEARCH_DATA)
        except MtlsearchError as e:
            print(f"{path.name}: skipped, its data is not here ({str(e).splitlines()[0][:100]})")
            continue
        candidates = discrete_candidates(spec.search.space)
        if candidates is None:  # a continuous dimension: repeats practically never happen, nothing is wrapped
            skipped.append(path.name)
            continue
        n = spec.search.num_samples
        totals = {"plain": [0, 0, 0], "distinct": [0, 0, 0]}  # trials run, repeats, distinct covered
        for seed in range(args.seeds):
            spec_s = spec.model_copy(update={"seed": seed})
            wrapped = _searcher(spec_s, stream=io.StringIO())
            assert isinstance(wrapped, DistinctConfigs)
            for name, searcher in (("plain", _searcher(spec_s, stream=io.StringIO()).searcher), ("distinct", wrapped)):
                ran = drive(searcher, n)
                totals[name][0] += len(ran)
                totals[name][1] += len(ran) - len(set(ran))
                totals[name][2] += len(set(ran))
        rows.append((path.name, spec.search.searcher, len(candidates), n, totals))

    print(f"repeated configurations over {args.seeds} seeds (trials run / repeats / distinct configurations covered)")
    head = f"{'spec':<24} {'searcher':<8} {'space':>5} {'trials':>6}   {'plain Optuna':>18}   {'DistinctConfigs':>18}"
    print(head)
    print("-" * len(head))
    for name, kind, size, n, t in rows:
        plain, distinct = ("{:>5} / {:>4} / {:>5}".format(*t[k]) for k in ("plain", "distinct"))
        print(f"{name:<24} {kind:<8} {size:>5} {n:>6}   {plain:>18}   {distinct:>18}")
    if skipped:
        print(f"not wrapped (a continuous dimension, no repeats): {', '.join(skipped)}")
    wasted = sum(t["plain"][1] for *_, t in rows)
    total = sum(t["plain"][0] for *_, t in rows)
    print(
        f"plain Optuna spent {wasted} of {total} trials ({100 * wasted / max(total, 1):.0f}%) on repeats; DistinctConfigs "
        f"{sum(t['distinct'][1] for *_, t in rows)}"
    )


if __name__ == "__main__":
    main()
