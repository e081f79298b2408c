"""Grouping methods behind one small interface, and their artifacts in the results store.

A method turns a dataset's tasks into a matrix once (task embeddings, or a
task-affinity matrix) and selects k groups from it. Matrices and selections are
stored under ``groupings/<method>-<fingerprint>/`` in the results store, the
fingerprint covering everything they depend on (dataset, encoder or training
budget, settings, seed), so a later launch or ``mtlsearch groups`` reuses them:
an affinity run is paid once per dataset, model and budget.

===================  ==================================================  ============================
method               matrix                                              groups for k
===================  ==================================================  ============================
``embedding``        task-name or description embeddings (MTLV)          k-medoids (FasterPAM)
``affinity``         TAG lookahead affinity Z_{i→j} (Fifty et al. 2021)  :func:`select_groups`
``gradient_cosine``  cosine of per-task gradients on shared parameters   :func:`select_groups`
===================  ==================================================  ============================
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from mtlsearch.data.canonical import DatasetInfo
from mtlsearch.errors import MtlsearchError
from mtlsearch.grouping.reliability import RELIABILITY_RULE
from mtlsearch.spec import Spec
from mtlsearch.store.atomic import atomic_write_bytes
from mtlsearch.store.results import ResultsStore

log = logging.getLogger(__name__)


@dataclass
class GroupingInputs:
    """What a method may depend on: the spec's settings and the prepared dataset."""

    spec: Spec
    info: DatasetInfo
    dataset_path: str
    dataset_uri: str | None = None  # the table in a remote store, for nodes without dataset_path

    @property
    def task_names(self) -> list[str]:
        return self.info.task_names


@dataclass
class Artifact:
    """A method's matrix over the tasks (rows in ``task_names`` order) and its metadata."""

    artifact_id: str
    method: str
    task_names: list[str]
    matrix: np.ndarray
    meta: dict


@dataclass
class Selection:
    """k groups of task names chosen from an artifact."""

    groups: list[list[str]]
    k: int
    overlapping: bool
    meta: dict


class GroupingMethod(ABC):
    """One grouping method: settings → matrix (stored) → groups for a given k."""

    name: ClassVar[str]
    plot_file: ClassVar[str]

    @abstractmethod
    def settings(self, inputs: GroupingInputs) -> dict:
        """Everything besides the dataset that the matrix depends on (goes into its fingerprint)."""

    @abstractmethod
    def compute(self, inputs: GroupingInputs) -> tuple[np.ndarray, dict]:
        """The matrix (one row per task, in ``inputs.task_names`` order) and metadata to store with it."""

    @abstractmethod
    def select(self, artifact: Artifact, k: int, overlapping: bool, seed: int) -> tuple[list[list[str]], dict]:
        """k groups of task names, and metadata of the selection (its score, cost, ...)."""

    @abstractmethod
    def plot(self, artifact: Artifact, path: Path) -> None:
        """Write the artifact's PNG (elbow curve or affinity heatmap) to ``path``."""

    def artifact_id(self, inputs: GroupingInputs) -> str:
        payload = json.dumps(
            {"dataset": inputs.info.fingerprint, "method": self.name, "settings": self.settings(inputs)}, sort_keys=True
        )
        return f"{self.name}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


GROUPING_METHODS: dict[str, GroupingMethod] = {}


def register(cls: type[GroupingMethod]) -> type[GroupingMethod]:
    GROUPING_METHODS[cls.name] = cls()
    return cls


def get_method(name: str) -> GroupingMethod:
    if name not in GROUPING_METHODS:
        raise MtlsearchError(f"unknown grouping method {name!r}; expected one of {sorted(GROUPING_METHODS)}")
    return GROUPING_METHODS[name]


# --- embedding clustering (MTLV) ---------------------------------------------------


