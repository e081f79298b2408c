"""The leaderboard as CSV (``mtlsearch results EXPERIMENT --format csv``): one row per ranked trial.

The columns are :data:`COLUMNS`, then ``val/<task>`` and ``test/<task>`` for every
task any trial scored (its primary metric at its model's selected epoch, as in
:func:`mtlsearch.report.leaderboard.leaderboard`). Lists and dicts (``groups``,
``config``, ``selected_epochs``, ``metadata``) are JSON; a missing or NaN number is
an empty cell, so a spreadsheet or ``pandas.read_csv`` reads it as missing.
``pareto`` says whether the trial is in the Pareto set of Δm(val) against cost
(:mod:`mtlsearch.report.pareto`), whatever the search's objectives.
"""

from __future__ import annotations

import csv
import json
import math
from typing import TextIO

from mtlsearch.metrics.result_keys import COST, DM_TEST, DM_VAL, EVAL_SPLITS, task_key
from mtlsearch.report.leaderboard import candidate_label
from mtlsearch.report.pareto import PARETO
from mtlsearch.store.results import MULTILABEL_COLUMNS

CONFIRMATION_COLUMNS = ("confirmed_dm_test_mean", "confirmed_dm_test_low", "confirmed_dm_test_high", "confirmed_verdict")
"""The confirmation's Δm(test) over seeds with its interval (:mod:`mtlsearch.report.confirmation`); empty when not confirmed."""

COLUMNS = (
    "rank",
    "trial_id",
    "candidate",
    "architecture",
    "grouping",
    "groups",
    "status",
    "stopped_early",
    DM_VAL,
    DM_TEST,
    *MULTILABEL_COLUMNS,
    "selected_epoch",
    "epochs_trained",
    COST,
    PARETO,
    *CONFIRMATION_COLUMNS,
    "selected_epochs",
    "metadata",
    "config",
)
"""The fixed columns, in order; the per-task score columns follow them."""


def _cell(value) -> str | int | float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def _task_columns(rows: list[dict]) -> list[str]:
    tasks = sorted({t for r in rows for t in r["tasks"]})
    return [task_key(split, t) for split in EVAL_SPLITS for t in tasks]


def csv_row(rank: int, row: dict) -> dict[str, str | int | float]:
    """One leaderboard row (of :func:`~mtlsearch.report.leaderboard.leaderboard`) as CSV cells keyed by column."""
    confirmation = row.get("confirmation") or {}
    out = {
        "rank": rank,
        "candidate": candidate_label(row),
        **{c: row.get(c) for c in COLUMNS if c in row},
        **{c: confirmation.get(c.removeprefix("confirmed_")) for c in CONFIRMATION_COLUMNS},
    }
    for task, scores in row["tasks"].items():
        for split in EVAL_SPLITS:
            out[task_key(split, task)] = scores.get(split)
    return {k: _cell(v) for k, v in out.items()}


def write_leaderboard_csv(rows: list[dict], stream: TextIO) -> None:
    """Write the leaderboard ``rows`` (best first) to ``stream`` as CSV with a header row."""
    writer = csv.DictWriter(stream, fieldnames=[*COLUMNS, *_task_columns(rows)], lineterminator="\n")
    writer.writeheader()
    for rank, row in enumerate(rows, start=1):
        writer.writerow(csv_row(rank, row))
