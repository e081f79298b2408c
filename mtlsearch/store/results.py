"""The results store: every trial, every epoch, every baseline, as Parquet under one root.

Layout under the root (a local folder or, through ``pyarrow.fs``, an object-store URI)::

    baselines/<fingerprint>.parquet                  one STL baseline of one task
    baselines/<fingerprint>.claim                    while a search trains that baseline (a lease)
    baselines/runs/                                  the Ray Train runs of the baselines
    groupings/<method>-<fingerprint>/matrix.parquet  task embeddings or a task-affinity matrix
    groupings/<method>-<fingerprint>/groups-<selection>.parquet   groups selected from it (k, options)
    groupings/<method>-<fingerprint>/*.png           its elbow curve or affinity heatmap
    experiments/<name>/experiment.json               spec, dataset and baselines used
    experiments/<name>/trials/<trial>/epoch=NNNNN.parquet        one row: the trial at that epoch
    experiments/<name>/task_metrics/<trial>/epoch=NNNNN.parquet  one row per task and split
    experiments/<name>/status/<trial>.parquet        how the trial ended
    experiments/<name>/confirmation.parquet          Δm(test) intervals over seeds of the confirmed candidates
    experiments/<name>/tune_confirm/                 Ray Tune state of the confirmation stage (search.confirm)
    experiments/<name>/tune/                         Ray Tune experiment state (for --resume)
    experiments/<name>/optuna_journal.log            the Optuna study (journal file; optuna-dashboard opens it;
                                                     mtlsearch.search.study: for S3, a copy of a local file)
    experiments/<name>/train_runs/                   Ray Train runs and checkpoints
    experiments/<name>/tensorboard/<trial>/          TensorBoard event files
    experiments/<name>/tensorboard/events.out.tfevents.0.mtlsearch-experiment   the HParams experiment summary
    experiments/<name>/artifacts/                    plots of the groupings the search used
    experiments/<name>/report.html                   the HTML report launch writes at the end (mtlsearch.report)

The root may be an ``s3://bucket/prefix`` URI (:mod:`mtlsearch.store.atomic`: endpoint,
credentials, retries); ``baselines/<fingerprint>.claim`` marks a baseline another
search is training (:mod:`mtlsearch.store.claims`).

Every file is written atomically, and its name is a function of what it holds
(trial id, epoch, fingerprint), so writing the same rows again (a resumed or
restarted trial re-reporting an epoch) replaces a file instead of adding rows:
writes are idempotent.
"""

from __future__ import annotations

import json
import posixpath
import time
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from mtlsearch.metrics.result_keys import COST, DM_TEST, DM_VAL, EPOCH, SAMPLES_PER_S, SERVED_BY, TIM, TRAIN_LOSS
from mtlsearch.store.atomic import atomic_write_bytes, atomic_write_table, read_bytes, resolve, retrying

TRIALS_SCHEMA = pa.schema(
    [
        ("experiment", pa.string()),
        ("trial_id", pa.string()),
        (EPOCH, pa.int64()),
        ("architecture", pa.string()),
        ("grouping", pa.string()),
        ("groups", pa.string()),  # JSON list of task-name lists (head groups)
        ("config", pa.string()),  # JSON of the sampled config
        # copied from the run's report (mtlsearch.metrics.result_keys)
        (DM_VAL, pa.float64()),
        (DM_TEST, pa.float64()),
        (TRAIN_LOSS, pa.float64()),
        (COST, pa.float64()),
        (SAMPLES_PER_S, pa.float64()),
        ("reported_at", pa.float64()),
        # secondary metrics over the primary binary tasks read as one multi-label problem
        # (mtlsearch.metrics.multilabel; null when there are fewer than two such tasks, and
        # in experiments written before these columns existed: reading fills them with nulls)
        ("val_macro_f1", pa.float64()),
        ("val_micro_f1", pa.float64()),
        ("val_subset_acc", pa.float64()),
        ("test_macro_f1", pa.float64()),
        ("test_micro_f1", pa.float64()),
        ("test_subset_acc", pa.float64()),
        # JSON {task: epoch}: the epoch each task's model selected so far (mtlsearch.train.selection)
        ("selected_epochs", pa.string()),
        ("seed", pa.int64()),  # the run's seed (initialisation and data order)
        ("confirms", pa.string()),  # a confirmation run (search.confirm): the search trial it retrains; null otherwise
        # overlapping groups (mtlsearch.train.serving): JSON {task: index into `groups`} of the group whose copy
        # serves each task trained in several groups; null when no task is (and in files written before it)
        (SERVED_BY, pa.string()),
        # cross-task attention (mtlsearch.models.cross_task_attention): JSON {"tasks": [...], "matrix": [[TIM_{t←s}]]}
        # at each task's selected epoch, null entries where no attention runs; null for trials without it
        (TIM, pa.string()),
    ]
)
"""One row per trial and reported epoch. Columns are only ever appended (nullable): ``read``
scans with this schema, so files written before a column existed read it as null."""