@register
class EmbeddingClustering(GroupingMethod):
    """MTLV (``../shared/papers/mtlv_thesis.txt``, §3.5): embed each task's name or
    description with a BERT-family encoder (mean of the last layer's token
    embeddings), cluster the embeddings with k-medoids; the elbow curve of the
    k-medoids loss over k suggests k."""

    name = "embedding"
    plot_file = "elbow.png"

    def texts(self, inputs: GroupingInputs) -> list[str]:
        cfg = inputs.spec.grouping_methods.embedding
        if cfg.text == "name":
            return [t.title or t.name for t in inputs.info.tasks]
        overrides = inputs.spec.dataset.descriptions
        return [overrides.get(t.name) or t.description for t in inputs.info.tasks]

    def settings(self, inputs: GroupingInputs) -> dict:
        cfg = inputs.spec.grouping_methods.embedding
        return {**cfg.model_dump(), "texts": self.texts(inputs), "seed": inputs.spec.seed}

    def compute(self, inputs: GroupingInputs) -> tuple[np.ndarray, dict]:
        from mtlsearch.grouping.embedding import elbow_curve, embed_texts
        from mtlsearch.pretrained import resolve_encoder

        cfg = inputs.spec.grouping_methods.embedding
        log.info(
            f"grouping: embedding {len(inputs.task_names)} task {cfg.text}s with {cfg.encoder or 'all-MiniLM-L6-v2 (bundled)'}"
        )
        t0 = time.perf_counter()
        emb = embed_texts(self.texts(inputs), encoder=resolve_encoder(cfg.encoder), max_length=cfg.max_length)
        k_max = min(cfg.k_max, len(inputs.task_names))
        curve = elbow_curve(emb, 1, k_max, metric=cfg.metric, seed=inputs.spec.seed)
        meta = {
            "elbow": {"ks": list(curve.ks), "losses": [float(x) for x in curve.losses], "suggested_k": int(curve.suggested_k)},
            "seconds": time.perf_counter() - t0,
        }
        return emb, meta

    def select(self, artifact: Artifact, k: int, overlapping: bool, seed: int) -> tuple[list[list[str]], dict]:
        from mtlsearch.grouping.embedding import cluster_tasks, groups_from_labels

        if overlapping:
            raise MtlsearchError(
                "overlapping groups come from an affinity matrix (affinity, gradient_cosine), not from k-medoids"
            )
        metric = artifact.meta["settings"]["metric"]
        clustering = cluster_tasks(artifact.matrix, k, metric=metric, seed=seed)
        medoids = [artifact.task_names[i] for i in clustering.medoids]
        return groups_from_labels(clustering.labels, artifact.task_names), {"loss": float(clustering.loss), "medoids": medoids}

    def plot(self, artifact: Artifact, path: Path) -> None:
        from mtlsearch.grouping.embedding import ElbowCurve
        from mtlsearch.grouping.plots import plot_elbow

        e = artifact.meta["elbow"]
        plot_elbow(
            ElbowCurve(ks=e["ks"], losses=e["losses"], suggested_k=e["suggested_k"]),
            path,
            title=f"k-medoids elbow ({artifact.meta['settings']['metric']}, task {artifact.meta['settings']['text']}s)",
        )


# --- task affinity (TAG) -----------------------------------------------------------


