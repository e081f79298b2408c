"""``mtlsearch launch``: dataset → baselines → Tune search → leaderboard."""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from mtlsearch import logs
from mtlsearch.data.canonical import check_splits, read_info, split_sizes
from mtlsearch.data.distribute import default_cache_dir, publish_table, store_table_uri
from mtlsearch.data.registry import prepare
from mtlsearch.errors import DataError, MtlsearchError
from mtlsearch.grouping.artifacts import search_groupings
from mtlsearch.grouping.methods import GroupingInputs
from mtlsearch.metrics.delta_m import anchored_baselines
from mtlsearch.report.leaderboard import format_leaderboard, leaderboard
from mtlsearch.search.baselines import ensure_baselines
from mtlsearch.search.context import SearchContext
from mtlsearch.spec import DEFAULT_ENCODER, IN_TRIAL, LoadedSpec
from mtlsearch.store.atomic import redact_uri, s3_endpoint
from mtlsearch.store.results import ResultsStore

log = logging.getLogger(__name__)


def dataset_cache_dir(store: ResultsStore) -> str:
    """Canonical tables live next to a local store, or in the user cache for a remote one."""
    if "://" not in store.root:
        return store.local_path("datasets")
    return str(default_cache_dir())


def prepare_dataset(loaded: LoadedSpec, store: ResultsStore) -> str:
    return str(prepare(loaded.spec.dataset.loader, loaded.loader_options, dataset_cache_dir(store)))


def prepare_tokens(loaded: LoadedSpec, dataset_path: str) -> None:
    """Tokenize the dataset's text once for every ``text`` encoder a trial or baseline may use (cached as Arrow)."""
    from mtlsearch.data.tokens import ensure_tokens, token_cache_path
    from mtlsearch.models.encoders import encoder_plugin

    spec = loaded.spec
    named: dict[tuple, object] = {("model", "encoder"): spec.model.encoder}
    named.update({("model", "encoders", n): spec.model.named(n) for n in spec.searched_encoders() if n != DEFAULT_ENCODER})
    if spec.grouping_methods.affinity.encoder is not None:
        named[("grouping_methods", "affinity", "encoder")] = spec.grouping_methods.affinity.encoder
    named.update({("model", "inputs", n): enc for n, enc in (spec.model.inputs or {}).items()})
    done: set[tuple] = set()
    for loc, enc in named.items():
        if not encoder_plugin(enc).needs_tokens or (enc.model, enc.max_length) in done:
            continue
        done.add((enc.model, enc.max_length))
        fresh = not token_cache_path(dataset_path, enc.model, enc.max_length).is_file()
        try:
            path = ensure_tokens(dataset_path, enc.model, enc.max_length)
        except DataError as e:
            raise loaded.error(loc, str(e)) from e
        log.info(
            f"tokens ({enc.model or 'bundled all-MiniLM-L6-v2'}, max_length {enc.max_length}): {'tokenized' if fresh else 'cached'} {path}"
        )


def _experiment_name(store: ResultsStore, name: str, resume: bool) -> str:
    if resume:
        if store.read_experiment(name) is None:
            raise MtlsearchError(f"--resume: no experiment {name!r} in the store {store.root} to continue")
        return name
    if store.read_experiment(name) is None:
        return name
    n = 2
    while store.read_experiment(f"{name}-{n}") is not None:
        n += 1
    return f"{name}-{n}"


class RaySession:
    """Connects to a given Ray cluster, reuses one this process already has, or starts a local one (and stops it).

    Without ``--address``, ``$RAY_ADDRESS`` is used when set: a Ray Job's
    entrypoint (``ray job submit -- mtlsearch launch SPEC``) runs with it
    pointing at the job's cluster.
    """

    def __init__(self, address: str | None, verbose: bool):
        address = address or os.environ.get("RAY_ADDRESS") or None
        self.address, self.verbose = address, verbose
        self.started = False

    def __enter__(self) -> "RaySession":
        import ray

        if ray.is_initialized():
            return self
        from mtlsearch.search.ray_env import runtime_env

        kwargs = {"log_to_driver": self.verbose, "runtime_env": runtime_env()}
        if self.address:
            try:
                ctx = ray.init(address=self.address, **kwargs)
            except Exception as e:
                from mtlsearch.search.cluster_auth import auth_problem

                problem = auth_problem(self.address)
                if problem:
                    raise MtlsearchError(f"cannot connect: {problem} (Ray said: {str(e).splitlines()[0]})") from e
                raise MtlsearchError(f"cannot connect to the Ray cluster at {self.address!r}: {e}") from e
        else:
            ctx = ray.init(address="local", include_dashboard=True, **kwargs)
            self.started = True
        url = getattr(ctx, "dashboard_url", None)
        log.info(
            f"ray: {'connected to ' + self.address if self.address else 'started a local cluster'}; dashboard: {'http://' + url if url else 'not running'}"
        )
        return self

    def __exit__(self, *exc) -> None:
        if self.started:
            import ray

            ray.shutdown()


