"""The leaderboard: one row per candidate, read from the results store (no Ray needed).

Trials marked abandoned (a search killed before Tune recorded them, see
:data:`mtlsearch.store.results.ABANDONED`) are not ranked; their rows stay stored.
Confirmation runs (``search.confirm``; their config names the trial they
retrain, :data:`~mtlsearch.store.results.CONFIRMS`) are not ranked either: they
become the ``confirmation`` of the trial they confirm
(:mod:`mtlsearch.report.confirmation`: Δm(test) over the seeds with its interval).

Each trial is represented by its selection (:mod:`mtlsearch.train.selection`):
every separately trained model at its own best validation epoch, so each task's
val and test scores are those of its model's selected epoch (``selected_epochs``),
and Δm val/test are those of the selection (the row with the best Δm(val), which
never decreases). Candidates are ranked by validation Δm; test is only reported.

Besides Δm, each row carries the secondary metrics of the selection (they select
nothing): ``val_macro_f1`` … ``test_subset_acc`` over the primary binary tasks
read as one multi-label problem, each task's decisions at its selected epoch
(null when there are fewer than two), and ``task_extra`` (per task at its
selected epoch, e.g. ``{"auroc": {"val": …, "test": …}}``). The text
table shows test F1-macro and F1-micro beside Δm when the experiment has them.

``metadata``: the trial's metadata tasks (Tri-MTL, arXiv:2505.06271, Table II
reports "Metadata Accuracy" beside the primary scores) with their scores at their
selected epoch, ``{task: {"val": …, "test": …}}``: the tasks of the trial's
``metadata`` choice (``search.space.metadata``), or, when that dimension is not
searched, the trained non-primary tasks scored by accuracy. They never count in
Δm. The text table shows them as ``meta acc test`` when any trial has one, and
labels a candidate with its sharing and metadata (``MTL soft +age_group``).

``pareto``: whether the trial is in the Pareto set of Δm(val) against training
cost (:mod:`mtlsearch.report.pareto`). A multi-objective search
(``search.objectives: [dm_val, cost]``) shows it in the text table and lists the
set below it, cheapest first.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict

from mtlsearch.errors import StoreError
from mtlsearch.metrics.objectives import DM_VAL_OBJECTIVE, is_multi_objective
from mtlsearch.metrics.result_keys import COST, DM_TEST, DM_VAL, EPOCH, SERVED_BY, TIM
from mtlsearch.report.confirmation import format_confirmation, summarize
from mtlsearch.report.pareto import PARETO, pareto_set
from mtlsearch.report.text import fmt, format_cost, table
from mtlsearch.spec import metadata_tasks
from mtlsearch.store.results import (
    ABANDONED,
    CONFIRMS,
    ERROR,
    MULTILABEL_COLUMNS,
    SECONDARY_TASK_METRICS,
    STOPPED_EARLY,
    ResultsStore,
)


def _key(dm: float | None) -> float:
    return -math.inf if dm is None or math.isnan(dm) else dm


def leaderboard(store: ResultsStore, experiment: str) -> list[dict]:
    """The search trials' rows sorted by validation Δm, best first.

    Each row's ``confirmation`` is its row of :func:`mtlsearch.report.confirmation.summarize`
    (Δm over the confirmation seeds with its interval), or None when it was not confirmed;
    the confirmation runs themselves are not ranked here.
    """
    every = _trial_rows(store, experiment)
    rows = [r for r in every if CONFIRMS not in r["config"]]
    rows.sort(key=lambda r: (_key(r[DM_VAL]), _key(r[DM_TEST])), reverse=True)
    confirmed = {c["trial_id"]: c for c in summarize(rows, [r for r in every if CONFIRMS in r["config"]], candidate_label)}
    front = pareto_set(rows)
    for r in rows:
        r["confirmation"] = confirmed.get(r["trial_id"])
        r[PARETO] = r["trial_id"] in front
    return rows


def confirmation_rows(rows: list[dict]) -> list[dict]:
    """The confirmation rows of a leaderboard, best first (by mean Δm(val) over the seeds)."""
    return sorted((r["confirmation"] for r in rows if r.get("confirmation")), key=lambda c: c["rank"])


def _trial_rows(store: ResultsStore, experiment: str) -> list[dict]:
    """One row per trial (search and confirmation runs), unsorted."""
    if store.read_experiment(experiment) is None:
        known = store.experiments()
        raise StoreError(f"no experiment {experiment!r} in the store {store.root} (experiments there: {known or 'none'})")
    trials = defaultdict(list)
    for row in store.read(experiment, "trials").to_pylist():
        trials[row["trial_id"]].append(row)
    scores: dict[tuple[str, int], dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    extra: dict[tuple[str, int], dict[str, dict[str, dict[str, float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(dict))
    )
    meta_by_default: set[str] = set()  # non-primary tasks scored by accuracy (metadata tasks when not searched)
    for row in store.read(experiment, "task_metrics").to_pylist():
        if row.get("role", "primary") != "primary" and row["metric"] == "accuracy":
            meta_by_default.add(row["task"])
        if row["metric"] in SECONDARY_TASK_METRICS:
            extra[(row["trial_id"], row["epoch"])][row["task"]][row["metric"]][row["split"]] = row["value"]
        else:
            scores[(row["trial_id"], row["epoch"])][row["task"]][row["split"]] = row["value"]
    status = {r["trial_id"]: r for r in store.read(experiment, "status").to_pylist()}

    rows = []
    for trial_id, epochs in trials.items():
        if trial_id in status and status[trial_id]["status"] == ABANDONED:  # not part of the (resumed) search
            continue
        epochs.sort(key=lambda r: r["epoch"])
        best = max(epochs, key=lambda r: (_key(r[DM_VAL]), -r[EPOCH]))
        st = status.get(trial_id)
        config = json.loads(best["config"])
        # each task at the epoch its model selected (older rows without a selection: the row's own epoch)
        chosen = json.loads(best["selected_epochs"]) if best.get("selected_epochs") else {}
        at = {t: chosen.get(t, best["epoch"]) for t in scores[(trial_id, best["epoch"])]}
        task_scores = {t: dict(scores[(trial_id, e)][t]) for t, e in at.items()}
        meta = metadata_tasks(config["metadata"]) if "metadata" in config else sorted(meta_by_default & set(task_scores))
        rows.append(
            {
                "trial_id": trial_id,
                "architecture": best["architecture"],
                "grouping": best["grouping"],
                "groups": json.loads(best["groups"]),
                "config": config,
                DM_VAL: best[DM_VAL],
                DM_TEST: best[DM_TEST],
                "selected_epoch": best["epoch"],
                "epochs_trained": epochs[-1]["epoch"],
                "status": st["status"] if st else "running",
                "stopped_early": bool(st and st["status"] == STOPPED_EARLY),
                COST: max(r[COST] for r in epochs),
                "tasks": task_scores,
                "metadata": {t: task_scores.get(t, {}) for t in meta},
                **{c: best.get(c) for c in MULTILABEL_COLUMNS},
                "selected_epochs": at,
                # overlapping groups: task -> index (in `groups`) of the group whose copy serves it
                SERVED_BY: json.loads(best[SERVED_BY]) if best.get(SERVED_BY) else {},
                # cross-task attention: {"tasks": [...], "matrix": [[TIM_{t←s}]]} at the selected epochs, else None
                TIM: json.loads(best[TIM]) if best.get(TIM) else None,
                "task_extra": {
                    t: {m: dict(v) for m, v in extra[(trial_id, at.get(t, best["epoch"]))][t].items()}
                    for t in extra[(trial_id, best["epoch"])]
                },
            }
        )
    return rows


def candidate_label(row: dict) -> str:
    """``GMTL[affinity k=3]``; with the searched encoder's name appended when the encoder is searched: ``MTL (minilm)``;
    then ``soft`` (with ``λ=…`` and ``S=…`` when searched) for soft sharing, ``+attn`` (``γ=…`` when
    searched) for searched cross-task attention, ``+task`` per metadata task,
    ``+M aux`` (``p=`` the major-task probability) for CO-TASK auxiliary tasks, ``sampler`` when the
    task-aware sampler is on and the loss weighting when it is searched."""
    label = f"{row['architecture']}[{row['grouping']}]" if row["grouping"] else row["architecture"]
    config = row.get("config", {})
    encoder = config.get("encoder")
    label = f"{label} ({encoder})" if encoder else label
    if config.get("sharing") == "soft" and row["architecture"] != "STL":
        label += " soft" + "".join(f" {k}={config[c]}" for c, k in (("soft_lambda", "λ"), ("soft_layers", "S")) if c in config)
    if config.get("cross_task_attention") and row["architecture"] != "STL":
        label += " +attn" + (f" γ={config['attention_gamma']}" if "attention_gamma" in config else "")
    label += "".join(f" +{t}" for t in metadata_tasks(config.get("metadata")))
    if config.get("aux_tasks"):
        label += f" +{config['aux_tasks']} aux" + (f" p={config['aux_major_prob']:.2f}" if "aux_major_prob" in config else "")
    if config.get("task_sampler"):
        label += " sampler"
    if config.get("weighting"):
        label += f" {config['weighting']}"
    return label


PARETO_MARK = "yes"
"""The text leaderboard's ``Pareto`` cell of a trial in the Pareto set (a multi-objective search)."""