MULTILABEL_COLUMNS = ("val_macro_f1", "val_micro_f1", "val_subset_acc", "test_macro_f1", "test_micro_f1", "test_subset_acc")

TASK_METRICS_SCHEMA = pa.schema(
    [
        ("experiment", pa.string()),
        ("trial_id", pa.string()),
        ("epoch", pa.int64()),
        ("task", pa.string()),
        ("role", pa.string()),
        ("metric", pa.string()),
        ("split", pa.string()),
        ("value", pa.float64()),
    ]
)
"""One row per task, split and metric of a reported epoch: the task's primary metric (``metric``
is its name, e.g. ``f1``), and secondary ones named in :data:`SECONDARY_TASK_METRICS`."""

SECONDARY_TASK_METRICS = ("auroc", "specificity", "sensitivity", "threshold")
"""``metric`` values of task_metrics rows that are not the task's primary metric: AUROC of
every task, ICBHI specificity/sensitivity of tasks scored by ``icbhi_score``, and the decision
threshold τ a binary task was scored with (``evaluation.thresholds: val_tuned``; chosen on val)."""

STATUS_SCHEMA = pa.schema(
    [
        ("experiment", pa.string()),
        ("trial_id", pa.string()),
        ("status", pa.string()),  # FINISHED | STOPPED_EARLY | ERROR | ABANDONED (below)
        ("epochs_trained", pa.int64()),
        ("max_epochs", pa.int64()),
        ("error", pa.string()),
        ("ended_at", pa.float64()),
    ]
)

BASELINE_SCHEMA = pa.schema(
    [
        ("fingerprint", pa.string()),
        ("dataset", pa.string()),
        ("task", pa.string()),
        ("metric", pa.string()),
        ("direction", pa.string()),
        ("val", pa.float64()),
        ("test", pa.float64()),
        ("best_epoch", pa.int64()),
        ("epochs", pa.int64()),
        ("cost_worker_s", pa.float64()),
        ("config", pa.string()),
        ("trained_by", pa.string()),
        ("created_at", pa.float64()),
    ]
)

CONFIRMS = "confirms"
"""Key of a confirmation run's config (and column of the trials table): the id of the search trial it retrains."""
SEED = "seed"
"""Key of a confirmation run's config (and column of the trials table): the seed it trains with."""

CONFIRMATION_SCHEMA = pa.schema(
    [
        ("experiment", pa.string()),
        ("trial_id", pa.string()),  # the confirmed search trial
        ("rank", pa.int64()),  # by the mean Δm(val) over the seeds, best first
        ("candidate", pa.string()),
        ("architecture", pa.string()),
        ("seeds", pa.list_(pa.int64())),
        ("runs", pa.list_(pa.string())),  # the confirmation trials, one per seed
        ("dm_val_seeds", pa.list_(pa.float64())),
        ("dm_test_seeds", pa.list_(pa.float64())),  # paired: against the STL baselines trained with the same seed
        ("dm_val_mean", pa.float64()),
        ("dm_test_mean", pa.float64()),
        ("dm_test_low", pa.float64()),
        ("dm_test_high", pa.float64()),
        ("level", pa.float64()),
        ("verdict", pa.string()),  # see mtlsearch.report.confirmation.VERDICTS
        ("test_macro_f1_mean", pa.float64()),
        ("test_micro_f1_mean", pa.float64()),
        ("next_trial_id", pa.string()),  # the candidate ranked next, and the paired interval of the difference
        ("diff_next_mean", pa.float64()),
        ("diff_next_low", pa.float64()),
        ("diff_next_high", pa.float64()),
    ]
)
"""``experiments/<name>/confirmation.parquet``: one row per confirmed candidate (:mod:`mtlsearch.report.confirmation`)."""

