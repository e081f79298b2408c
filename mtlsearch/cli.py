"""The ``mtlsearch`` command line.

    mtlsearch [--verbose | --quiet] COMMAND ...  log lines on stderr: also DEBUG, or only warnings
    mtlsearch validate SPEC                      check a spec (exit 2 on any problem)
    mtlsearch launch SPEC [--storage DIR] [--resume] [--address ADDR] [--verbose]
    mtlsearch results EXPERIMENT [--storage DIR] [--format table|json|csv] [--out FILE]
    mtlsearch report EXPERIMENT [--storage DIR] [--out report.html]   one self-contained HTML report
    mtlsearch groups SPEC --method METHOD [--k K] [--overlapping] [--format table|json]
    mtlsearch data inspect SPEC [--format table|json]
    mtlsearch init DATA_FILE [--labels PATTERN ...] [--text COLUMN] [--out SPEC.yaml]   a spec for a data file

Ray is imported only by ``launch``: validating a spec or reading results never starts it.
Log lines (``mtlsearch: ...``) go to stderr through :mod:`mtlsearch.logs`; what a
command answers (the leaderboard, the groups, ``--format json``) goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from mtlsearch import __version__, logs
from mtlsearch.errors import MtlsearchError, UsageError
from mtlsearch.grouping.methods import GROUPING_METHODS

log = logging.getLogger(__name__)

DEFAULT_STORAGE_ENV = "MTLSEARCH_STORAGE"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mtlsearch", description="Task-grouping and hyperparameter search for multitask learning on Ray."
    )
    level = p.add_mutually_exclusive_group()
    level.add_argument(
        "-v", "--verbose", action="store_true", help="log DEBUG lines too (and, for launch, forward Ray worker logs)"
    )
    level.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="validate a spec and exit (2 when invalid)")
    v.add_argument("spec")

    la = sub.add_parser("launch", help="train baselines, run the search, print the leaderboard")
    la.add_argument("spec")
    la.add_argument("--storage", help="results store location (overrides the spec's 'storage')")
    la.add_argument("--resume", action="store_true", help="continue the interrupted experiment of this spec")
    la.add_argument(
        "--address", help="an existing Ray cluster to run on (e.g. 'auto' or 'HOST:6379'); default: start a local one"
    )
    la.add_argument(
        "--verbose", dest="launch_verbose", action="store_true", help="as mtlsearch --verbose: also forward Ray worker logs"
    )

    r = sub.add_parser("results", help="print an experiment's leaderboard from the store (no Ray)")
    r.add_argument("experiment")
    r.add_argument("--storage", help=f"results store location (default: ${DEFAULT_STORAGE_ENV} or ./mtlsearch_results)")
    r.add_argument("--format", choices=("table", "json", "csv"), default="table", help="csv: one row per trial, with its config")
    r.add_argument("--out", metavar="FILE", help="write the leaderboard to FILE instead of stdout")

    rp = sub.add_parser("report", help="write an experiment's self-contained HTML report from the store (no Ray)")
    rp.add_argument("experiment")
    rp.add_argument("--storage", help=f"results store location (default: ${DEFAULT_STORAGE_ENV} or ./mtlsearch_results)")
    rp.add_argument("--out", metavar="FILE", help="the HTML file to write (default: <experiment>-report.html here)")

    g = sub.add_parser("groups", help="compute (or read from the store) the task groups a grouping method gives; no search")
    g.add_argument("spec")
    g.add_argument("--method", required=True, choices=GROUPING_METHODS.names())
    g.add_argument("--k", type=int, help="number of groups (embedding: default the elbow's suggestion)")
    g.add_argument("--overlapping", action="store_true", help="affinity methods: let a task join several groups (TAG)")
    g.add_argument("--storage", help="results store location (overrides the spec's 'storage')")
    g.add_argument("--format", choices=("table", "json"), default="table")

    d = sub.add_parser("data", help="dataset commands")
    dsub = d.add_subparsers(dest="data_command", required=True)
    di = dsub.add_parser("inspect", help="sizes, tasks, classes and counts of a spec's dataset")
    di.add_argument("spec")
    di.add_argument("--storage", help="results store location (where the dataset cache lives)")
    di.add_argument("--format", choices=("table", "json"), default="table")

    i = sub.add_parser("init", help="write a commented spec for a data file (CSV, TSV, Parquet, JSON Lines, ARFF), validated")
    i.add_argument("data_file")
    i.add_argument("--labels", nargs="+", metavar="PATTERN", help="label columns (names or globs), one task each")
    i.add_argument("--multilabel", metavar="COLUMN", help="one column listing each row's labels (instead of --labels)")
    i.add_argument("--delimiter", help="separates the labels in the --multilabel column (default ';')")
    i.add_argument("--top-k", type=int, help="--multilabel: keep the K most frequent labels")
    i.add_argument("--text", metavar="COLUMN", help="a column of raw text (bag of words; a text encoder as an alternative)")
    i.add_argument("--audio", metavar="COLUMN", help="a column of WAV paths (log-mel spectrograms, a cnn encoder)")
    i.add_argument("--group", metavar="COLUMN", help="keep each value's rows (a patient) in one carved split")
    i.add_argument("--out", help="the spec to write (default: <data file stem>.yaml here)")
    i.add_argument("--force", action="store_true", help="replace --out if it exists")
    return p


def _validate(args) -> int:
    from mtlsearch.spec import load_spec

    loaded = load_spec(args.spec)
    space = loaded.spec.search.space
    print(
        f"{args.spec}: valid (experiment {loaded.spec.experiment!r}, dataset loader {loaded.spec.dataset.loader!r}, "
        f"open dimensions: {', '.join(space.open_dimensions())})"
    )
    return 0


def _launch(args) -> int:
    from mtlsearch.search.launcher import launch
    from mtlsearch.spec import load_spec

    loaded = load_spec(args.spec, storage_override=args.storage)
    launch(loaded, resume=args.resume, address=args.address, verbose=args.verbose or args.launch_verbose)
    return 0


def _results(args) -> int:
    import io

    from mtlsearch.report.leaderboard import format_leaderboard, leaderboard
    from mtlsearch.report.leaderboard_csv import write_leaderboard_csv
    from mtlsearch.store.results import ResultsStore

    store = ResultsStore(args.storage or os.environ.get(DEFAULT_STORAGE_ENV, "./mtlsearch_results"))
    rows = leaderboard(store, args.experiment)
    if args.format == "csv":
        buf = io.StringIO(newline="")
        write_leaderboard_csv(rows, buf)
        text = buf.getvalue()
    elif args.format == "json":
        text = json.dumps(rows, indent=2, default=str) + "\n"
    else:
        text = format_leaderboard(rows, store.read_experiment(args.experiment)) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise UsageError(f"--out {args.out}: cannot write the leaderboard there ({e.strerror or e})") from e
    log.info(f"{args.experiment}: leaderboard of {len(rows)} trial(s) written to {args.out}")
    return 0


def _report(args) -> int:
    from mtlsearch.report.html_report import write_report
    from mtlsearch.store.results import ResultsStore

    store = ResultsStore(args.storage or os.environ.get(DEFAULT_STORAGE_ENV, "./mtlsearch_results"))
    out = args.out or f"{args.experiment}-report.html"
    try:
        path = write_report(store, args.experiment, out)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write the report there ({e.strerror or e})") from e
    print(path)
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


def _groups(args) -> int:
    from mtlsearch.data.canonical import read_info
    from mtlsearch.grouping.artifacts import get_artifact, get_selection
    from mtlsearch.grouping.methods import GroupingInputs, get_method
    from mtlsearch.report.groups import format_groups
    from mtlsearch.search.launcher import prepare_dataset
    from mtlsearch.spec import load_spec
    from mtlsearch.store.results import ResultsStore

    loaded = load_spec(args.spec, storage_override=args.storage)
    store = ResultsStore(loaded.storage)
    path = prepare_dataset(loaded, store)
    info = read_info(path)
    method = get_method(args.method)
    if args.k is not None and not 1 <= args.k <= len(info.tasks):
        raise UsageError(f"--k: k must be between 1 and the number of tasks ({len(info.tasks)}), got {args.k}")
    if args.overlapping and not method.overlapping_groups:
        raise UsageError(
            f"--overlapping: method {args.method!r} gives a partition; overlapping groups come from an affinity-type "
            "matrix (affinity, gradient_cosine, head_coupling)"
        )
    if args.method == "embedding":
        loaded.check_descriptions(info.tasks)
    artifact = get_artifact(method, GroupingInputs(loaded.spec, info, path), store)
    k = args.k
    if k is None:
        if "elbow" not in artifact.meta:
            raise MtlsearchError(f"--k is required for --method {args.method}")
        k = artifact.meta["elbow"]["suggested_k"]
    selection = get_selection(method, artifact, k, store, seed=loaded.spec.seed, overlapping=args.overlapping)
    plot = store.groupings.uri(artifact.artifact_id, method.plot_file)
    report = {
        "method": args.method,
        "k": k,
        "overlapping": args.overlapping,
        "groups": selection.groups,
        "titles": {t.name: t.title for t in info.tasks if t.title},
        "selection": selection.meta,
        "elbow": artifact.meta.get("elbow"),
        "reliability": artifact.meta.get("reliability"),
        "artifact": store.groupings.uri(artifact.artifact_id),
        "plot": plot,
    }
    print(json.dumps(report, indent=2) if args.format == "json" else format_groups(report))
    return 0


def _init(args) -> int:
    from mtlsearch.spec_init import InitRequest, init_spec

    request = InitRequest(
        data_file=args.data_file,
        labels=args.labels,
        multilabel=args.multilabel,
        delimiter=args.delimiter,
        top_k=args.top_k,
        text=args.text,
        audio=args.audio,
        group=args.group,
        out=args.out,
        force=args.force,
    )
    print(init_spec(request).summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.quiet and getattr(args, "launch_verbose", False):
        parser.error("argument launch --verbose: not allowed with argument -q/--quiet")
    level = logs.VERBOSE if args.verbose or getattr(args, "launch_verbose", False) else logs.QUIET if args.quiet else logs.NORMAL
    handlers = {
        "validate": _validate,
        "launch": _launch,
        "results": _results,
        "report": _report,
        "groups": _groups,
        "init": _init,
    }
    with logs.cli_logging(level):
        log.debug(f"mtlsearch {__version__}, Python {sys.version.split()[0]}, command {args.command}")
        try:
            if args.command == "data":
                return _data_inspect(args)
            return handlers[args.command](args)
        except MtlsearchError as e:
            print(f"mtlsearch: error: {e}", file=sys.stderr)
            return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