def _check_study_continues(loaded: LoadedSpec, store: ResultsStore, experiment: str) -> None:
    """``--resume``: bring the stored Optuna study here (before Tune unpickles the searcher, whose study reads it) and
    refuse a spec whose ``search.objectives`` the study was not created with."""
    from mtlsearch.search import study

    study.fetch_journal(store.root, experiment)
    why = study.check_objectives(store.root, experiment, loaded.spec.search.objectives)
    if why:
        raise loaded.error(
            ("search", "objectives"),
            f"{why}; --resume continues the same Optuna study, whose objectives are fixed when it is created "
            "(run a new search, without --resume, to change them)",
        )


def launch(
    loaded: LoadedSpec,
    resume: bool = False,
    address: str | None = None,
    verbose: bool = False,
    out=None,
    extra_callbacks: list | None = None,
    configs: list[dict] | None = None,
) -> tuple[str, list[dict]]:
    """Run (or resume) the search of a validated spec; return the experiment name and its leaderboard rows.

    ``extra_callbacks``: Tune callbacks to run beside mtlsearch's own in a new search (benchmarks time trials with one).
    ``configs``: the trial configs a new search runs, instead of sampling ``search.space`` (benchmarks score the
    same candidates under two evaluation protocols with it).
    ``out``: where the progress lines and the leaderboard go (default stdout). The log lines go to the logging
    handlers (the CLI's: stderr) and, when ``out`` is given, to ``out`` as well (only this search's: see
    :func:`mtlsearch.logs.capture`), so a caller reads the whole search from one stream.
    """
    with logs.capture(out) if out is not None else contextlib.nullcontext():
        return _launch(loaded, resume, address, verbose, out if out is not None else sys.stdout, extra_callbacks, configs)


def _launch(
    loaded: LoadedSpec,
    resume: bool,
    address: str | None,
    verbose: bool,
    out,
    extra_callbacks: list | None,
    configs: list[dict] | None,
) -> tuple[str, list[dict]]:
    spec = loaded.spec
    store = ResultsStore(spec.storage)
    experiment = _experiment_name(store, spec.experiment, resume)
    if experiment != spec.experiment:
        log.info(
            f"experiment {spec.experiment!r} already exists in the store; this search is {experiment!r} (use --resume to continue the old one)"
        )
    if resume:
        _check_study_continues(loaded, store, experiment)

    dataset_path = prepare_dataset(loaded, store)
    info = read_info(dataset_path).scored_by(spec.evaluation.metric)
    sizes = split_sizes(dataset_path)
    log.info(
        f"dataset {info.name}: {len(info.tasks)} tasks ({len(info.primary_tasks())} primary), "
        f"{sizes['train']}/{sizes['val']}/{sizes['test']} train/val/test examples, table {dataset_path}"
    )
    for warning in check_splits(sizes, f"{loaded.path}: dataset {info.name}"):
        log.warning(warning)
    if spec.model.inputs is not None:  # multimodal: the built table's inputs (a loader may list them only now)
        loaded.check_inputs(info.inputs, info.tasks)
    prepare_tokens(loaded, dataset_path)
    dataset_uri = store_table_uri(store.root, dataset_path)
    if dataset_uri is not None:  # nodes without the launcher's local copy fetch the table from the store
        publish_table(dataset_path, dataset_uri.rsplit("/", 2)[0])

    # Tune's own console reporter would repeat what ProgressCallback prints.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    with RaySession(address, verbose):
        import optuna

        from mtlsearch.search import study
        from mtlsearch.search import tuner as tuner_mod

        optuna.logging.set_verbosity(optuna.logging.WARNING)

        use_gpu = spec.train.gpus_per_worker > 0
        baselines = ensure_baselines(spec, info, dataset_path, store, experiment, use_gpu=use_gpu)
        anchors, left_out = anchored_baselines(baselines)  # a baseline of 0 cannot anchor Δm (named at launch)
        computed_groups = search_groupings(GroupingInputs(spec, info, dataset_path, dataset_uri), store, experiment)
        store.write_experiment(
            experiment,
            {
                "experiment": experiment,
                "spec_file": str(loaded.path.resolve()),
                "spec": spec.model_dump(mode="json"),
                "dataset": {"name": info.name, "fingerprint": info.fingerprint, "path": dataset_path},
                "primary_tasks": [t.name for t in info.primary_tasks()],
                "task_metrics": {t.name: t.metric for t in info.tasks},
                "baselines": baselines,
                "dm_left_out": left_out,
                "computed_groupings": computed_groups,
            },
        )
        context = SearchContext(
            experiment=experiment,
            spec_json=spec.model_dump_json(),
            dataset_path=dataset_path,
            dataset_info_json=info.to_json(),
            baselines=anchors,
            train_runs_uri=store.experiment_uri(experiment, "train_runs"),
            computed_groups=computed_groups,
            dataset_uri=dataset_uri,
        )
        if resume:
            path = tuner_mod.tune_path(store, experiment)
            if not tuner_mod.can_restore(store, experiment):
                raise MtlsearchError(f"--resume: no Tune experiment state under {path}")
            log.info(f"resuming search {experiment!r} from {path}")
            tuner = tuner_mod.restore_tuner(store, context)
        else:
            import ray

            from mtlsearch.train.executor import trial_footprint

            path = (
                "trains in its own Tune trial (one worker)"
                if spec.train.resolved_executor == IN_TRIAL
                else f"runs {spec.train.workers} Ray Train worker(s)"
            )
            searcher = spec.search.searcher if configs is None else "listed configs"
            log.info(
                f"search {experiment!r}: {spec.search.num_samples if configs is None else len(configs)} trials, searcher {searcher}, "
                f"objectives {spec.search.objectives}, "
                f"ASHA {'on' if spec.search.scheduler.enabled else 'off'}; each trial {path}"
            )
            tuner = tuner_mod.build_tuner(store, context, stream=out, extra_callbacks=extra_callbacks, configs=configs)
            cpus, gpus = trial_footprint(spec.train)
            log.info(
                f"each trial holds {cpus:g} CPU{f' and {gpus:g} GPU' if gpus else ''}; "
                f"up to {tuner_mod.max_concurrent_trials(spec, ray.cluster_resources())} trial(s) at once"
            )
        tuner.fit()
        if spec.search.confirm is not None:
            from mtlsearch.search.confirm import run_confirmation

            run_confirmation(store, context, dataset_path, stream=out, use_gpu=use_gpu)
        else:
            log.info("confirmation off (search.confirm): each Δm comes from one seed, without an interval over seeds")

    write_hparams_experiment(store, experiment)
    rows = leaderboard(store, experiment)
    print(format_leaderboard(rows, store.read_experiment(experiment)), file=out)
    log.info(f"results: {store.experiment_uri(experiment)}  (mtlsearch results {experiment} --storage {store.root})")
    tb = store.experiment_uri(experiment, "tensorboard")
    endpoint = s3_endpoint() if tb.startswith("s3://") else None
    # TensorBoard reads s3:// through boto3, which takes the endpoint from AWS_ENDPOINT_URL too
    log.info(f"tensorboard: {'AWS_ENDPOINT_URL=' + redact_uri(endpoint) + ' ' if endpoint else ''}tensorboard --logdir {tb}")
    if configs is None and os.path.isfile(study.local_journal_path(store.root, experiment)):
        log.info(f"optuna study {study.study_name(experiment)!r}: {study.dashboard_command(store.root, experiment)}")
    write_final_report(store, experiment)
    return experiment, rows