class _AffinityMethod(GroupingMethod):
    """Affinity matrices from one short all-task training run; groups by :func:`select_groups`."""

    kind: ClassVar[str]
    plot_file = "heatmap.png"

    def settings(self, inputs: GroupingInputs) -> dict:
        spec = inputs.spec
        t = spec.train
        return {
            "kind": self.kind,
            **spec.grouping_methods.affinity.model_dump(),
            "encoder": (spec.grouping_methods.affinity.encoder or spec.model.encoder).model_dump(),
            "batch_size": t.batch_size,
            "lr": t.lr,
            "weight_decay": t.weight_decay,
            "optimizer": t.optimizer,
            "seed": spec.seed,
            "reliability_rule": RELIABILITY_RULE,
        }

    def compute(self, inputs: GroupingInputs) -> tuple[np.ndarray, dict]:
        from mtlsearch.grouping.affinity import compute_affinity
        from mtlsearch.models.plan import make_plan
        from mtlsearch.train.executor import on_cluster
        from mtlsearch.train.job import TrainJob

        spec, cfg = inputs.spec, inputs.spec.grouping_methods.affinity
        epochs = cfg.epochs
        how = (
            f"until the mean transfer turns negative, at most {epochs} epoch(s)"
            if cfg.length == "calibrated"
            else f"{epochs} epoch(s)"
        )
        log.info(
            f"grouping: measuring {self.kind} affinity of {len(inputs.task_names)} tasks "
            f"(all-task training {how}; every {cfg.every_steps} steps)"
        )
        job = TrainJob(
            dataset_path=inputs.dataset_path,
            tasks=[asdict(t) for t in inputs.info.tasks],
            plan=make_plan("MTL", inputs.task_names).to_dict(),
            encoder=(cfg.encoder or spec.model.encoder).model_dump(),
            epochs=epochs,
            batch_size=spec.train.batch_size,
            lr=spec.train.lr,
            weight_decay=spec.train.weight_decay,
            optimizer=spec.train.optimizer,
            seed=spec.seed,
            torch_threads=spec.train.threads,
            use_gpu=spec.train.gpus_per_worker > 0,
            dataset_uri=inputs.dataset_uri,
            plugins=spec.plugins,
        )
        # on the cluster, holding one worker (a Ray task) during a search; in this process for `mtlsearch groups`
        result = on_cluster(
            compute_affinity,
            spec.train,
            job,
            self.kind,
            cfg.every_steps,
            epochs,
            cfg.lookahead_lr,
            None,
            cfg.length == "calibrated",
        )
        if result.task_names != inputs.task_names:
            order = [result.task_names.index(n) for n in inputs.task_names]
            matrix = result.matrix[np.ix_(order, order)]
        else:
            matrix = result.matrix
        log.info(f"grouping: {self.kind} affinity measured on {result.steps_measured} steps in {result.seconds:.1f} s")
        return matrix, {"steps_measured": result.steps_measured, "seconds": result.seconds, "reliability": result.reliability}

    def select(self, artifact: Artifact, k: int, overlapping: bool, seed: int) -> tuple[list[list[str]], dict]:
        from mtlsearch.grouping.selection import select_groups

        t0 = time.perf_counter()
        sel = select_groups(artifact.matrix, k, overlapping=overlapping, seed=seed)
        groups = [[artifact.task_names[i] for i in g] for g in sel.groups]
        return groups, {"score": float(sel.score), "search": sel.method, "seconds": time.perf_counter() - t0}

    def plot(self, artifact: Artifact, path: Path) -> None:
        from mtlsearch.grouping.plots import plot_affinity_heatmap
        from mtlsearch.grouping.reliability import describe

        rel = artifact.meta.get("reliability")
        title = f"{self.kind} affinity (row i → column j)" + (f"\n{describe(rel, short=True)}" if rel else "")
        plot_affinity_heatmap(artifact.matrix, artifact.task_names, path, title=title)


@register
class LookaheadAffinity(_AffinityMethod):
    """TAG (Fifty et al., NeurIPS 2021): Z_{i→j} = 1 − L_j(θ′_{s|i}) / L_j(θ_s) after a lookahead SGD step on L_i."""

    name = "affinity"
    kind = "lookahead"


@register
class GradientCosineAffinity(_AffinityMethod):
    """cos(∇_{θ_s} L_i, ∇_{θ_s} L_j) of per-task gradients on the shared encoder, averaged over the measured steps."""

    name = "gradient_cosine"
    kind = "gradient_cosine"


# --- the store-backed entry points --------------------------------------------------


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
    from mtlsearch.grouping.reliability import describe, reliability_warning

    rel = meta.get("reliability")
    if not rel:
        return
    log.info(f"grouping: {method.name} reliability: {describe(rel)}")
    warning = reliability_warning(method.name, rel)
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


def computed_key(method: str, k: int) -> str:
    """Key of a computed grouping in :func:`search_groupings`' answer (the search context's ``computed_groups``)."""
    return f"{method}/k={k}"


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
            selection = get_selection(method, artifact, k, store, seed=inputs.spec.seed)
            out[computed_key(name, k)] = selection.groups
            log.info(f"grouping: {name} k={k}: " + " | ".join(", ".join(g) for g in selection.groups))
    return out
