"""The ``embedding`` grouping method (MTLV label-embedding clustering) and its ``Options``."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from mtlsearch.errors import MtlsearchError
from mtlsearch.grouping.methods import GROUPING_METHODS, Artifact, GroupingInputs, GroupingMethod
from mtlsearch.plugins import PluginOptions

log = logging.getLogger(__name__)


class EmbeddingOptions(PluginOptions):
    """MTLV label-embedding clustering settings."""

    encoder: str | None = Field(None, description="Hugging Face id or local path; default: the bundled all-MiniLM-L6-v2")
    text: Literal["name", "description"] = "name"
    metric: Literal["euclidean", "cosine"] = "euclidean"
    max_length: int = Field(128, ge=8)
    k_max: int = Field(10, ge=2, description="the elbow curve spans k = 1..k_max (capped at the number of tasks)")


@GROUPING_METHODS.register
class EmbeddingClustering(GroupingMethod):
    """MTLV (``../shared/papers/mtlv_thesis.txt``, §3.5): embed each task's name or
    description with a BERT-family encoder (mean of the last layer's token
    embeddings), cluster the embeddings with k-medoids; the elbow curve of the
    k-medoids loss over k suggests k."""

    name = "embedding"
    overlapping_groups = False  # k-medoids assigns each task to one medoid: a partition
    Options = EmbeddingOptions
    options_key = "embedding"
    plot_file = "elbow.png"

    def texts(self, inputs: GroupingInputs) -> list[str]:
        cfg = self.options(inputs)
        if cfg.text == "name":
            return [t.title or t.name for t in inputs.info.tasks]
        overrides = inputs.spec.dataset.descriptions
        return [overrides.get(t.name) or t.description for t in inputs.info.tasks]

    def settings(self, inputs: GroupingInputs) -> dict:
        cfg = self.options(inputs)
        return {**cfg.model_dump(), "texts": self.texts(inputs), "seed": inputs.spec.seed}

    def compute(self, inputs: GroupingInputs) -> tuple[np.ndarray, dict]:
        from mtlsearch.grouping.embedding import elbow_curve, embed_texts
        from mtlsearch.pretrained import resolve_encoder

        cfg = self.options(inputs)
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