def write_hparams_experiment(store: ResultsStore, experiment: str) -> None:
    """TensorBoard's HParams experiment summary over every stored trial's config
    (:mod:`mtlsearch.search.tb_hparams`), replacing an earlier one; a failure only warns."""
    import json

    from mtlsearch.search.tb_hparams import EXPERIMENT_FILE, experiment_event_file
    from mtlsearch.store.atomic import atomic_write_bytes

    try:
        configs = sorted(set(store.read(experiment, "trials").column("config").to_pylist()))
        data = experiment_event_file(json.loads(c) for c in configs)
        atomic_write_bytes(data, store.experiment_uri(experiment, "tensorboard", EXPERIMENT_FILE))
    except Exception as e:  # noqa: BLE001 - TensorBoard's view must never fail a finished search
        log.warning(f"tensorboard: could not write the HParams experiment summary ({type(e).__name__}: {e})")


def write_final_report(store: ResultsStore, experiment: str) -> str | None:
    """Write the experiment's HTML report (``mtlsearch report``) and log its path; a failure only warns.

    Local store: ``report.html`` in the experiment's folder; remote store: written in this machine's cache
    (:func:`mtlsearch.cache_dirs.remote_store_file`) and copied to ``experiments/<experiment>/report.html`` in the
    store (a Ray Job's working folder does not outlive the job).
    Returns the local path, or None when it could not be written (the search's results are in the store either way).
    """
    from mtlsearch.cache_dirs import remote_store_file
    from mtlsearch.report.html_report import REPORT_FILE, write_report
    from mtlsearch.store.atomic import atomic_write_bytes

    remote = "://" in store.root
    local = store.local_path("experiments", experiment, REPORT_FILE) if not remote else None
    out = local or str(remote_store_file("reports", store.root, experiment, REPORT_FILE))
    try:
        path = write_report(store, experiment, out)
        if remote:
            atomic_write_bytes(path.read_bytes(), store.experiment_uri(experiment, REPORT_FILE))
    except Exception as e:  # noqa: BLE001 - the report must never fail a finished search
        log.warning(
            f"report: could not write the HTML report ({type(e).__name__}: {e}); try: mtlsearch report {experiment} --storage {store.root}"
        )
        return None
    if remote:
        log.info(f"report: copied to {redact_uri(store.experiment_uri(experiment, REPORT_FILE))}")
    log.info(f"report: {path}  (open it in a browser; mtlsearch report {experiment} --storage {store.root} rewrites it)")
    return str(path)
