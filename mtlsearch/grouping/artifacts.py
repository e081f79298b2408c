"""The grouping methods' artifacts in the results store: matrices and selections computed once, then reused.

Stored under ``groupings/<method>-<fingerprint>/``
(:meth:`~mtlsearch.grouping.methods.GroupingMethod.artifact_id`): the matrix
with its plot, and each selection of k groups. :func:`search_groupings` gives
a search every computed grouping it may sample before it starts.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from mtlsearch.errors import MtlsearchError
from mtlsearch.grouping.methods import Artifact, GroupingInputs, GroupingMethod, Selection, computed_key, get_method
from mtlsearch.store.atomic import atomic_write_bytes
from mtlsearch.store.results import ResultsStore

log = logging.getLogger(__name__)


def get_artifact(method: GroupingMethod, inputs: GroupingInputs, store: ResultsStore) -> Artifact:
    """The method's matrix for this dataset and settings: read from the store, or computed and stored once."""
    artifact_id = method.artifact_id(inputs)
    stored = store.groupings.read_matrix(artifact_id)
    if stored is not None:
        names, rows, meta = stored
        log.info(f"grouping: reusing stored {method.name} matrix {artifact_id}")
        _log_reliability(method, meta)
        return Artifact(artifact_id, method.name, names, np.asarray(rows, dtype=np.float64), meta)
    matrix, meta = method.compute(inputs)
    _log_reliability(method, meta)
    meta = {**meta, "method": method.name, "settings": method.settings(inputs), "dataset": inputs.info.fingerprint}
    artifact = Artifact(artifact_id, method.name, list(inputs.task_names), np.asarray(matrix, dtype=np.float64), meta)
    with tempfile.TemporaryDirectory() as d:  # plot first: a matrix on disk always has its plot
        png = Path(d) / method.plot_file
        method.plot(artifact, png)
        atomic_write_bytes(png.read_bytes(), store.groupings.uri(artifact_id, method.plot_file))
    store.groupings.write_matrix(artifact_id, artifact.task_names, artifact.matrix, meta)
    return artifact


def _log_reliability(method: GroupingMethod, meta: dict) -> None:
    """The matrix's reliability (affinity methods), and a warning when it is low."""
    rel = meta.get("reliability")
    if not rel:
        return
    log.info(f"grouping: {method.name} reliability: {method.describe_reliability(rel)}")
    warning = method.reliability_warning(rel)
    if warning:
        log.warning(warning)


def get_selection(
    method: GroupingMethod, artifact: Artifact, k: int, store: ResultsStore, seed: int, overlapping: bool = False
) -> Selection:
    """k groups from an artifact: read from the store, or selected and stored once."""
    if not 1 <= k <= len(artifact.task_names):
        raise MtlsearchError(f"k must be between 1 and the number of tasks ({len(artifact.task_names)}), got {k}")
    selection_id = f"k={k}" + ("-overlapping" if overlapping else "") + f"-seed={seed}"
    stored = store.groupings.read_selection(artifact.artifact_id, selection_id)
    if stored is not None:
        groups, meta = stored
        return Selection(groups, k, overlapping, meta)
    groups, meta = method.select(artifact, k, overlapping, seed)
    store.groupings.write_selection(artifact.artifact_id, selection_id, groups, meta)
    return Selection(groups, k, overlapping, meta)


def search_groupings(inputs: GroupingInputs, store: ResultsStore, experiment: str) -> dict[str, list[list[str]]]:
    """Every computed grouping the spec's search may sample, keyed by :func:`computed_key`.

    Computed (or read from the store) before the search starts, so trials only
    look their groups up. Each method's plot is copied into the experiment's
    ``artifacts/`` folder.
    """
    from mtlsearch.store.atomic import read_bytes

    space = inputs.spec.search.space.grouping_space()
    if space is None:
        return {}
    out: dict[str, list[list[str]]] = {}
    for name in space.computed_methods():
        method = get_method(name)
        artifact = get_artifact(method, inputs, store)
        png = read_bytes(store.groupings.uri(artifact.artifact_id, method.plot_file))
        if png is not None:
            atomic_write_bytes(png, store.experiment_uri(experiment, "artifacts", f"{name}-{method.plot_file}"))
        for k in space.k_values():
            for overlapping in space.overlapping_values(name):
                selection = get_selection(method, artifact, k, store, seed=inputs.spec.seed, overlapping=overlapping)
                out[computed_key(name, k, overlapping)] = selection.groups
                label = f"{name} k={k}" + (" overlapping" if overlapping else "")
                log.info(f"grouping: {label}: " + " | ".join(", ".join(g) for g in selection.groups))
    return out
