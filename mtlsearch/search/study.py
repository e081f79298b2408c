"""Where a search's Optuna study lives: an Optuna journal file that ``optuna-dashboard`` opens.

The study is kept in Optuna's journal storage
(``JournalStorage(JournalFileBackend(path))``), not SQLite:

* the journal is an append-only log of JSON lines: a copy taken while the search
  writes it is a consistent prefix of the study (Optuna ignores an unfinished
  last line), so it can be copied to the store at any moment;
* it locks with a symlink, which works on NFS, where SQLite's ``fcntl`` locks are
  unreliable; and it needs no database schema (SQLAlchemy, migrations);
* ``optuna-dashboard PATH`` opens a journal file as it opens ``sqlite:///…``.

For a local store the journal is ``experiments/<name>/optuna_journal.log`` in the
store itself. Neither SQLite nor the journal can be written in place on S3: for a
remote store the journal lives in the user cache (:func:`local_journal_path`) and
:class:`StudyCallback` copies it to ``experiments/<name>/optuna_journal.log`` in
the store after each trial ends, every :data:`UPLOAD_EVERY_S` seconds while trials
report, and when the search ends; ``--resume`` copies it back first
(:func:`fetch_journal`).

Only the Tune driver writes the study: the searcher (ask and tell) and
:class:`StudyCallback` both run in the process that calls ``Tuner.fit``.

The study's objectives are ``search.objectives`` (:mod:`mtlsearch.metrics.objectives`),
named in the study (``Study.metric_names``, which optuna-dashboard shows). A
multi-objective study is told only trials that trained the full budget: one that
ASHA stopped is told as pruned (:class:`StoredOptunaSearch`). ``--resume``
continues the same study, so its objectives can't change (:func:`check_objectives`).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path

from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages.journal import JournalFileBackend
from ray.tune import Callback
from ray.tune.search.optuna import OptunaSearch

from mtlsearch.cache_dirs import remote_store_file
from mtlsearch.metrics.objectives import objectives_of
from mtlsearch.metrics.result_keys import EPOCH
from mtlsearch.store.atomic import atomic_write_bytes, is_remote_uri, read_bytes, redact_uri
from mtlsearch.store.results import STOPPED_EARLY, ResultsStore, ended_status

log = logging.getLogger(__name__)

JOURNAL_FILE = "optuna_journal.log"
"""The study's journal in the experiment's folder of the store (and in the local cache of a remote store)."""
UPLOAD_EVERY_S = 60.0
"""A remote store's copy of the journal is refreshed at least this often while trials report."""
TUNE_TRIAL_ID = "tune_trial_id"
"""User attribute of a study trial that ran in Tune: the Tune trial id (the store's ``trial_id``)."""
ABANDONED_ATTR = "abandoned"
"""User attribute of a study trial left running by an interrupted search and closed as failed when it ended."""
STOPPED_AT_ATTR = "stopped_at_epoch"
"""User attribute of a multi-objective study's trial that ASHA stopped (told as pruned): the epoch it stopped at."""


def study_name(experiment: str) -> str:
    """The study's name in its journal: the experiment's."""
    return experiment


def local_journal_path(store_root: str, experiment: str) -> str:
    """The journal file this machine writes: in the store for a local one, else in the user cache
    (one folder per store, named by a hash of its root)."""
    if not is_remote_uri(store_root):
        return ResultsStore(store_root).local_path("experiments", experiment, JOURNAL_FILE)
    return str(remote_store_file("optuna", store_root, experiment, JOURNAL_FILE))


def store_journal_uri(store_root: str, experiment: str) -> str:
    return ResultsStore(store_root).experiment_uri(experiment, JOURNAL_FILE)


class StoreJournalBackend(JournalFileBackend):
    """A ``JournalFileBackend`` on :func:`local_journal_path`, resolved again wherever it is unpickled.

    Tune pickles the searcher (and with it the study's storage) into its experiment
    state; a search resumed on another machine, or with another cache folder, must
    write the journal at that machine's path, not at the path of the machine that
    started it.
    """

    def __init__(self, store_root: str, experiment: str):
        self.store_root, self.experiment = store_root, experiment
        path = local_journal_path(store_root, experiment)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        super().__init__(path)

    def __reduce__(self):
        return StoreJournalBackend, (self.store_root, self.experiment)


def journal_storage(store_root: str, experiment: str):
    """The study's ``optuna.storages.JournalStorage`` (the journal file is created if missing)."""
    from optuna.storages import JournalStorage

    return JournalStorage(StoreJournalBackend(store_root, experiment))


