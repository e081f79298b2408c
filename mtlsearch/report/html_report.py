"""``mtlsearch report EXPERIMENT``: one self-contained HTML file of a search, read from the results store only.

No script, font or stylesheet is fetched: each plot is a PNG in a ``data:`` URI
(drawn by :mod:`mtlsearch.report.report_plots`, the grouping matrices by their
method's own plot, :mod:`mtlsearch.grouping.plots`) and the data behind it a
``data:text/csv;base64,…`` download link beside it. Sections, in order: the
leaderboard (confirmation intervals when confirmed), Δm(val) against cost with
the Pareto set (a table of it too; :mod:`mtlsearch.report.pareto`), learning curves, per-task scores against STL, the grouping
matrices stored for the experiment's dataset, then the spec, the dataset and how
candidates were selected and scored. A search where some trial had cross-task
attention also gets the TIM of its best such trial, after the per-task section.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import logging
import math
import posixpath
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml

from mtlsearch.metrics.objectives import is_multi_objective
from mtlsearch.metrics.result_keys import COST, DM_TEST, DM_VAL, EPOCH, TIM
from mtlsearch.report import report_plots
from mtlsearch.report.leaderboard import (
    PARETO_MARK,
    candidate_label,
    confirmation_rows,
    leaderboard,
    pareto_table,
    search_objectives,
)
from mtlsearch.report.pareto import PARETO
from mtlsearch.report.report_plots import Figure
from mtlsearch.report.text import fmt, format_cost
from mtlsearch.store.results import ABANDONED, CONFIRMS, ResultsStore

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
"""The report's name in the experiment's folder of the store (``launch`` writes it there at the end)."""
PLOT_IDS = ("plot-leaderboard", "plot-cost", "plot-curves", "plot-tasks", "plot-importance")
"""The ids of the report's plots (``<img>`` elements; ``plot-importance`` only where an Optuna study is stored);
grouping heatmaps are ``plot-grouping-<n>``, and the best attention trial's TIM is :data:`ATTENTION_PLOT_ID`."""
ATTENTION_PLOT_ID = "plot-attention"

TOP = 3
"""How many of the best candidates the per-task section shows."""

