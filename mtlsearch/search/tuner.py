"""Assembles the Ray Tune search: Optuna searcher, ASHA scheduler, and the trainable that trains each trial.

The Tune trainable is the function :func:`run_trial`. On the in-trial path
(``train.executor: in_trial``, or ``auto`` with one worker) it trains the
candidate itself, in its own actor, reporting with ``tune.report``. On the Ray
Train path (``ray_train``, or ``auto`` with ``workers ≥ 2``; Ray 2.60's Train V2,
where a ``TorchTrainer`` is not passed to ``Tuner``) it is a small driver that
builds the trial's ``TorchTrainer`` and fits it; ``TuneReportCallback`` forwards
every epoch's metrics to Tune. Either way ASHA and Optuna see the same keys.
"""

from __future__ import annotations

from ray import tune

from mtlsearch.metrics.objectives import is_multi_objective, objectives_of
from mtlsearch.metrics.result_keys import DM_VAL
from mtlsearch.search.callbacks import PlacementGroupReaper, ProgressCallback, StoreCallback, TensorBoardCallback
from mtlsearch.search.context import SearchContext
from mtlsearch.search.distinct import DistinctConfigs
from mtlsearch.search.listed import ListedConfigs
from mtlsearch.search.space import DefineByRun, discrete_candidates, enumerate_candidates
from mtlsearch.spec import IN_TRIAL, Spec
from mtlsearch.store.results import ResultsStore
from mtlsearch.train.executor import trial_footprint, trial_resources, worker_bundle

METRIC, MODE = DM_VAL, "max"
"""What Tune (ASHA, the result grid) ranks trials by, whatever the study's objectives: Δm(val), maximized."""
TUNE_DIR = "tune"
CONFIRM_TUNE_DIR = "tune_confirm"
CONFIRM_STAGE = "confirm"


def run_trial(config: dict, context: SearchContext, storage_filesystem=None) -> None:
    """The Tune trainable of one trial: train the sampled candidate, in this actor or with Ray Train.

    In-trial, checkpoints go to Tune's trial folder and ``tune.get_checkpoint()``
    resumes them (a restarted trial, ``--resume``). With Ray Train, the Train run
    is named after the trial, so when Tune restarts the trial the run resumes from
    its last checkpoint. ``storage_filesystem``: the store's filesystem as the
    launching process resolved it (S3 endpoint, region, retries; never
    credentials), or ``None`` for a local store.
    """
    spec = context.spec
    job = context.job_for(config, use_gpu=spec.train.gpus_per_worker > 0)
    if spec.train.resolved_executor == IN_TRIAL:
        from mtlsearch.train.loop import run_training
        from mtlsearch.train.sessions import TuneSession

        run_training(job.to_config(), TuneSession())
        return
    from ray.tune.integration.ray_train import TuneReportCallback

    from mtlsearch.train.runner import make_trainer

    trial_id = tune.get_context().get_trial_id()
    trainer = make_trainer(
        job,
        spec.train,
        f"trial_{trial_id}",
        context.train_runs_uri,
        callbacks=[TuneReportCallback()],
        storage_filesystem=storage_filesystem,
    )
    trainer.fit()


def trainable(context: SearchContext):
    from mtlsearch.store.atomic import ray_storage

    spec = context.spec
    fs = ray_storage(context.train_runs_uri)[0]
    return tune.with_resources(
        tune.with_parameters(run_trial, context=context, storage_filesystem=fs), trial_resources(spec.train)
    )