def new_journal_storage(store_root: str, experiment: str):
    """The storage of a new search's study: a journal left at its path is removed first.

    A new search's experiment is not in the store yet (``launch`` picks a free name), so such a
    file belongs to no stored experiment: a remote store's cached copy from an experiment since
    deleted, or the leftover of a search that died before it wrote ``experiment.json``. Reusing it
    would continue an unrelated study of the same name.
    """
    path = local_journal_path(store_root, experiment)
    if os.path.isfile(path):
        log.warning(f"optuna study: removing {path}, left by an earlier search of the name {experiment!r}")
        os.remove(path)
    return journal_storage(store_root, experiment)


def dashboard_command(store_root: str, experiment: str) -> str:
    """The ``optuna-dashboard`` command that opens the study (a remote store: its local copy, named with the store's)."""
    path = local_journal_path(store_root, experiment)
    command = f"optuna-dashboard {path}"
    if is_remote_uri(store_root):
        command += f"  (copied to {redact_uri(store_journal_uri(store_root, experiment))})"
    return command


def trim_unfinished_line(path: str) -> int:
    """Cut a journal's unfinished last line (a write interrupted by a killed driver); return the bytes cut.

    Optuna skips such a line when it is last, but fails on the next line appended after it.
    """
    if not os.path.isfile(path):
        return 0
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep == len(data):
            return 0
        f.truncate(keep)
    log.warning(f"optuna study {path}: cut an unfinished last line ({len(data) - keep} bytes) left by an interrupted search")
    return len(data) - keep


def upload_journal(store_root: str, experiment: str) -> None:
    """Copy a remote store's local journal to the experiment's folder in the store (nothing to do for a local one)."""
    if not is_remote_uri(store_root):
        return
    path = local_journal_path(store_root, experiment)
    if not os.path.isfile(path):
        return
    atomic_write_bytes(Path(path).read_bytes(), store_journal_uri(store_root, experiment))


def fetch_journal(store_root: str, experiment: str) -> None:
    """Before ``--resume``: bring the store's journal to this machine's path (a remote store), then trim it.

    A local copy is kept when it already holds the store's (the journal only grows, and the
    last upload may predate the interruption); otherwise the store's replaces it.
    """
    path = local_journal_path(store_root, experiment)
    if is_remote_uri(store_root):
        stored = read_bytes(store_journal_uri(store_root, experiment))
        local = Path(path).read_bytes() if os.path.isfile(path) else None
        if stored is not None and not (local is not None and local.startswith(stored)):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write_bytes(stored, path)
            log.info(f"optuna study: copied {redact_uri(store_journal_uri(store_root, experiment))} to {path}")
    if not os.path.isfile(path):
        log.warning(f"--resume: no Optuna study at {path} to continue (a search started before studies were stored?)")
        return
    trim_unfinished_line(path)


def check_objectives(store_root: str, experiment: str, names: list[str]) -> str | None:
    """Before ``--resume``: why the stored study can't continue with objectives ``names``, or None when it can.

    The study's directions are fixed when it is created; a study named by this module also keeps
    its objectives' names. No stored study (a search of listed configs): nothing to check.
    """
    import optuna

    if not os.path.isfile(local_journal_path(store_root, experiment)):  # not created here as a side effect
        return None
    try:
        stored = optuna.load_study(study_name=study_name(experiment), storage=journal_storage(store_root, experiment))
    except KeyError:
        return None
    wanted = objectives_of(names)
    directions = [d.name.lower() for d in stored.directions]
    if stored.metric_names is not None and list(stored.metric_names) != list(names):
        return f"the study of {experiment!r} optimizes {list(stored.metric_names)}, not {list(names)}"
    if directions != [o.direction for o in wanted]:
        return f"the study of {experiment!r} has directions {directions}, objectives {list(names)} need {[o.direction for o in wanted]}"
    return None