def search_objectives(experiment_meta: dict) -> list[str]:
    """The stored search's ``search.objectives`` (``[dm_val]`` for one stored before the option existed)."""
    return ((experiment_meta.get("spec") or {}).get("search") or {}).get("objectives") or [DM_VAL_OBJECTIVE]


def pareto_rows(rows: list[dict]) -> list[dict]:
    """The leaderboard rows in the Pareto set, cheapest first (Δm(val) then rises along the set)."""
    return sorted((r for r in rows if r[PARETO]), key=lambda r: (r[COST], -_key(r[DM_VAL])))


def pareto_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The header and cells of the Pareto set's table (the text leaderboard's and the report's), cheapest first."""
    body = [[r["trial_id"], candidate_label(r), format_cost(r[COST]), fmt(r[DM_VAL]), fmt(r[DM_TEST])] for r in pareto_rows(rows)]
    return ["trial", "candidate", "cost (worker·s)", "Δm val", "Δm test"], body


def format_pareto_set(rows: list[dict]) -> str:
    """The Pareto set (max Δm(val), min cost) as a table, cheapest first."""
    header, body = pareto_table(rows)
    title = (
        "Pareto set of the multi-objective search (max Δm(val), min training cost; among the trials that trained the "
        "full budget; Δm(test) is only reported):"
    )
    if not body:
        return title + " empty (no trial trained the full budget yet)"
    return title + "\n" + table(header, body)


