"""The thresholds' effect on the answer: the same candidates scored with val-tuned and with fixed thresholds.

Takes a finished experiment that ran a confirmation (``search.confirm``), e.g.
``mtlsearch launch search_spaces/ohsumed_grouping.yaml``, and runs its confirmed
candidates again as a new experiment whose spec differs only in
``evaluation.thresholds`` (the other protocol; ASHA off) and confirms all of
them with the same seeds. The trained models are the same (same configs and
seeds, deterministic CPU training); only the decisions change, and with them
each model's selected epoch and the baselines' scores. It prints, per
candidate, Δm(test) over the confirmation seeds with its 95% interval and the
verdict, and the test F1-macro and F1-micro (means over the seeds), under both
protocols. A baseline score of 0 makes Δm undefined (NaN) for every candidate:
the table then says which baseline it was.

    MTLSEARCH_DATA=../shared/data .venv/bin/python benchmarks/threshold_protocols.py \\
        search_spaces/ohsumed_grouping.yaml --experiment ohsumed_grouping --storage ./mtlsearch_results
"""

from __future__ import annotations

import argparse
import math
import sys

from mtlsearch.report.leaderboard import confirmation_rows, leaderboard
from mtlsearch.report.text import fmt, table
from mtlsearch.search.baselines import undefined_baselines
from mtlsearch.search.distinct import config_key
from mtlsearch.search.launcher import launch
from mtlsearch.spec import load_spec
from mtlsearch.store.results import ResultsStore

OTHER = {"val_tuned": "fixed", "fixed": "val_tuned"}


def _cells(c: dict | None) -> list[str]:
    if c is None:
        return ["not confirmed", "-", "-", "-"]
    return [
        f"{fmt(c['dm_test_mean'])} [{fmt(c['dm_test_low'])}, {fmt(c['dm_test_high'])}]",
        c["verdict"],
        fmt(c.get("test_macro_f1_mean"), ".4f"),
        fmt(c.get("test_micro_f1_mean"), ".4f"),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec")
    p.add_argument("--experiment", required=True, help="the finished experiment whose confirmed candidates are rescored")
    p.add_argument("--storage", required=True)
    p.add_argument("--log", default=None, help="file for the new launch's progress lines (default: stderr)")
    args = p.parse_args(argv)

    store = ResultsStore(args.storage)
    first = leaderboard(store, args.experiment)
    confirmed = confirmation_rows(first)
    if not confirmed:
        raise SystemExit(f"experiment {args.experiment!r} has no confirmed candidate (run it with search.confirm)")
    meta = store.read_experiment(args.experiment)
    protocol = meta["spec"]["evaluation"]["thresholds"]
    other = OTHER[protocol]
    by_trial = {r["trial_id"]: r for r in first}
    configs = [by_trial[c["trial_id"]]["config"] for c in confirmed]

    loaded = load_spec(args.spec, storage_override=args.storage)
    spec = loaded.spec
    confirm = spec.search.confirm.model_copy(update={"top": len(configs), "each_architecture": False})
    search = spec.search.model_copy(
        update={"confirm": confirm, "scheduler": spec.search.scheduler.model_copy(update={"enabled": False})}
    )
    loaded.spec = spec.model_copy(
        update={
            "experiment": f"{args.experiment}-{other}",
            "evaluation": spec.evaluation.model_copy(update={"thresholds": other}),
            "search": search,
        }
    )
    out = open(args.log, "w") if args.log else sys.stderr
    try:
        experiment, second = launch(loaded, out=out, configs=configs)
    finally:
        if args.log:
            out.close()
    again = {config_key(r["config"]): r.get("confirmation") for r in second}

    header = [
        "candidate",
        f"Δm test {protocol} [95%]",
        "verdict",
        "F1-macro",
        "F1-micro",
        f"Δm test {other} [95%]",
        "verdict",
        "F1-macro",
        "F1-micro",
    ]
    body = [[c["candidate"], *_cells(c), *_cells(again.get(config_key(by_trial[c["trial_id"]]["config"])))] for c in confirmed]
    print(
        f"\nthe same {len(configs)} candidates of {args.experiment!r} under both threshold protocols "
        f"(Δm(test) paired over the confirmation seeds; F1 on test, means over the seeds):"
    )
    print(table(header, body))
    second_meta = ResultsStore(args.storage).read_experiment(experiment)
    metrics = second_meta["task_metrics"]
    for name, m, used in ((args.experiment, meta, protocol), (experiment, second_meta, other)):
        by_seed = {"search seed": m["baselines"], **(m.get("confirmation") or {}).get("baselines", {})}
        for seed, baselines in by_seed.items():
            for line in undefined_baselines(baselines, metrics, used):
                print(f"{name}, seed {seed}: {line}")
    undefined = [c for c in confirmation_rows(second) if math.isnan(c["dm_test_mean"])]
    if undefined:
        print(f"{len(undefined)} candidate(s) have no Δm under {other}: a baseline score is 0 (named above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