_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1300px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: .85em; margin: .6em 0; }
td, th { border: 1px solid #ddd; padding: .2em .5em; text-align: left; }
th { background: #f3f3f3; } img { max-width: 100%; display: block; margin: .4em 0; }
pre { background: #f7f7f7; padding: .8em; overflow: auto; max-height: 30em; font-size: .8em; }
.dl { font-size: .85em; } .note { color: #555; font-size: .9em; }
"""


def csv_data_uri(rows: list[dict]) -> str:
    """``rows`` (dicts with the same keys) as a ``data:text/csv;base64,…`` URI; missing or NaN numbers are empty cells."""
    buf = io.StringIO(newline="")
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if v is None or (isinstance(v, float) and math.isnan(v)) else v for k, v in r.items()})
    return "data:text/csv;base64," + base64.b64encode(buf.getvalue().encode("utf-8")).decode("ascii")


def _plot(plot_id: str, figure: Figure, alt: str) -> str:
    src = "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")
    return (
        f'<img id="{plot_id}" alt="{html.escape(alt)}" src="{src}">'
        f'<a class="dl" id="{plot_id}-data" download="{plot_id}.csv" href="{csv_data_uri(figure.rows)}">'
        f"download the data of this plot (CSV, {len(figure.rows)} rows)</a>"
    )


def _table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><tr>{head}</tr>{rows}</table>"


def _leaderboard_section(rows: list[dict]) -> str:
    confirmed = confirmation_rows(rows)
    parts = ["<h2 id='leaderboard'>Leaderboard</h2>"]
    if not rows:
        return parts[0] + "<p>No trial has reported a result yet.</p>"
    parts.append(_plot("plot-leaderboard", report_plots.leaderboard_figure(rows, confirmed), "leaderboard"))
    if confirmed:
        parts.append(
            _table(
                ["rank", "trial", "candidate", "Δm val (mean)", "Δm test (mean)", "interval", "seeds", "verdict"],
                [
                    [
                        str(c["rank"]),
                        c["trial_id"],
                        c["candidate"],
                        fmt(c["dm_val_mean"]),
                        fmt(c["dm_test_mean"]),
                        f"[{fmt(c['dm_test_low'])}, {fmt(c['dm_test_high'])}]",
                        str(len(c["seeds"])),
                        c["verdict"],
                    ]
                    for c in confirmed
                ],
            )
        )
    parts.append(
        _table(
            ["rank", "trial", "candidate", "Δm val", "Δm test", "epochs", "status", "cost (worker·s)", "Pareto"],
            [
                [
                    str(i + 1),
                    r["trial_id"],
                    candidate_label(r),
                    fmt(r[DM_VAL]),
                    fmt(r[DM_TEST]),
                    str(r["epochs_trained"]),
                    r["status"],
                    format_cost(r[COST]),
                    PARETO_MARK if r[PARETO] else "-",
                ]
                for i, r in enumerate(rows)
            ],
        )
    )
    return "".join(parts)


def _pareto_section(rows: list[dict], objectives: list[str]) -> str:
    """The Pareto set of Δm(val) against cost (:mod:`mtlsearch.report.pareto`) as a table, cheapest first."""
    header, body = pareto_table(rows)
    study = (
        f"The search optimized {', '.join(objectives)} (a multi-objective Optuna study; ASHA stopped trials on Δm(val) alone)."
        if is_multi_objective(objectives)
        else "The search optimized Δm(val) alone; the set shows what each extra worker·s bought."
    )
    note = (
        f"<p class='note'>{html.escape(study)} The Pareto set: the trials that trained the full budget which no other such "
        "trial beats on both Δm(val) and cost; ASHA-stopped trials (a partial budget's cost) are left out. Selected on "
        f"validation; Δm(test) is only reported. {len(body)} trial(s).</p>"
    )
    return "<h3 id='pareto'>Pareto set</h3>" + note + _table(header, body).replace("<table>", "<table id='pareto-set'>", 1)


def _per_task_table(data: list[dict], top: list[dict]) -> str:
    """The per-task plot's rows as a table: STL and each top candidate's val/test score, with its threshold τ."""
    header = ["task", "metric", "STL val", "STL test"]
    for i, r in enumerate(top):
        header += [f"#{i + 1} {r['trial_id']} val", "test", "τ"]
    body = [
        [d["task"], d["metric"], fmt(d["stl_val"], ".4f"), fmt(d["stl_test"], ".4f")]
        + [
            c
            for i in range(len(top))
            for c in (fmt(d[f"top{i + 1}_val"], ".4f"), fmt(d[f"top{i + 1}_test"], ".4f"), fmt(d[f"top{i + 1}_threshold"], ".2f"))
        ]
        for d in data
    ]
    note = "<p class='note'>τ: the decision threshold chosen on validation (evaluation.thresholds: val_tuned); nan where none is stored.</p>"
    return "<div id='per-task-table'>" + _table(header, body) + note + "</div>"


def cross_shares(tim: dict) -> list[dict]:
    """Per task t of a trial's TIM (``{"tasks", "matrix"}``, rows t, columns s): its cross share
    ``Σ_{s≠t} TIM_{t←s}``, the part of t's attention row on the other tasks (the rest is its self share
    ``A_tt``), and the task it attends to most with that entry. Null entries (the diagonal, tasks of other
    encoder groups) are left out; a task alone in its group has share 0 and no top task."""
    out = []
    for t, row in zip(tim["tasks"], tim["matrix"]):
        entries = [(s, v) for s, v in zip(tim["tasks"], row) if v is not None and s != t]
        top = max(entries, key=lambda e: e[1], default=(None, None))
        out.append({"task": t, "cross_share": sum(v for _, v in entries), "top_source": top[0], "top_tim": top[1]})
    return out


def _attention_section(rows: list[dict]) -> str:
    """The TIM of the best-ranked trial with cross-task attention, as a heatmap of Z_{s→t} = TIM_{t←s} (the
    orientation of the ``tim`` grouping method's matrix) and a table of each task's cross share; empty when no
    trial had attention."""
    import numpy as np

    from mtlsearch.grouping.plots import plot_affinity_heatmap

    attended = [r for r in rows if r.get(TIM)]
    if not attended:
        return ""
    best, tim = attended[0], attended[0][TIM]
    names = tim["tasks"]
    m = np.array([[np.nan if v is None else v for v in row] for row in tim["matrix"]], dtype=np.float64)
    with tempfile.TemporaryDirectory() as d:
        png = Path(d) / "tim.png"
        plot_affinity_heatmap(m.T, names, png, title=f"TIM of trial {best['trial_id']}: Z_s→t = TIM_t←s")
        data = [{"task": t, **dict(zip(names, row))} for t, row in zip(names, tim["matrix"])]
        figure = Figure(png.read_bytes(), data)
    table = _table(
        ["task t", "cross share Σ_{s≠t} TIM_{t←s}", "attends most to s", "TIM_{t←s}"],
        [
            [
                c["task"],
                fmt(c["cross_share"], ".3f"),
                c["top_source"] or "-",
                fmt(c["top_tim"], ".3f") if c["top_source"] else "-",
            ]
            for c in cross_shares(tim)
        ],
    )
    without = [r for r in rows if not r.get(TIM)]
    compare = (
        f" The best trial without attention, {without[0]['trial_id']} ({candidate_label(without[0])}), has Δm(val) "
        f"{fmt(without[0][DM_VAL])}."
        if without
        else ""
    )
    note = (
        f"{len(attended)} of {len(rows)} ranked trial(s) had cross-task attention; the best of them by Δm(val) is "
        f"{best['trial_id']} ({candidate_label(best)}, Δm(val) {fmt(best[DM_VAL])}).{compare} TIM_{{t←s}} is the mean "
        "attention of task t's row on task s over the validation examples, at t's selected epoch (the M3H layer as "
        "this project reads it, docs/spec.md). The heatmap's row is the source s and its column the target t. The "
        "cross share is the part of t's attention row on the other tasks' tokens (the rest is A_tt, t's own): it says "
        "which token t reads, not which task's information t draws on (on synthetic data with planted dependencies the TIM does "
        "not follow them; docs/benchmarks.md)."
    )
    return (
        "<h2 id='attention'>Cross-task attention</h2>"
        + _plot(ATTENTION_PLOT_ID, figure, "TIM of the best trial with cross-task attention")
        + table.replace("<table>", "<table id='attention-table'>", 1)
        + f"<p class='note'>{html.escape(note)}</p>"
    )


def _curves(store: ResultsStore, experiment: str) -> tuple[dict[str, list[tuple[int, float]]], set[str]]:
    """Δm(val) per epoch of every search trial (not the abandoned ones, not the confirmation runs), and those stopped early."""
    status = {r["trial_id"]: r["status"] for r in store.read(experiment, "status").to_pylist()}
    curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in store.read(experiment, "trials").to_pylist():
        if status.get(row["trial_id"]) == ABANDONED or CONFIRMS in json.loads(row["config"]):
            continue
        curves[row["trial_id"]].append((row[EPOCH], row[DM_VAL]))
    for points in curves.values():
        points.sort()
    return dict(curves), {t for t, s in status.items() if s == "stopped_early" and t in curves}


def k_of(groups: list[list[str]]) -> str:
    """``k=3`` for three groups."""
    return f"k={len(groups)}"


def _groupings_section(store: ResultsStore, meta: dict) -> str:
    """Each grouping matrix stored for the experiment's dataset, drawn by its method's own plot."""
    import numpy as np
    import pyarrow.fs as pafs

    from mtlsearch.grouping.methods import Artifact, get_method
    from mtlsearch.store.atomic import resolve

    head = "<h2 id='groupings'>Grouping matrices</h2>"
    fingerprint = (meta.get("dataset") or {}).get("fingerprint")
    base = resolve(store.uri("groupings"))[1]
    infos = store.fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    computed = meta.get("computed_groupings") or {}
    parts: list[str] = []
    n = 0
    for info in sorted(infos, key=lambda i: i.path):
        if info.type != pafs.FileType.Directory:
            continue
        artifact_id = posixpath.basename(info.path)
        stored = store.groupings.read_matrix(artifact_id)
        if stored is None or stored[2].get("dataset") != fingerprint:
            continue
        names, matrix, ameta = stored
        method = get_method(ameta["method"])
        artifact = Artifact(artifact_id, method.name, names, np.asarray(matrix, dtype=np.float64), ameta)
        groups = {k: g for k, g in computed.items() if k.split("/")[0] == method.name}
        with tempfile.TemporaryDirectory() as d:
            png = Path(d) / method.plot_file
            partition = next((g for k, g in sorted(groups.items()) if not k.endswith("/overlapping")), None)
            if method.plot_file == "heatmap.png" and partition:  # tasks ordered by the chosen groups, outlined
                from mtlsearch.grouping.plots import plot_affinity_heatmap

                plot_affinity_heatmap(
                    artifact.matrix, names, png, title=f"{method.name} (groups of {k_of(partition)})", groups=partition
                )
            else:
                method.plot(artifact, png)
            columns = names if method.plot_file == "heatmap.png" else [f"dim{i}" for i in range(len(matrix[0]) if matrix else 0)]
            figure = Figure(png.read_bytes(), [{"task": n, **dict(zip(columns, row))} for n, row in zip(names, matrix)])
        rel = ameta.get("reliability")
        parts.append(f"<h3>{html.escape(method.name)} <span class='note'>({html.escape(artifact_id)})</span></h3>")
        parts.append(_plot(f"plot-grouping-{n}", figure, f"{method.name} matrix"))
        n += 1
        parts.append(
            "<p class='note'>"
            + (f"reliability: {html.escape(method.describe_reliability(rel))}. " if rel else "")
            + "".join(f"{html.escape(k)}: {html.escape(' | '.join(', '.join(g) for g in v))}. " for k, v in groups.items())
            + "</p>"
        )
    if not parts:
        return head + "<p>No grouping matrix is stored for this experiment's dataset (the search used no computed grouping).</p>"
    return head + "".join(parts)


def _importance_section(store: ResultsStore, experiment: str) -> str:
    from mtlsearch.report.importance import param_importances

    head = "<h2 id='importance'>Parameter importances</h2>"
    try:
        scores, how = param_importances(store, experiment)
    except Exception as e:  # noqa: BLE001 - an unreadable study must not cost the rest of the report
        log.warning(f"report: parameter importances left out ({type(e).__name__}: {e})")
        return head + f"<p>Left out: the stored Optuna study could not be read ({html.escape(type(e).__name__)}).</p>"
    if not scores:
        return head + f"<p>{html.escape(how)}.</p>"
    return (
        head
        + _plot("plot-importance", report_plots.importance_figure(scores), "parameter importances")
        + (f"<p class='note'>{html.escape(how)}.</p>")
    )


def _dataset_counts(path: str) -> str:
    """Sizes per split and each task's class counts per split (:func:`mtlsearch.data.inspect.inspect_table`), read
    from the prepared dataset the experiment trained on; a note instead when that file is not on this machine."""
    import os

    from mtlsearch.data.inspect import inspect_table

    if not path or not os.path.isfile(path):
        return f"<p class='note' id='dataset-counts'>The prepared dataset ({html.escape(path or 'no path stored')}) is not on this machine: sizes and class counts are left out.</p>"
    try:
        report = inspect_table(path)
    except Exception as e:  # noqa: BLE001 - a dataset that cannot be read must not cost the report
        log.warning(f"report: dataset counts left out ({type(e).__name__}: {e})")
        return f"<p class='note' id='dataset-counts'>The prepared dataset {html.escape(path)} could not be read ({html.escape(type(e).__name__)}).</p>"
    splits = list(report["size"])
    sizes = _table(["split", "examples"], [[s, str(n)] for s, n in report["size"].items()])
    body = [
        [t["name"], t["kind"], t["role"], t["metric"]]
        + ["; ".join(f"{c} {t['counts'][s][c]}" for c in [*t["classes"], "missing"] if t["counts"][s].get(c)) for s in splits]
        for t in report["tasks"]
    ]
    return "<div id='dataset-counts'>" + sizes + _table(["task", "kind", "role", "metric", *splits], body) + "</div>"


def _about_section(meta: dict, rows: list[dict]) -> str:
    spec = meta.get("spec") or {}
    confirm = (meta.get("confirmation") or {}).get("seeds") or (spec.get("search") or {}).get("confirm")
    dataset = meta.get("dataset") or {}
    primary = meta.get("primary_tasks") or sorted(meta.get("baselines") or {})
    left_out = meta.get("dm_left_out") or {}
    how = (
        "Each trial is represented by its selection: every separately trained model at its own best validation epoch. "
        "Candidates are selected and ranked on validation Δm; test scores are only reported, never used to choose. "
        "Δm is the mean relative change of each primary task's score over its single-task (STL) baseline, in %"
        + (f" (left out: {', '.join(f'{t} ({w})' for t, w in sorted(left_out.items()))})" if left_out else "")
        + ". "
        + (
            f"Confirmation retrained the best candidates and the STL baselines with new seeds ({html.escape(json.dumps(confirm))}); "
            "Δm(test) is paired per seed and its interval is a t-interval over the seeds."
            if confirm
            else "No confirmation was run: each Δm comes from one seed, without an interval."
        )
    )
    summary = _table(
        ["dataset", "fingerprint", "primary tasks", "trials ranked"],
        [[str(dataset.get("name", "")), str(dataset.get("fingerprint", "")), ", ".join(primary), str(len(rows))]],
    )
    counts = _dataset_counts(str(dataset.get("path", "")))
    baselines = meta.get("baselines") or {}
    metrics = meta.get("task_metrics") or {}
    tasks = _table(
        ["task", "metric", "STL val", "STL test"],
        [
            [t, metrics.get(t, ""), fmt(baselines.get(t, {}).get("val"), ".4f"), fmt(baselines.get(t, {}).get("test"), ".4f")]
            for t in sorted(set(metrics) | set(baselines))
        ],
    )
    return (
        "<h2 id='about'>How candidates were selected and scored</h2>"
        f"<p>{how}</p>"
        "<h2 id='dataset'>Dataset</h2>" + summary + tasks + counts + "<h2 id='spec'>Spec</h2>"
        f"<pre id='spec-text'>{html.escape(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True) if spec else '(not stored)')}</pre>"
    )


def build_report(store: ResultsStore, experiment: str) -> str:
    """The report of ``experiment`` as one HTML document (raises :class:`~mtlsearch.errors.StoreError` when unknown)."""
    rows = leaderboard(store, experiment)  # names the known experiments when this one is not stored
    meta = store.read_experiment(experiment) or {}
    sections = [_leaderboard_section(rows)]
    if rows:
        sections.append("<h2 id='cost'>Δm(val) against training cost</h2>")
        sections.append(_plot("plot-cost", report_plots.cost_figure(rows), "cost"))
        sections.append(_pareto_section(rows, search_objectives(meta)))
        curves, stopped = _curves(store, experiment)
        sections.append("<h2 id='curves'>Learning curves</h2>")
        spec = meta.get("spec") or {}
        rungs = report_plots.asha_rungs((spec.get("search") or {}).get("scheduler"), (spec.get("train") or {}).get("epochs"))
        sections.append(_plot("plot-curves", report_plots.learning_curves_figure(curves, stopped, rungs), "learning curves"))
        sections.append(
            f"<p class='note'>{len(stopped)} of {len(curves)} trial(s) stopped early (the scheduler's stops, red crosses)"
            + (f"; ASHA rungs at epoch(s) {', '.join(map(str, rungs))} (dotted)" if rungs else "; ASHA off or not recorded")
            + ".</p>"
        )
        sections.append("<h2 id='tasks'>Per-task scores of the top candidates against STL</h2>")
        figure = report_plots.per_task_figure(rows[:TOP], meta.get("baselines") or {}, meta.get("task_metrics") or {})
        sections.append(_plot("plot-tasks", figure, "per-task scores"))
        sections.append(_per_task_table(figure.rows, rows[:TOP]))
        sections.append(_attention_section(rows))
    sections.append(_importance_section(store, experiment))
    sections.append(_groupings_section(store, meta))
    sections.append(_about_section(meta, rows))
    title = f"mtlsearch report: {html.escape(experiment)}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{_STYLE}</style></head><body><h1>{title}</h1>"
        f"<p class='note'>store: {html.escape(store.experiment_uri(experiment))}</p>" + "".join(sections) + "</body></html>\n"
    )


def write_report(store: ResultsStore, experiment: str, out: str | Path) -> Path:
    """Write the report of ``experiment`` to ``out`` (a local file) and return its path."""
    path = Path(out)
    text = build_report(store, experiment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    log.info(f"{experiment}: report written to {path}")
    return path