class StoredOptunaSearch(OptunaSearch):
    """``OptunaSearch`` on a stored study: its finished study trials carry their Tune trial id
    (:data:`TUNE_TRIAL_ID`), and a resumed search leaves alone the trials the study already closed.

    Tune restores the searcher from the state it last saved, but the study on disk may be further on:
    a trial that ended after that save (before the driver was killed) is finished in the study and
    still running for the restored searcher, which would report to it and tell it again (Optuna refuses).

    ``objective_names``: ``search.objectives``, named in the study (``Study.set_metric_names``).
    ``full_epochs``: the training budget. A multi-objective study tells a trial that ended before it
    (ASHA stopped it on Δm(val)) as pruned, with :data:`STOPPED_AT_ATTR`: its cost is that of a
    partial budget, and TPE or NSGA-II would learn that stopped configurations are cheap. A
    single-objective study is told Δm(val) of every trial, as Ray's ``OptunaSearch`` does.
    """

    def __init__(self, *args, objective_names: list[str] | None = None, full_epochs: int | None = None, **kwargs):
        self._objective_names = list(objective_names or [])  # before OptunaSearch's __init__ sets the study up
        self._full_epochs = full_epochs
        super().__init__(*args, **kwargs)
        self._closed_in_study: set[str] = set()  # Tune trial ids whose study trial ended before a resume

    def _setup_study(self, mode) -> None:
        super()._setup_study(mode)
        if self._objective_names and self._ot_study.metric_names is None:
            with warnings.catch_warnings():  # experimental since Optuna 3.2, and what optuna-dashboard shows
                warnings.simplefilter("ignore", ExperimentalWarning)
                self._ot_study.set_metric_names(self._objective_names)

    def _stopped_early(self, result: dict | None) -> int | None:
        """The epoch a multi-objective study's trial stopped at before the full budget, else None."""
        if not isinstance(self.metric, list) or not result or self._full_epochs is None:
            return None
        epoch = int(result.get(EPOCH, 0))
        return epoch if ended_status(epoch, self._full_epochs) == STOPPED_EARLY else None

    def _finished_in_study(self, trial_id: str) -> bool:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or self._storage is None:
            return False
        return self._storage.get_trial(ot_trial._trial_id).state.is_finished()

    def _closed_before(self, trial_id: str) -> None:
        self._closed_in_study.add(trial_id)
        log.info(f"optuna study: trial {trial_id} ended before the search was resumed; the study keeps its first result")

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._closed_in_study:
            return
        try:
            super().on_trial_result(trial_id, result)
        except UpdateFinishedTrialError:
            self._closed_before(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials:
            return super().on_trial_complete(trial_id, result=result, error=error)  # Tune's own warning
        if trial_id in self._closed_in_study or self._finished_in_study(trial_id):
            if trial_id not in self._closed_in_study:
                self._closed_before(trial_id)
            self._completed_trials.add(trial_id)
            return
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and result and result.get("trial_id"):
            ot_trial.set_user_attr(TUNE_TRIAL_ID, result["trial_id"])
        stopped = self._stopped_early(result)
        if stopped is not None and ot_trial is not None:
            ot_trial.set_user_attr(STOPPED_AT_ATTR, stopped)
            result = None  # told as pruned (failed when it errored), without values
        super().on_trial_complete(trial_id, result=result, error=error)


def close_abandoned(store_root: str, experiment: str) -> int:
    """Close as failed the study trials still running when the search ended; return how many.

    They were asked before a search was killed outright, after Tune last saved its state: the
    resumed search never heard of them (the store marks their rows abandoned).
    """
    import optuna
    from optuna.trial import TrialState

    storage = journal_storage(store_root, experiment)
    try:
        study = optuna.load_study(study_name=study_name(experiment), storage=storage)
    except KeyError:  # no study (a search of listed configs)
        return 0
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in running:
        storage.set_trial_user_attr(t._trial_id, ABANDONED_ATTR, True)
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    return len(running)


class StudyCallback(Callback):
    """In the Tune driver: keeps a remote store's copy of the journal current, and closes abandoned trials."""

    def __init__(self, store_root: str, experiment: str):
        self.store_root, self.experiment = store_root, experiment
        self._uploaded_at = 0.0

    def _upload(self) -> None:
        try:
            upload_journal(self.store_root, self.experiment)
        except Exception as e:  # noqa: BLE001 (the search goes on; the next upload catches up)
            log.warning(f"optuna study: could not copy the journal to the store: {redact_uri(str(e))[:300]}")
        self._uploaded_at = time.monotonic()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if is_remote_uri(self.store_root) and time.monotonic() - self._uploaded_at >= UPLOAD_EVERY_S:
            self._upload()

    def on_trial_complete(self, iteration, trials, trial, **info):
        if is_remote_uri(self.store_root):
            self._upload()

    def on_trial_error(self, iteration, trials, trial, **info):
        if is_remote_uri(self.store_root):
            self._upload()

    def on_experiment_end(self, trials, **info):
        # only a search that ended (not one interrupted: --resume continues its running trials)
        ended = all(t.is_finished() for t in trials)
        closed = close_abandoned(self.store_root, self.experiment) if ended else 0
        if closed:
            log.info(f"optuna study: closed {closed} trial(s) of an interrupted search as failed ({ABANDONED_ATTR})")
        self._upload()