def _searcher(spec: Spec, tasks: list[str] | tuple[str, ...] = (), study_storage=None, study_name: str | None = None):
    """Optuna (TPE, NSGA-II, random or grid then TPE); ``tasks``: the primary tasks, one ``w/<task>`` each if static
    weights are searched.

    ``study_storage`` / ``study_name``: where the Optuna study is kept (:mod:`mtlsearch.search.study`); without
    them it lives in memory only. The study optimizes ``search.objectives`` (:mod:`mtlsearch.metrics.objectives`):
    Δm(val) alone, or with several a multi-objective study (metric and mode lists).

    On a discrete space it is wrapped in :class:`DistinctConfigs`: no configuration runs twice, and the
    search ends early once every configuration has run (and says so in the log).
    """
    from mtlsearch.search.samplers import make_sampler
    from mtlsearch.search.study import StoredOptunaSearch

    objectives = objectives_of(spec.search.objectives)
    multi = is_multi_objective(spec.search.objectives)
    # grid: every candidate of the discrete space is enqueued first, then TPE continues if trials remain
    points = enumerate_candidates(spec.search.space, tasks) if spec.search.searcher == "grid" else None
    searcher = StoredOptunaSearch(
        space=DefineByRun(spec.search.space, tasks),
        metric=[o.result_key for o in objectives] if multi else METRIC,
        mode=[o.mode for o in objectives] if multi else MODE,
        sampler=make_sampler(spec),
        points_to_evaluate=points,
        storage=study_storage,
        study_name=study_name,
        objective_names=list(spec.search.objectives),
        full_epochs=spec.train.epochs,
    )
    candidates = discrete_candidates(spec.search.space, tasks)
    # every trial uses the spec's seed: a repeated configuration would only repeat a known result
    return searcher if candidates is None else DistinctConfigs(searcher, candidates, seed=spec.seed)


def _scheduler(spec: Spec):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    asha = spec.search.scheduler
    if not asha.enabled:
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="epoch",  # epochs, not reports: a restored run re-reports the epochs its checkpoint holds
        max_t=spec.train.epochs,
        grace_period=min(asha.grace_period, spec.train.epochs),
        reduction_factor=asha.reduction_factor,
    )


def callbacks(store: ResultsStore, context: SearchContext, stream=None, num_samples: int | None = None, stage: str = "") -> list:
    """mtlsearch's callbacks of one Tune run of ``num_samples`` trials (default: the search's); ``stage`` names it
    in the progress lines (e.g. ``confirm``)."""
    out = [
        StoreCallback(store.root, context, confirming=stage == CONFIRM_STAGE),
        TensorBoardCallback(store.experiment_uri(context.experiment, "tensorboard")),
        ProgressCallback(context, num_samples or context.spec.search.num_samples, stream, stage),
    ]
    if context.spec.train.resolved_executor != IN_TRIAL:  # only Ray Train worker groups leave placement groups behind
        out.append(PlacementGroupReaper(worker_bundle=worker_bundle(context.spec.train)))
    return out


