"""The ``mtlsearch`` command line.

    mtlsearch validate SPEC                      check a spec (exit 2 on any problem)
    mtlsearch launch SPEC [--storage DIR] [--resume] [--address ADDR]
    mtlsearch results EXPERIMENT [--storage DIR] [--format table|json]
    mtlsearch data inspect SPEC [--format table|json]

Ray is imported only by ``launch``: validating a spec or reading results never starts it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from mtlsearch.errors import MtlsearchError

DEFAULT_STORAGE_ENV = "MTLSEARCH_STORAGE"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mtlsearch", description="Task-grouping and hyperparameter search for multitask learning on Ray.")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="validate a spec and exit (2 when invalid)")
    v.add_argument("spec")

    la = sub.add_parser("launch", help="train baselines, run the search, print the leaderboard")
    la.add_argument("spec")
    la.add_argument("--storage", help="results store location (overrides the spec's 'storage')")
    la.add_argument("--resume", action="store_true", help="continue the interrupted experiment of this spec")
    la.add_argument("--address", help="an existing Ray cluster to run on (e.g. 'auto' or 'HOST:6379'); default: start a local one")
    la.add_argument("--verbose", action="store_true", help="forward Ray worker logs to this terminal")

    r = sub.add_parser("results", help="print an experiment's leaderboard from the store (no Ray)")
    r.add_argument("experiment")
    r.add_argument("--storage", help=f"results store location (default: ${DEFAULT_STORAGE_ENV} or ./mtlsearch_results)")
    r.add_argument("--format", choices=("table", "json"), default="table")

    d = sub.add_parser("data", help="dataset commands")
    dsub = d.add_subparsers(dest="data_command", required=True)
    di = dsub.add_parser("inspect", help="sizes, tasks, classes and counts of a spec's dataset")
    di.add_argument("spec")
    di.add_argument("--storage", help="results store location (where the dataset cache lives)")
    di.add_argument("--format", choices=("table", "json"), default="table")
    return p


def _validate(args) -> int:
    from mtlsearch.spec import load_spec

    loaded = load_spec(args.spec)
    space = loaded.spec.search.space
    print(f"{args.spec}: valid (experiment {loaded.spec.experiment!r}, dataset loader {loaded.spec.dataset.loader!r}, "
          f"open dimensions: {', '.join(space.open_dimensions())})")
    return 0


def _launch(args) -> int:
    from mtlsearch.search.launcher import launch
    from mtlsearch.spec import load_spec

    loaded = load_spec(args.spec, storage_override=args.storage)
    launch(loaded, resume=args.resume, address=args.address, verbose=args.verbose)
    return 0


def _results(args) -> int:
    from mtlsearch.report.leaderboard import format_leaderboard, leaderboard
    from mtlsearch.store.results import ResultsStore

    store = ResultsStore(args.storage or os.environ.get(DEFAULT_STORAGE_ENV, "./mtlsearch_results"))
    rows = leaderboard(store, args.experiment)
    if args.format == "json":
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(format_leaderboard(rows, store.read_experiment(args.experiment)))
    return 0


def _data_inspect(args) -> int:
    from mtlsearch.data.inspect import format_inspection, inspect_table, to_json
    from mtlsearch.search.launcher import prepare_dataset
    from mtlsearch.spec import load_spec
    from mtlsearch.store.results import ResultsStore

    loaded = load_spec(args.spec, storage_override=args.storage)
    path = prepare_dataset(loaded, ResultsStore(loaded.storage))
    report = inspect_table(path)
    print(to_json(report) if args.format == "json" else format_inspection(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"validate": _validate, "launch": _launch, "results": _results}
    try:
        if args.command == "data":
            return _data_inspect(args)
        return handlers[args.command](args)
    except MtlsearchError as e:
        print(f"mtlsearch: error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