FINISHED, STOPPED_EARLY, ERROR = "finished", "stopped_early", "error"
"""Statuses of a trial that ended: it trained the full budget, ASHA stopped it earlier, or it failed."""


def ended_status(epochs: int, max_epochs: int) -> str:
    """:data:`FINISHED` for a trial that trained ``max_epochs``, else :data:`STOPPED_EARLY` (ASHA stopped it)."""
    return FINISHED if epochs >= max_epochs else STOPPED_EARLY


ABANDONED = "abandoned"
"""Status of a trial whose rows are stored but that the search's restored Tune state does not know: the search
was killed after the trial reported and before Tune saved its state, so ``--resume`` could not continue it (the
searcher proposed a new trial in its place). Its rows stay in the store; the leaderboard does not rank it."""

TABLES = {"trials": TRIALS_SCHEMA, "task_metrics": TASK_METRICS_SCHEMA, "status": STATUS_SCHEMA}


class ResultsStore:
    """Reads and writes the store rooted at ``root`` (a path or URI)."""

    def __init__(self, root: str):
        self.root = root.rstrip("/") if "://" in root else resolve(root)[1]
        self.fs, self._path = resolve(self.root)

    # -- locations ---------------------------------------------------------------

    def uri(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def experiment_uri(self, experiment: str, *parts: str) -> str:
        return self.uri("experiments", experiment, *parts)

    def local_path(self, *parts: str) -> str:
        """A path on this machine (only for a local store), e.g. for TensorBoard."""
        if "://" in self.root:
            raise ValueError(f"{self.root} is not a local store")
        return self.uri(*parts)

    # -- experiments -------------------------------------------------------------

    def write_experiment(self, experiment: str, meta: dict) -> None:
        atomic_write_bytes(
            json.dumps(meta, indent=2, sort_keys=True).encode(), self.experiment_uri(experiment, "experiment.json")
        )

    def read_experiment(self, experiment: str) -> dict | None:
        data = read_bytes(self.experiment_uri(experiment, "experiment.json"))
        return json.loads(data) if data is not None else None

    def experiments(self) -> list[str]:
        base = resolve(self.uri("experiments"))[1]
        infos = retrying(
            self.fs, lambda: self.fs.get_file_info(pafs.FileSelector(base, allow_not_found=True)), self.uri("experiments")
        )
        return sorted(posixpath.basename(i.path) for i in infos if i.type == pafs.FileType.Directory)

    # -- trials --------------------------------------------------------------------

    def write_trial_epoch(self, experiment: str, trial_id: str, epoch: int, trial_row: dict, task_rows: list[dict]) -> None:
        """Store one reported epoch of one trial (replaces an earlier write of the same epoch)."""
        name = f"epoch={epoch:05d}.parquet"
        common = {"experiment": experiment, "trial_id": trial_id, "epoch": epoch}
        row = {**common, "reported_at": time.time(), **trial_row}
        atomic_write_table(_rows_table([row], TRIALS_SCHEMA), self.experiment_uri(experiment, "trials", trial_id, name))
        rows = [{**common, **r} for r in task_rows]
        atomic_write_table(
            _rows_table(rows, TASK_METRICS_SCHEMA), self.experiment_uri(experiment, "task_metrics", trial_id, name)
        )

    def write_trial_status(
        self, experiment: str, trial_id: str, status: str, epochs_trained: int, max_epochs: int, error: str = ""
    ) -> None:
        row = {
            "experiment": experiment,
            "trial_id": trial_id,
            "status": status,
            "epochs_trained": epochs_trained,
            "max_epochs": max_epochs,
            "error": error,
            "ended_at": time.time(),
        }
        atomic_write_table(_rows_table([row], STATUS_SCHEMA), self.experiment_uri(experiment, "status", f"{trial_id}.parquet"))

    def read(self, experiment: str, table: str) -> pa.Table:
        """All rows of one table of an experiment (empty table when none were written)."""
        schema = TABLES[table]
        base = resolve(self.experiment_uri(experiment, table))[1]

        def scan() -> pa.Table:
            if self.fs.get_file_info(base).type != pafs.FileType.Directory:
                return schema.empty_table()
            return pads.dataset(base, filesystem=self.fs, format="parquet", schema=schema).to_table()

        return retrying(self.fs, scan, self.experiment_uri(experiment, table))

    def write_confirmation(self, experiment: str, rows: list[dict]) -> None:
        """Replace the experiment's confirmation table (:data:`CONFIRMATION_SCHEMA`)."""
        rows = [{"experiment": experiment, **r} for r in rows]
        atomic_write_table(_rows_table(rows, CONFIRMATION_SCHEMA), self.experiment_uri(experiment, "confirmation.parquet"))

    @property
    def groupings(self) -> "GroupingArtifacts":
        return GroupingArtifacts(self)

    # -- baselines -----------------------------------------------------------------

    def write_baseline(self, row: dict) -> None:
        atomic_write_table(
            _rows_table([{"created_at": time.time(), **row}], BASELINE_SCHEMA),
            self.uri("baselines", f"{row['fingerprint']}.parquet"),
        )

    def read_baselines(self, fingerprints: list[str]) -> dict[str, dict]:
        """The stored baselines among ``fingerprints``, keyed by fingerprint."""
        import pyarrow.parquet as pq

        def read_one(path: str) -> dict | None:
            if self.fs.get_file_info(path).type != pafs.FileType.File:
                return None
            return pq.read_table(path, filesystem=self.fs).to_pylist()[0]

        out = {}
        for fp in fingerprints:
            uri = self.uri("baselines", f"{fp}.parquet")
            row = retrying(self.fs, lambda uri=uri: read_one(resolve(uri)[1]), uri)
            if row is not None:
                out[fp] = row
        return out


GROUPING_MATRIX_SCHEMA = pa.schema([("task", pa.string()), ("vector", pa.list_(pa.float64()))])
GROUPING_SELECTION_SCHEMA = pa.schema([("group", pa.int64()), ("task", pa.string())])
_META_KEY = b"mtlsearch"


class GroupingArtifacts:
    """Grouping artifacts under ``groupings/<artifact_id>/``, keyed by what they depend on.

    ``matrix.parquet`` holds one row per task (its embedding, or its row of an
    affinity matrix) with the method's metadata (settings, elbow curve, cost) as
    JSON in the schema metadata; ``groups-<selection>.parquet`` one row per
    (group, task) of one selection.
    """

    def __init__(self, store: "ResultsStore"):
        self.store = store

    def uri(self, artifact_id: str, *parts: str) -> str:
        return self.store.uri("groupings", artifact_id, *parts)

    def write_matrix(self, artifact_id: str, task_names: list[str], matrix, meta: dict) -> None:
        table = pa.Table.from_pydict(
            {"task": task_names, "vector": [list(map(float, row)) for row in matrix]}, schema=GROUPING_MATRIX_SCHEMA
        )
        table = table.replace_schema_metadata({_META_KEY: json.dumps(meta, sort_keys=True).encode()})
        atomic_write_table(table, self.uri(artifact_id, "matrix.parquet"))

    def read_matrix(self, artifact_id: str) -> tuple[list[str], list[list[float]], dict] | None:
        table = self._read(self.uri(artifact_id, "matrix.parquet"))
        if table is None:
            return None
        return table.column("task").to_pylist(), table.column("vector").to_pylist(), json.loads(table.schema.metadata[_META_KEY])

    def write_selection(self, artifact_id: str, selection_id: str, groups: list[list[str]], meta: dict) -> None:
        rows = [{"group": g, "task": t} for g, group in enumerate(groups) for t in group]
        table = _rows_table(rows, GROUPING_SELECTION_SCHEMA).replace_schema_metadata(
            {_META_KEY: json.dumps(meta, sort_keys=True).encode()}
        )
        atomic_write_table(table, self.uri(artifact_id, f"groups-{selection_id}.parquet"))

    def read_selection(self, artifact_id: str, selection_id: str) -> tuple[list[list[str]], dict] | None:
        table = self._read(self.uri(artifact_id, f"groups-{selection_id}.parquet"))
        if table is None:
            return None
        groups: dict[int, list[str]] = {}
        for row in table.to_pylist():
            groups.setdefault(row["group"], []).append(row["task"])
        return [groups[g] for g in sorted(groups)], json.loads(table.schema.metadata[_META_KEY])

    def _read(self, uri: str) -> pa.Table | None:
        import pyarrow.parquet as pq

        path = resolve(uri)[1]

        def read() -> pa.Table | None:
            if self.store.fs.get_file_info(path).type != pafs.FileType.File:
                return None
            return pq.read_table(path, filesystem=self.store.fs)

        return retrying(self.store.fs, read, uri)


def _rows_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)
