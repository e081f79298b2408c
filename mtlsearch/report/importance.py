"""Parameter importances of a search space (``optuna.importance``) on the Optuna study stored with the experiment.

The study is the journal file :mod:`mtlsearch.search.study` keeps in the experiment's
folder of the store (``experiments/<name>/optuna_journal.log``; a remote store holds
a copy). It is read from the store into a temporary file, so a remote store works
too and the stored journal is never written. Ray is not imported.
"""

from __future__ import annotations

import logging
import os
import tempfile

from mtlsearch.metrics.objectives import DM_VAL_OBJECTIVE
from mtlsearch.store.atomic import read_bytes
from mtlsearch.store.results import ResultsStore

log = logging.getLogger(__name__)

JOURNAL_FILE = "optuna_journal.log"
"""As :data:`mtlsearch.search.study.JOURNAL_FILE` (not imported from there: that module imports Ray)."""


def dm_val_index(metric_names: list[str] | None) -> int:
    """Where Δm(val) is among a multi-objective study's values (its first value for a study without names)."""
    return metric_names.index(DM_VAL_OBJECTIVE) if metric_names and DM_VAL_OBJECTIVE in metric_names else 0


def param_importances(store: ResultsStore, experiment: str) -> tuple[dict[str, float], str]:
    """The importances of the searched parameters for Δm(val) (``optuna.importance.get_param_importances``
    with Optuna's default evaluator, PED-ANOVA in Optuna 4), most important first, and a line on where they
    come from; ``({}, reason)`` when there is no study or too few trials to tell."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    data = read_bytes(store.experiment_uri(experiment, JOURNAL_FILE))
    if data is None:
        return {}, "no Optuna study is stored for this experiment (a grid or listed configs, or an older search)"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, JOURNAL_FILE)
        with open(path, "wb") as f:
            f.write(data)
        storage = JournalStorage(JournalFileBackend(path))
        names = optuna.get_all_study_names(storage)
        if not names:
            return {}, "the stored Optuna journal holds no study"
        name = experiment if experiment in names else names[0]
        study = optuna.load_study(study_name=name, storage=storage)
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if len(complete) < 2:
            return {}, f"{len(complete)} finished trial(s) in the study: too few for parameter importances"
        try:
            if len(study.directions) > 1:  # a multi-objective study: importances for its Δm(val)
                at = dm_val_index(study.metric_names)
                scores = optuna.importance.get_param_importances(study, target=lambda t: t.values[at])
            else:
                scores = optuna.importance.get_param_importances(study)
        except (RuntimeError, ValueError) as e:  # e.g. every trial has the same parameters
            return {}, f"optuna.importance could not rank the parameters ({e})"
    how = f"optuna.importance (Optuna's default evaluator; with few trials per value it warns that importances may be inaccurate) over the {len(complete)} finished trial(s) of study {name!r}, objective Δm(val)"
    return dict(scores), how
