"""PNG plots of grouping artifacts: the MTLV elbow curve and task-affinity heatmaps.

Drawn with matplotlib's object-oriented API on the Agg canvas (no display, no
pyplot global state, so safe in workers and threads); matplotlib is imported
only when a plot is drawn. Each function writes the PNG to a hidden temporary
file next to ``path`` and renames it into place, so ``path`` never holds a
half-written image; where the file finally lives (results store, object store)
is the caller's business.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mtlsearch.grouping.embedding import ElbowCurve


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        fig.savefig(tmp, format="png", bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def plot_elbow(curve: "ElbowCurve", path, title: str = "") -> Path:
    """The k-medoids loss against k (MTLV's elbow plot), the suggested k marked. Returns ``path``."""
    ks = [int(k) for k in curve.ks]
    losses = [float(x) for x in curve.losses]
    if not ks or len(ks) != len(losses):
        raise ValueError("an elbow curve needs as many losses as ks, and at least one")
    fig = _new_figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(ks, losses, marker="o", color="tab:blue", label="k-medoids loss")
    if curve.suggested_k in ks:
        i = ks.index(curve.suggested_k)
        ax.axvline(ks[i], color="tab:red", linestyle="--", linewidth=1)
        ax.plot(
            [ks[i]],
            [losses[i]],
            marker="o",
            markersize=11,
            markerfacecolor="none",
            markeredgecolor="tab:red",
            markeredgewidth=2,
            linestyle="none",
            label=f"suggested k = {ks[i]}",
        )
    ax.set_xticks(ks)
    ax.set_xlabel("number of groups k")
    ax.set_ylabel("sum of distances to medoids")
    ax.set_title(title or "elbow curve")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    return _save(fig, path)


def _group_order(names: list[str], groups: list[list[str]]) -> tuple[list[int], list[list[int]]]:
    """Task order with each group's tasks together (in group order; tasks in no group last),
    and each group's positions in that order."""
    index = {n: i for i, n in enumerate(names)}
    order: list[int] = []
    seen: set[int] = set()
    for g in groups:
        for n in g:
            if n not in index:
                raise ValueError(f"group member {n!r} is not one of the task names")
            if index[n] not in seen:
                seen.add(index[n])
                order.append(index[n])
    order += [i for i in range(len(names)) if i not in seen]
    pos = {t: p for p, t in enumerate(order)}
    return order, [sorted(pos[index[n]] for n in g) for g in groups]


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs ``(start, length)`` of sorted positions."""
    runs: list[tuple[int, int]] = []
    for p in sorted(set(positions)):
        if runs and runs[-1][0] + runs[-1][1] == p:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((p, 1))
    return runs


def plot_affinity_heatmap(
    matrix: np.ndarray, names: list[str], path, title: str = "", groups: list[list[str]] | None = None
) -> Path:
    """A task-affinity matrix as a heatmap: row i = source task, column j = target task.

    Diverging colormap centred at 0 (symmetric limits ±max|value|; NaN cells
    grey), task names on both axes. With ``groups``, tasks are reordered so each
    group's tasks sit together and every group's block (rows and columns of its
    members) is outlined in its own colour; overlapping groups get one outline per
    contiguous block. Returns ``path``.
    """
    m = np.asarray(matrix, dtype=np.float64)
    names = [str(n) for n in names]
    n = len(names)
    if m.ndim != 2 or m.shape != (n, n):
        raise ValueError(f"affinity matrix must be {n}×{n} for {n} task names, got shape {m.shape}")
    order = list(range(n))
    blocks: list[list[int]] = []
    if groups:
        order, blocks = _group_order(names, groups)
    m = m[np.ix_(order, order)]
    labels = [names[i] for i in order]

    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    finite = m[np.isfinite(m)]
    vmax = float(np.abs(finite).max()) if finite.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    cmap = colormaps["RdBu_r"].with_extremes(bad="lightgrey")

    side = min(max(5.0, 0.38 * n + 3.0), 40.0)
    fig = _new_figure(side + 1.2, side)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    fontsize = 9 if n <= 20 else 7 if n <= 40 else 5
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(labels, rotation=90, fontsize=fontsize)
    ax.set_yticklabels(labels, fontsize=fontsize)
    ax.set_xlabel("target task j")
    ax.set_ylabel("source task i")
    if n <= 12:
        for i in range(n):
            for j in range(n):
                if np.isfinite(m[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{m[i, j]:.2g}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if abs(m[i, j]) > 0.6 * vmax else "black",
                    )
    palette = colormaps["tab10"]
    for g, positions in enumerate(blocks):
        color = palette(g % 10)
        runs = _runs(positions)
        for r0, rl in runs:
            for c0, cl in runs:
                ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), cl, rl, fill=False, edgecolor=color, linewidth=2.5))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="affinity (source i → target j)")
    ax.set_title(title or "task affinity")
    return _save(fig, path)