SERVING_MARK = "*"
"""Marks, in the groups column, the group whose copy serves a task trained in several groups."""


def _groups_text(row: dict) -> str:
    if row["architecture"] not in ("GMHL", "GMTL"):
        return "-"
    served = row.get(SERVED_BY) or {}
    return " | ".join(
        ",".join(t + (SERVING_MARK if served.get(t) == gi else "") for t in g) for gi, g in enumerate(row["groups"])
    )


def format_leaderboard(rows: list[dict], experiment_meta: dict) -> str:
    """A plain-text leaderboard and, for the best candidates, per-task scores beside the baselines."""
    if not rows:
        return "no trial has reported a result yet"
    # multi-label F1 over the primary binary tasks, present when there are at least two of them
    multilabel = any(r.get("test_macro_f1") is not None for r in rows)
    header = ["rank", "trial", "candidate", "Δm val", "Δm test"] + (["F1-macro test", "F1-micro test"] if multilabel else [])
    metadata = any(r.get("metadata") for r in rows)
    header += ["meta acc test"] if metadata else []
    multi = is_multi_objective(search_objectives(experiment_meta))
    header += ["epochs", "ASHA-stopped", "cost (worker·s)"] + (["Pareto"] if multi else []) + ["groups"]
    body = [
        [
            str(i + 1),
            r["trial_id"],
            candidate_label(r),
            fmt(r[DM_VAL]),
            fmt(r[DM_TEST]),
            *([fmt(r.get("test_macro_f1"), ".4f"), fmt(r.get("test_micro_f1"), ".4f")] if multilabel else []),
            *([_metadata_text(r)] if metadata else []),
            f"{r['epochs_trained']}",
            "yes" if r["stopped_early"] else ("error" if r["status"] == ERROR else "no"),
            format_cost(r[COST]),
            *([PARETO_MARK if r[PARETO] else "-"] if multi else []),
            _groups_text(r),
        ]
        for i, r in enumerate(rows)
    ]
    out = [table(header, body)]
    if multi:
        out.append("\n" + format_pareto_set(rows))
    if any(r.get(SERVED_BY) for r in rows):
        out.append(f"{SERVING_MARK} a task in several groups trains in each and is served by this group's copy (best on val)")

    baselines = experiment_meta.get("baselines", {})
    top = rows[: min(3, len(rows))]
    tasks = sorted({t for r in top for t in r["tasks"]})
    if tasks:
        header = (
            ["task", "metric", "STL val", "STL test"]
            + [f"#{i + 1} val" for i in range(len(top))]
            + [f"#{i + 1} test" for i in range(len(top))]
        )
        metrics = experiment_meta.get("task_metrics", {})
        body = []
        for t in tasks:
            b = baselines.get(t, {})
            body.append(
                [t, metrics.get(t, ""), fmt(b.get("val"), ".4f"), fmt(b.get("test"), ".4f")]
                + [fmt(r["tasks"].get(t, {}).get("val"), ".4f") for r in top]
                + [fmt(r["tasks"].get(t, {}).get("test"), ".4f") for r in top]
            )
        out.append("\nper-task scores of the top candidates (STL = single-task baseline):")
        out.append(table(header, body))
    left_out = experiment_meta.get("dm_left_out") or {}
    if left_out:
        n = len(experiment_meta.get("primary_tasks", [])) or len(baselines)
        out.append(
            f"\nΔm is over {n - len(left_out)} of {n} primary tasks: "
            + "; ".join(f"{t} is left out ({why})" for t, why in sorted(left_out.items()))
            + ". A relative change over a baseline of 0 is undefined (see the launch's warnings for what to do)."
        )
    confirmed = confirmation_rows(rows)
    if confirmed or experiment_meta.get("confirmation"):
        meta = experiment_meta.get("confirmation") or {}
        out.append("\n" + format_confirmation(confirmed, meta.get("seeds")))
        more = {t: why for t, why in (meta.get("dm_left_out") or {}).items() if t not in left_out}
        if more:
            out.append(
                "the confirmation's Δm also leaves out " + "; ".join(f"{t} ({why} for a seed)" for t, why in sorted(more.items()))
            )
    return "\n".join(out)


def _metadata_text(row: dict) -> str:
    """``sex 0.5306`` (several: comma-separated); ``-`` for a trial without metadata tasks."""
    meta = row.get("metadata") or {}
    return ", ".join(f"{t} {fmt(s.get('test'), '.4f')}" for t, s in meta.items()) or "-"