def max_concurrent_trials(spec: Spec, cluster: dict[str, float]) -> int:
    """Trials that fit in the cluster at once.

    In-trial, a trial holds exactly one worker's bundle. On the Ray Train path
    Tune reserves only the driver's resources when it starts a trial and the Train
    workers ask for theirs afterwards: starting more trials than fit whole would
    leave drivers waiting for workers that never get CPUs. So by default the
    concurrency is capped by the full footprint
    (:func:`mtlsearch.train.executor.trial_footprint`). A spec's explicit value
    wins (an autoscaling cluster grows).
    """
    if spec.search.max_concurrent_trials:
        return spec.search.max_concurrent_trials
    cpus, gpus = trial_footprint(spec.train)
    fit = int(cluster.get("CPU", 0) // cpus)
    if gpus:
        fit = min(fit, int(cluster.get("GPU", 0) // gpus))
    return max(1, fit)


def _tuner(
    store: ResultsStore, context: SearchContext, tune_dir: str, num_samples: int, search_alg, scheduler, run_callbacks: list
) -> tune.Tuner:
    """A Tune run of the trainable under ``experiments/<name>/<tune_dir>`` (the search's, or the confirmation's)."""
    import ray

    from mtlsearch.store.atomic import ray_storage

    spec = context.spec
    storage_filesystem, storage_path = ray_storage(store.experiment_uri(context.experiment))
    return tune.Tuner(
        trainable(context),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=MODE,
            num_samples=num_samples,
            max_concurrent_trials=max_concurrent_trials(spec, ray.cluster_resources()),
            search_alg=search_alg,
            scheduler=scheduler,
            # in-trial: a finished trial's actor (its process, torch imported) trains the next trial of the same size
            reuse_actors=spec.train.resolved_executor == IN_TRIAL,
        ),
        run_config=tune.RunConfig(
            name=tune_dir,
            storage_path=storage_path,
            storage_filesystem=storage_filesystem,
            callbacks=run_callbacks,
            verbose=0,
            # a trial whose Tune driver died (its node lost) is restarted; it resumes its Train run's checkpoint
            failure_config=tune.FailureConfig(max_failures=spec.train.max_failures),
        ),
    )


def build_tuner(
    store: ResultsStore,
    context: SearchContext,
    stream=None,
    extra_callbacks: list | None = None,
    configs: list[dict] | None = None,
) -> tune.Tuner:
    """A new search; ``extra_callbacks``: Tune callbacks run beside mtlsearch's own (e.g. a timing probe);
    ``configs``: run exactly these trial configs instead of sampling the space (a benchmark scoring the same
    candidates under two evaluation protocols). A sampled search keeps its Optuna study in the store
    (:mod:`mtlsearch.search.study`)."""
    from mtlsearch.search import study

    spec = context.spec
    run_callbacks = callbacks(store, context, stream, spec.search.num_samples if configs is None else len(configs))
    if configs is not None:
        search_alg, num_samples = ListedConfigs(configs), len(configs)
    else:
        storage = study.new_journal_storage(store.root, context.experiment)
        tasks = [t.name for t in context.info.primary_tasks()]
        search_alg = _searcher(spec, tasks, study_storage=storage, study_name=study.study_name(context.experiment))
        num_samples = spec.search.num_samples
        run_callbacks.append(study.StudyCallback(store.root, context.experiment))
    if isinstance(search_alg, DistinctConfigs):
        search_alg.announce(num_samples)
    return _tuner(
        store,
        context,
        TUNE_DIR,
        num_samples,
        search_alg,
        _scheduler(spec),
        run_callbacks + list(extra_callbacks or []),
    )


def build_confirm_tuner(store: ResultsStore, context: SearchContext, configs: list[dict], stream=None) -> tune.Tuner:
    """The confirmation stage (:mod:`mtlsearch.search.confirm`): exactly ``configs``, each trained to the full budget."""
    from ray.tune.schedulers import FIFOScheduler

    return _tuner(
        store,
        context,
        CONFIRM_TUNE_DIR,
        len(configs),
        ListedConfigs(configs),
        FIFOScheduler(),
        callbacks(store, context, stream, len(configs), stage=CONFIRM_STAGE),
    )


def tune_path(store: ResultsStore, experiment: str, tune_dir: str = TUNE_DIR) -> str:
    return store.experiment_uri(experiment, tune_dir)


def can_restore(store: ResultsStore, experiment: str, tune_dir: str = TUNE_DIR) -> bool:
    from mtlsearch.store.atomic import ray_storage

    fs, path = ray_storage(tune_path(store, experiment, tune_dir))
    return tune.Tuner.can_restore(path, storage_filesystem=fs)


def restore_tuner(store: ResultsStore, context: SearchContext, tune_dir: str = TUNE_DIR) -> tune.Tuner:
    """Continue an interrupted Tune run (the search, or the confirmation with ``tune_dir`` :data:`CONFIRM_TUNE_DIR`):
    finished trials stay, unfinished and errored ones resume from checkpoints."""
    from mtlsearch.store.atomic import ray_storage

    fs, path = ray_storage(tune_path(store, context.experiment, tune_dir))
    return tune.Tuner.restore(
        path, trainable=trainable(context), resume_unfinished=True, resume_errored=True, storage_filesystem=fs
    )
