"""The figures of the HTML report (:mod:`mtlsearch.report.html_report`), each with the table of data it draws.

Every function returns a :class:`Figure`: the PNG bytes (matplotlib's Agg
canvas, no display, as in :mod:`mtlsearch.grouping.plots`) and the rows of the
data behind it, which the report offers as a CSV download beside the plot.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

from mtlsearch.metrics.result_keys import COST, DM_TEST, DM_VAL
from mtlsearch.report.leaderboard import candidate_label
from mtlsearch.report.pareto import PARETO, on_full_budget, pareto_set


@dataclass
class Figure:
    """One plot of the report: its PNG and the data it draws (one dict per CSV row, same keys)."""

    png: bytes
    rows: list[dict] = field(default_factory=list)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(width, height), dpi=90)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _num(v: float | None) -> float:
    return math.nan if v is None else float(v)


def leaderboard_figure(rows: list[dict], confirmed: list[dict], top: int = 15) -> Figure:
    """Δm(test) of the confirmed candidates with their interval over seeds as error bars;
    without a confirmation, Δm(val) and Δm(test) bars of the ``top`` best trials (ranked on val)."""
    fig = _figure(9.0, 0.35 * max(len(confirmed) if confirmed else min(len(rows), top), 3) + 1.5)
    ax = fig.add_subplot(1, 1, 1)
    if confirmed:
        labels = [f"{c['trial_id']} {c['candidate']}" for c in confirmed]
        mean = [_num(c["dm_test_mean"]) for c in confirmed]
        low = [_num(c["dm_test_low"]) for c in confirmed]
        high = [_num(c["dm_test_high"]) for c in confirmed]
        err = [
            [0.0 if math.isnan(lo) else m - lo for m, lo in zip(mean, low)],
            [0.0 if math.isnan(hi) else hi - m for m, hi in zip(mean, high)],
        ]
        y = list(range(len(labels)))
        ax.barh(y, mean, xerr=err, color="tab:blue", capsize=4, label="Δm(test), mean over seeds")
        ax.set_title(f"confirmation: Δm(test) with its {100 * confirmed[0]['level']:.0f}% interval over seeds")
        data = [
            {
                "rank": c["rank"],
                "trial_id": c["trial_id"],
                "candidate": c["candidate"],
                "dm_val_mean": c["dm_val_mean"],
                "dm_test_mean": c["dm_test_mean"],
                "dm_test_low": c["dm_test_low"],
                "dm_test_high": c["dm_test_high"],
                "seeds": len(c["seeds"]),
                "verdict": c["verdict"],
            }
            for c in confirmed
        ]
    else:
        shown = rows[:top]
        labels = [f"{r['trial_id']} {candidate_label(r)}" for r in shown]
        y = list(range(len(labels)))
        ax.barh([i - 0.2 for i in y], [_num(r[DM_VAL]) for r in shown], height=0.4, color="tab:blue", label="Δm(val)")
        ax.barh([i + 0.2 for i in y], [_num(r[DM_TEST]) for r in shown], height=0.4, color="tab:orange", label="Δm(test)")
        ax.set_title(f"the {len(shown)} best trials by Δm(val) (no confirmation: one seed each)")
        data = [
            {"rank": i + 1, "trial_id": r["trial_id"], "candidate": candidate_label(r), DM_VAL: r[DM_VAL], DM_TEST: r[DM_TEST]}
            for i, r in enumerate(shown)
        ]
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("Δm vs STL (%)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return Figure(_png(fig), data)


PARTIAL_STYLE = {"color": "tab:grey", "marker": "x", "label": "ASHA-stopped or unfinished (partial budget: off the set)"}


def cost_figure(rows: list[dict]) -> Figure:
    """Δm(val) against training cost (worker·s), the Pareto set (max Δm, min cost, among the trials that trained
    the full budget: :mod:`mtlsearch.report.pareto`) marked; ASHA-stopped trials (a partial budget's cost) apart."""
    front = pareto_set(rows)
    fig = _figure(8.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    full = [r for r in rows if on_full_budget(r)]
    partial = [r for r in rows if not on_full_budget(r)]
    for shown, style in ((full, {"color": "tab:grey", "label": "trial (full budget)"}), (partial, PARTIAL_STYLE)):
        if shown:
            ax.scatter([_num(r[COST]) for r in shown], [_num(r[DM_VAL]) for r in shown], alpha=0.7, **style)
    on = sorted((r for r in rows if r["trial_id"] in front), key=lambda r: (r[COST], r[DM_VAL]))
    if on:
        ax.plot([r[COST] for r in on], [r[DM_VAL] for r in on], "o-", color="tab:red", label="Pareto set", drawstyle="steps-post")
        for r in on:
            ax.annotate(r["trial_id"], (r[COST], r[DM_VAL]), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("training cost (worker·s)")
    ax.set_ylabel("Δm(val) (%)")
    ax.set_title("Δm(val) against training cost")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    data = [
        {
            "trial_id": r["trial_id"],
            "candidate": candidate_label(r),
            COST: r[COST],
            DM_VAL: r[DM_VAL],
            "status": r["status"],
            PARETO: r["trial_id"] in front,
        }
        for r in rows
    ]
    return Figure(_png(fig), data)


def asha_rungs(scheduler: dict | None, epochs: int | None) -> list[int]:
    """The epochs at which ASHA compares trials (Ray's ``ASHAScheduler`` with ``time_attr="epoch"``, ``max_t`` the
    spec's epochs): ``grace_period · reduction_factor^k`` up to ``max_t``; none when the scheduler is off or unknown."""
    if not scheduler or not scheduler.get("enabled") or not epochs:
        return []
    grace = min(int(scheduler.get("grace_period", 1)), epochs)
    rf = float(scheduler.get("reduction_factor", 4.0))
    if grace < 1 or rf <= 1:
        return []
    count = int(math.log(epochs / grace) / math.log(rf) + 1)  # as Ray computes MAX_RUNGS
    return sorted({int(round(grace * rf**k)) for k in range(count)})


def learning_curves_figure(curves: dict[str, list[tuple[int, float]]], stopped: set[str], rungs: list[int] = ()) -> Figure:
    """Δm(val) per trial over epochs; a trial stopped early (ASHA) ends in a red cross, ASHA's rungs are dotted lines."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(8.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for i, rung in enumerate(rungs):
        ax.axvline(rung, color="tab:grey", linestyle=":", linewidth=1, label=None if i else "ASHA rung")
    data = []
    marked = False
    for trial, points in sorted(curves.items()):
        xs = [e for e, _ in points]
        ys = [_num(d) for _, d in points]
        ax.plot(xs, ys, marker=".", linewidth=1, alpha=0.8)
        if trial in stopped and points:
            ax.plot([xs[-1]], [ys[-1]], "x", color="tab:red", markersize=9, mew=2, label=None if marked else "stopped early")
            marked = True
        data += [{"trial_id": trial, "epoch": e, DM_VAL: d, "stopped_early": trial in stopped} for e, d in points]
    ax.set_xlabel("epoch")
    ax.set_ylabel("Δm(val) (%)")
    ax.set_title(f"learning curves of {len(curves)} trial(s)")
    ax.grid(True, alpha=0.3)
    if marked or rungs:
        ax.legend(loc="lower right", fontsize=8)
    return Figure(_png(fig), data)


def per_task_figure(top: list[dict], baselines: dict, metrics: dict[str, str]) -> Figure:
    """Each task's test score of the top candidates beside its STL baseline; thresholds in the data where stored."""
    tasks = sorted({t for r in top for t in r["tasks"]})
    fig = _figure(max(6.0, 0.9 * len(tasks) + 3.0), 4.5)
    ax = fig.add_subplot(1, 1, 1)
    series = [("STL", {t: baselines.get(t, {}) for t in tasks})] + [
        (f"#{i + 1} {r['trial_id']}", r["tasks"]) for i, r in enumerate(top)
    ]
    width = 0.8 / len(series)
    for s, (name, scores) in enumerate(series):
        xs = [i - 0.4 + width * (s + 0.5) for i in range(len(tasks))]
        ax.bar(xs, [_num(scores.get(t, {}).get("test")) for t in tasks], width=width, label=name)
    ax.set_xticks(range(len(tasks)))
    ax.set_xticklabels([f"{t}\n({metrics.get(t, '')})" for t in tasks], fontsize=8)
    ax.set_ylabel("test score")
    ax.set_title("per-task test scores of the top candidates against STL")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    data = []
    for t in tasks:
        row: dict = {
            "task": t,
            "metric": metrics.get(t, ""),
            "stl_val": baselines.get(t, {}).get("val"),
            "stl_test": baselines.get(t, {}).get("test"),
        }
        for i, r in enumerate(top):
            row[f"top{i + 1}_val"] = r["tasks"].get(t, {}).get("val")
            row[f"top{i + 1}_test"] = r["tasks"].get(t, {}).get("test")
            threshold = r.get("task_extra", {}).get(t, {}).get("threshold", {})
            row[f"top{i + 1}_threshold"] = threshold.get("val", threshold.get("test"))
        data.append(row)
    return Figure(_png(fig), data)


def importance_figure(importances: dict[str, float]) -> Figure:
    """The parameters' importances for Δm(val), most important on top."""
    names = list(importances)
    fig = _figure(7.0, 0.35 * max(len(names), 3) + 1.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(range(len(names)), [importances[n] for n in names], color="tab:green")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("importance for Δm(val) (sums to 1)")
    ax.set_title("parameter importances")
    ax.grid(True, axis="x", alpha=0.3)
    return Figure(_png(fig), [{"parameter": n, "importance": v} for n, v in importances.items()])
