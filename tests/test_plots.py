"""PNG plots of grouping artifacts: elbow curve and affinity heatmap."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from mtlsearch.grouping.embedding import ElbowCurve
from mtlsearch.grouping.plots import _group_order, _runs, plot_affinity_heatmap, plot_elbow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_elbow_writes_png(tmp_path):
    curve = ElbowCurve(ks=[1, 2, 3, 4, 5, 6], losses=[100.0, 40.0, 10.0, 8.0, 7.0, 6.0], suggested_k=3)
    out = plot_elbow(curve, tmp_path / "sub" / "elbow.png", title="k-medoids elbow (euclidean, task names)")
    assert out == tmp_path / "sub" / "elbow.png"
    w, h = _png_size(out)
    assert w > 200 and h > 150
    assert [p.name for p in out.parent.iterdir()] == ["elbow.png"]  # no temporary file left behind


def test_plot_elbow_rejects_mismatched_curve(tmp_path):
    with pytest.raises(ValueError):
        plot_elbow(ElbowCurve(ks=[1, 2], losses=[1.0], suggested_k=1), tmp_path / "e.png")
    assert not (tmp_path / "e.png").exists()


def _matrix(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, 0.05, (n, n))
    np.fill_diagonal(m, np.nan)  # self-affinity undefined: drawn grey
    return m


@pytest.mark.parametrize("groups", [None, [["t3", "t0"], ["t1", "t4", "t5"], ["t2"]]])
def test_heatmap_writes_png(tmp_path, groups):
    names = [f"t{i}" for i in range(6)]
    out = plot_affinity_heatmap(_matrix(6), names, tmp_path / "heatmap.png", title="lookahead affinity", groups=groups)
    w, h = _png_size(out)
    assert w > 200 and h > 200


def test_heatmap_many_tasks_and_overlapping_groups(tmp_path):
    names = [f"C{i:02d}" for i in range(1, 24)]
    groups = [names[:10], names[8:16], names[16:]]  # overlapping (C09, C10 in two groups)
    out = plot_affinity_heatmap(_matrix(23, 1), names, tmp_path / "big.png", groups=groups)
    _png_size(out)


def test_heatmap_group_order():
    names = ["a", "b", "c", "d", "e"]
    order, blocks = _group_order(names, [["d", "b"], ["a"]])
    assert order == [3, 1, 0, 2, 4]  # groups first, in group order; ungrouped tasks last
    assert blocks == [[0, 1], [2]]
    assert _runs([0, 1, 2, 5, 6, 9]) == [(0, 3), (5, 2), (9, 1)]


def test_heatmap_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="3×3"):
        plot_affinity_heatmap(np.zeros((2, 2)), ["a", "b", "c"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="not one of the task names"):
        plot_affinity_heatmap(np.zeros((2, 2)), ["a", "b"], tmp_path / "x.png", groups=[["a", "z"]])


def test_heatmap_all_zero_matrix(tmp_path):
    _png_size(plot_affinity_heatmap(np.zeros((3, 3)), ["a", "b", "c"], tmp_path / "z.png"))
