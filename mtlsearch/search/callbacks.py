"""Tune callbacks that run in the search driver: the results store, TensorBoard, progress.

They run in one process (the driver), so the store has one writer per
experiment. They are pickled with Tune's experiment state (for ``--resume``),
so they hold no open handles across pickling.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from typing import TextIO

from ray.tune import Callback

from mtlsearch.metrics.result_keys import (
    BEST_EPOCH,
    BEST_VAL,
    COST,
    DM_TEST,
    DM_VAL,
    EPOCH,
    EPOCH_DM_TEST,
    EPOCH_DM_VAL,
    EVAL_SPLITS,
    SAMPLES_PER_S,
    SERVED_BY,
    TIM,
    TRAIN_LOSS,
    extra_key,
    extra_per_task,
    multilabel_key,
    per_task,
    tim_key,
    tim_matrix,
)
from mtlsearch.search.context import SearchContext
from mtlsearch.search.tb_hparams import scalar_tag, session_end, session_start
from mtlsearch.store.results import ABANDONED, CONFIRMS, ERROR, FINISHED, MULTILABEL_COLUMNS, SEED, ResultsStore, ended_status

log = logging.getLogger(__name__)


def multilabel_columns(result: dict) -> dict[str, float | None]:
    """The trials table's multi-label columns (``val_macro_f1`` … ``test_subset_acc``): those of the selection
    (each task at its model's selected epoch) where reported, else the epoch's."""
    out = {}
    for col in MULTILABEL_COLUMNS:
        split, name = col.split("_", 1)
        out[col] = result.get(
            extra_key(split, multilabel_key(name, selected=True)), result.get(extra_key(split, multilabel_key(name)))
        )
    return out


def selected_epochs(result: dict) -> str:
    """JSON ``{task: epoch}``: the epoch (1-based) each task's model selected so far."""
    return json.dumps({task: int(v) for task, v in per_task(result, BEST_EPOCH).items()}, sort_keys=True)


def served_by(result: dict) -> str | None:
    """JSON ``{task: head group index}``: the group whose copy serves each task trained in several groups
    (:mod:`mtlsearch.train.serving`); None when the run trains no task in several groups."""
    served = per_task(result, SERVED_BY)
    return json.dumps({task: int(v) for task, v in served.items()}, sort_keys=True) if served else None


def tim_column(result: dict, tasks: list[str]) -> str | None:
    """JSON ``{"tasks": [...], "matrix": [[TIM_{t←s}]]}`` over those of the trained ``tasks`` the trial's
    attention ran over (null entries: no attention between the two, or the diagonal), or None for a trial
    without cross-task attention."""
    attended = [t for t in tasks if any(tim_key(t, s) in result for s in tasks)]
    matrix = tim_matrix(result, attended)
    return json.dumps({"tasks": attended, "matrix": matrix}) if matrix is not None else None


def _role_metric(info, task: str) -> tuple[str, str]:
    """A trained task's role and primary metric: the dataset's, or a CO-TASK auxiliary task's (binary, F1)."""
    try:
        t = info.task(task)
    except KeyError:
        return "auxiliary", "f1"
    return t.role, t.metric


class StoreCallback(Callback):
    """Writes every reported epoch, and how every trial ended, to the results store."""

    def __init__(self, store_root: str, context: SearchContext, confirming: bool = False):
        self.store_root = store_root
        self.context = context
        self.confirming = confirming  # the confirmation stage's Tune run (its trials' configs name CONFIRMS)
        self._store: ResultsStore | None = None
        spec = context.spec
        self._max_epochs = spec.train.epochs
        self._seed = spec.seed  # a trial's seed, unless its config (a confirmation run) names one

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_store": None}

    @property
    def store(self) -> ResultsStore:
        if self._store is None:
            self._store = ResultsStore(self.store_root)
        return self._store

    def on_trial_result(self, iteration, trials, trial, result, **info):
        desc = self.context.describe(trial.config)
        info_ = self.context.info
        row = {
            "architecture": desc["architecture"],
            "grouping": desc["grouping"],
            "groups": json.dumps(desc["groups"]),
            "config": json.dumps(trial.config, sort_keys=True, default=str),
            **{k: result.get(k) for k in (DM_VAL, DM_TEST, TRAIN_LOSS, COST, SAMPLES_PER_S)},
            **multilabel_columns(result),
            "selected_epochs": selected_epochs(result),
            "seed": int(trial.config.get(SEED, self._seed)),
            "confirms": trial.config.get(CONFIRMS),
            SERVED_BY: served_by(result),
            TIM: tim_column(result, list(per_task(result, BEST_VAL))),
        }
        task_rows = []
        for split in EVAL_SPLITS:
            for task, value in per_task(result, split).items():
                role, metric = _role_metric(info_, task)
                task_rows.append({"task": task, "role": role, "metric": metric, "split": split, "value": value})
            for task, metric, value in extra_per_task(result, split):
                task_rows.append(
                    {"task": task, "role": _role_metric(info_, task)[0], "metric": metric, "split": split, "value": value}
                )
        self.store.write_trial_epoch(self.context.experiment, trial.trial_id, int(result[EPOCH]), row, task_rows)

    def on_trial_complete(self, iteration, trials, trial, **info):
        epochs = int((trial.last_result or {}).get("epoch", 0))
        self.store.write_trial_status(
            self.context.experiment, trial.trial_id, ended_status(epochs, self._max_epochs), epochs, self._max_epochs
        )

    def on_trial_error(self, iteration, trials, trial, **info):
        epochs = int((trial.last_result or {}).get("epoch", 0))
        error = trial.error_file or ""
        self.store.write_trial_status(self.context.experiment, trial.trial_id, ERROR, epochs, self._max_epochs, error)

    def on_experiment_end(self, trials, **info):
        """Mark trials with stored rows that this search does not know as :data:`ABANDONED`.

        A search killed outright (SIGKILL, a lost head) may have stored a trial's epochs
        after Tune last saved its experiment state; the restored search (``--resume``)
        never heard of that trial and ran another in its place. Only the trials of this run's stage
        (the search, or the confirmation) are considered.
        """
        exp = self.context.experiment
        known = {t.trial_id for t in trials}
        ended = set(self.store.read(exp, "status").column("trial_id").to_pylist())
        rows = self.store.read(exp, "trials").select(["trial_id", "epoch", "confirms"]).to_pylist()
        epochs: dict[str, int] = {}
        for r in rows:
            if (r["confirms"] is not None) != self.confirming:  # the other stage's trials are not this run's to judge
                continue
            epochs[r["trial_id"]] = max(epochs.get(r["trial_id"], 0), r["epoch"])
        for trial_id in sorted(set(epochs) - known - ended):
            self.store.write_trial_status(
                exp,
                trial_id,
                ABANDONED,
                epochs[trial_id],
                self._max_epochs,
                "the search was interrupted before Tune recorded this trial; it was not resumed",
            )


class TensorBoardCallback(Callback):
    """One TensorBoard run per trial: Δm (``dm/val``, ``dm/test``: the selection; ``epoch_dm_*``: each epoch alone),
    training loss, cost and every task's val/test score per epoch; and the trial's config as HParams
    (:mod:`mtlsearch.search.tb_hparams`), so TensorBoard's HParams tab compares the trials by their final scalars."""

    def __init__(self, logdir: str):
        self.logdir = logdir
        self._writers: dict = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_writers": {}}

    def _writer(self, trial):
        """The trial's writer; a new one starts with the trial's HParams session (again after a resume: same values)."""
        if trial.trial_id not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            w = SummaryWriter(log_dir=f"{self.logdir}/{trial.trial_id}")
            w.file_writer.add_summary(session_start(trial.trial_id, trial.config))
            self._writers[trial.trial_id] = w
        return self._writers[trial.trial_id]

    def on_trial_result(self, iteration, trials, trial, result, **info):
        w = self._writer(trial)
        step = int(result[EPOCH])
        for key in (DM_VAL, DM_TEST, EPOCH_DM_VAL, EPOCH_DM_TEST, TRAIN_LOSS, COST, SAMPLES_PER_S):
            value = result.get(key)
            if value is not None and not math.isnan(value):
                w.add_scalar(scalar_tag(key), value, step)
        for split in EVAL_SPLITS:
            for task, value in per_task(result, split).items():
                w.add_scalar(f"{split}/{task}", value, step)
        w.flush()

    def _end(self, trial, ok: bool) -> None:
        w = self._writer(trial)
        w.file_writer.add_summary(session_end(ok))
        self._writers.pop(trial.trial_id)
        w.close()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._end(trial, ok=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._end(trial, ok=False)


class ProgressCallback(Callback):
    """One line per event: trials running/finished/stopped/errored and the best Δm(val) so far."""

    def __init__(self, context: SearchContext, num_samples: int, stream: TextIO | None = None, stage: str = ""):
        self.context = context
        self.num_samples = num_samples
        self.stage = stage  # e.g. "confirm": named at the start of each line
        self.stream = stream
        self._start = time.time()
        self._best: tuple[float, str] | None = None
        self._max_epochs = context.spec.train.epochs

    def __getstate__(self) -> dict:
        return {**self.__dict__, "stream": None}

    def _print(self, text: str, trials) -> None:
        running = sum(t.status == "RUNNING" for t in trials)
        done = [t for t in trials if t.status == "TERMINATED"]
        early = sum(int((t.last_result or {}).get("epoch", 0)) < self._max_epochs for t in done)
        errored = sum(t.status == "ERROR" for t in trials)
        best = f"best Δm(val) {self._best[0]:+.2f} ({self._best[1]})" if self._best else "best Δm(val) -"
        elapsed = time.time() - self._start
        line = (
            f"[{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}] {self.stage + ' · ' if self.stage else ''}{running} running · {len(done)}/{self.num_samples} done "
            f"({early} stopped by ASHA) · {errored} errored · {best} | {text}"
        )
        print(line, file=self.stream or sys.stdout, flush=True)

    def _label(self, trial) -> str:
        d = self.context.describe(trial.config)
        label = f"{trial.trial_id} {d['architecture']}{'[' + d['grouping'] + ']' if d['grouping'] else ''}"
        if CONFIRMS in trial.config:
            label += f" (confirms {trial.config[CONFIRMS]}, seed {trial.config[SEED]})"
        return label

    def on_trial_start(self, iteration, trials, trial, **info):
        self._print(f"started {self._label(trial)}", trials)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        dm = result.get(DM_VAL)
        if dm is not None and not math.isnan(dm) and (self._best is None or dm > self._best[0]):
            self._best = (dm, self._label(trial))
        self._print(f"{self._label(trial)} epoch {int(result[EPOCH])}/{self._max_epochs} Δm(val) {dm:+.2f}", trials)

    def on_trial_complete(self, iteration, trials, trial, **info):
        epochs = int((trial.last_result or {}).get("epoch", 0))
        how = "finished" if ended_status(epochs, self._max_epochs) == FINISHED else f"stopped by ASHA after {epochs} epochs"
        self._print(f"{self._label(trial)} {how}", trials)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._print(f"{self._label(trial)} FAILED (see {trial.error_file})", trials)


class PlacementGroupReaper(Callback):
    """Frees Ray Train worker placement groups left behind by trials that Tune stopped or that failed.

    When Tune kills a trial (ASHA), the trial's Train controller can create a
    replacement worker group just before it dies; nothing owns that placement
    group afterwards, and Ray Train's own cleaner does not know it. Seen here on
    2 cores: two such 0.5-CPU groups stayed reserved and the next trial waited
    forever. Every ``POLL_S`` seconds this callback lists the placement groups
    shaped like this search's worker groups; one that has had no live actor in
    it for ``ORPHAN_S`` seconds is removed (a real worker group gets its
    workers within seconds).
    """

    POLL_S = 5.0
    ORPHAN_S = 30.0

    def __init__(self, worker_bundle: dict[str, float]):
        self.worker_bundle = {k: float(v) for k, v in worker_bundle.items() if v}
        self._idle_since: dict[str, float] = {}
        self._last_poll = 0.0

    def on_step_begin(self, iteration, trials, **info):
        now = time.time()
        if now - self._last_poll < self.POLL_S:
            return
        self._last_poll = now
        try:
            self._reap(now)
        except Exception as e:  # the state API can be briefly unavailable; try again next poll
            log.info(f"placement-group check skipped: {e}")

    def _reap(self, now: float) -> None:
        import ray
        from ray.util.placement_group import placement_group_table
        from ray.util.state import list_actors

        # the cluster this driver is connected to (several Ray clusters may run on one machine)
        address = ray.get_runtime_context().gcs_address
        alive = list_actors(address=address, filters=[("state", "=", "ALIVE")], limit=10_000, detail=True)
        used = {a.placement_group_id for a in alive if a.placement_group_id}
        idle = set()
        for pg_id, entry in placement_group_table().items():
            bundles = list(entry["bundles"].values())
            if entry["state"] != "CREATED" or pg_id in used or any(b != self.worker_bundle for b in bundles):
                continue
            idle.add(pg_id)
            since = self._idle_since.setdefault(pg_id, now)
            if now - since >= self.ORPHAN_S:
                remove_placement_group_if_present(pg_id)
        self._idle_since = {k: v for k, v in self._idle_since.items() if k in idle}


def remove_placement_group_if_present(pg_id: str) -> bool:
    """Remove a placement group by hex id unless it is already removed; True when it was removed here."""
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

    pg = PlacementGroup(PlacementGroupID(bytes.fromhex(pg_id)))
    if placement_group_table(pg).get("state") in (None, "REMOVED"):
        return False
    log.info(f"freeing orphaned worker placement group {pg_id[:12]} (no live actor for {PlacementGroupReaper.ORPHAN_S:.0f} s)")
    remove_placement_group(pg)
    return True
