"""Head coupling (mtlsearch/grouping/coupling.py): the measure, its stopping rule, its reliability, on planted groups
from a generator that is not the project's and on tasks with no group structure."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from conftest import REPO, all_task_job
from sklearn.metrics import adjusted_rand_score

from mtlsearch.data.canonical import read_info
from mtlsearch.grouping.coupling import (
    COUPLING_MIN,
    STABILITY_MIN,
    coupling_matrix,
    describe,
    head_basis,
    settled,
    warning,
)
from mtlsearch.grouping.methods import get_method

sys.path.insert(0, str(REPO / "benchmarks"))
from planted_generators import generate  # noqa: E402  (the benchmark's generators, not the project's)


def test_coupling_is_the_absolute_cosine_of_binary_heads_and_ignores_scale_and_sign():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((1, 16))
    other = rng.standard_normal((1, 16))
    c = coupling_matrix([w, -3.0 * w, other])
    assert c[0, 1] == pytest.approx(1.0)  # the negated task reads the same feature
    cos = abs(float(w[0] @ other[0]) / (np.linalg.norm(w) * np.linalg.norm(other)))
    assert c[0, 2] == pytest.approx(cos) and np.allclose(c, c.T) and np.allclose(np.diag(c), 1.0)


def test_a_multiclass_head_is_its_centred_row_space():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 16))
    shifted = w + rng.standard_normal(16)  # a logit added to every class changes no prediction
    assert head_basis(w).shape == (2, 16)
    np.testing.assert_allclose(coupling_matrix([w, shifted])[0, 1], 1.0, atol=1e-9)
    inside = (w[0] - w[1])[None, :]  # a binary head inside the multiclass head's span
    assert coupling_matrix([w, inside])[0, 1] == pytest.approx(1.0)


def test_the_run_settles_only_when_three_epochs_agree():
    rng = np.random.default_rng(2)
    base = rng.uniform(size=(6, 6))
    base = (base + base.T) / 2
    assert settled([base, base]) is None
    assert settled([base, base + 0.3 * rng.uniform(size=(6, 6)), base]) is None
    assert settled([base, base, base]) == pytest.approx(1.0) and STABILITY_MIN < 1.0


def test_planted_groups_of_another_generator_are_found_by_a_run_that_settles(tmp_path):
    """The benchmark's nonlinear generator (unequal groups, opaque names, 3-class tasks): settled, reliable, ARI 1."""
    from mtlsearch.grouping.coupling import compute_head_coupling
    from mtlsearch.grouping.selection import select_groups

    path = generate("nonlinear", 0, tmp_path)
    info = read_info(path)
    result = compute_head_coupling(all_task_job(path))
    rel = result.reliability
    assert rel["settled"] and rel["epochs_run"] < rel["epochs_cap"] and rel["stability"] >= STABILITY_MIN
    method = get_method("head_coupling")
    assert warning("head_coupling", rel) is None and method.reliability_warning(rel) is None
    k = len(info.planted_groups)
    assert max(v for v in rel["coupling"].values() if not math.isnan(v)) >= COUPLING_MIN
    planted = [next(g for g, grp in enumerate(info.planted_groups) if n in grp) for n in result.task_names]
    found = select_groups(result.matrix, k).groups
    labels = [next(g for g, grp in enumerate(found) if i in grp) for i in range(len(planted))]
    assert adjusted_rand_score(planted, labels) >= 0.9
    assert method.describe_reliability(rel) == describe(rel) and describe(rel).startswith(f"settled after {rel['epochs_run']} of")


def test_tasks_without_group_structure_get_the_warning(tmp_path):
    """Independent tasks (each reads its own direction): the heads stay nearly orthogonal, and the run says so."""
    from mtlsearch.grouping.coupling import compute_head_coupling

    path = generate("independent", 0, tmp_path)
    rel = compute_head_coupling(all_task_job(path)).reliability
    coupling = max(v for v in rel["coupling"].values() if not math.isnan(v))
    assert coupling < COUPLING_MIN or not rel["settled"]
    text = get_method("head_coupling").reliability_warning(rel)
    assert text is not None and "not reliable" in text and "embedding method" in text
