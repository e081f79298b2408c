"""Planted-group data from generators that are not the project's own (``loader: synthetic``).

A grouping method tuned on one generator must be checked on others. Each
generator here draws a multitask dataset with known task groups, shaped unlike
``mtlsearch/data/synthetic.py``. Group sizes are unequal, with 8-20 tasks, 20-200
features and positive rates 0.1-0.5. Task names are opaque random strings, shuffled
across groups. There are binary and 3-class tasks. One more generator has no group
structure at all. Each writes a canonical table (``mtlsearch.data.canonical``)
with the planted groups in its metadata.

* ``linear``: every group has a weight vector on the features; task ``t`` of
  group ``g`` labels ``x · (w_g + 0.3 r_t) + ε`` by a quantile cut (a logistic
  factor model).
* ``nonlinear``: every group has its own random one-hidden-layer tanh network on
  a random half of the features; a task reads its group's direction of those
  hidden units, perturbed by 0.3 of its own.
* ``sparse``: every group reads a disjoint sparse set of features through a
  product of two of them (an interaction no single feature shows) and their
  mean, with heavy-tailed (Laplace) inputs; each task adds 0.3 of one feature
  of the set.
* ``independent``: every task reads its own random direction; there are no
  groups (the planted "groups" are singletons).
"""

from __future__ import annotations

import hashlib
import string
from pathlib import Path

import numpy as np

from mtlsearch.data.canonical import DatasetInfo, TaskInfo, build_table, write_table

GENERATORS = ("linear", "nonlinear", "sparse", "independent")


def _names(rng: np.random.Generator, t: int) -> list[str]:
    letters = np.array(list(string.ascii_lowercase))
    out: set[str] = set()
    while len(out) < t:
        out.add("".join(rng.choice(letters, 6)))
    return sorted(out)  # sorted names: their order says nothing about the (shuffled) groups


def _sizes(rng: np.random.Generator, t: int, g: int) -> list[int]:
    """``g`` unequal group sizes summing to ``t``, each at least 2 (the rest dealt by a skewed Dirichlet draw)."""
    return (2 + rng.multinomial(t - 2 * g, rng.dirichlet(np.full(g, 0.7)))).tolist()


def _labels(score: np.ndarray, rng: np.random.Generator, multiclass: bool) -> np.ndarray:
    if multiclass:
        q = np.sort(rng.uniform(0.25, 0.75, 2))
        return np.digitize(score, np.quantile(score, q)).astype(np.int64)
    rate = rng.uniform(0.1, 0.5)
    return (score > np.quantile(score, 1 - rate)).astype(np.int64)


def generate(kind: str, seed: int, root: Path, num_samples: int = 3000) -> Path:
    """Draw one dataset of generator ``kind`` (seeded) and write its canonical table under ``root``; return its path."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown generator {kind!r}; expected one of {GENERATORS}")
    rng = np.random.default_rng([GENERATORS.index(kind), seed])
    t = int(rng.integers(8, 21))
    d = int(rng.integers(20, 201))
    if kind == "independent":
        sizes = [1] * t
    else:
        g = int(rng.integers(2, min(5, t // 2) + 1))
        sizes = _sizes(rng, t, g)
    x = rng.laplace(size=(num_samples, d)) if kind == "sparse" else rng.standard_normal((num_samples, d))
    group_of = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    scores = np.zeros((num_samples, t))
    if kind in ("linear", "independent"):
        w = rng.standard_normal((len(sizes), d)) / np.sqrt(d)
        for i in range(t):
            v = w[group_of[i]] + (0.3 if kind == "linear" else 0.0) * rng.standard_normal(d) / np.sqrt(d)
            scores[:, i] = x @ v
    elif kind == "nonlinear":
        hidden = []
        for _ in sizes:
            cols = rng.choice(d, d // 2, replace=False)
            w1 = rng.standard_normal((len(cols), 16)) / np.sqrt(len(cols))
            hidden.append(np.tanh(x[:, cols] @ w1 * 2.0))
        directions = rng.standard_normal((len(sizes), 16))
        for i in range(t):
            h = hidden[group_of[i]]
            scores[:, i] = h @ (directions[group_of[i]] + 0.3 * rng.standard_normal(16))
    else:  # sparse interactions on disjoint feature sets
        features = rng.permutation(d)
        per = max(4, d // (2 * len(sizes)))
        sets = [features[j * per : (j + 1) * per] for j in range(len(sizes))]
        pairs = [rng.choice(len(s), 2, replace=False) for s in sets]
        for i in range(t):
            s, (a, b) = sets[group_of[i]], pairs[group_of[i]]
            scores[:, i] = x[:, s[a]] * x[:, s[b]] + x[:, s].mean(axis=1) + 0.3 * x[:, rng.choice(s)]
    scores += 0.3 * scores.std(axis=0) * rng.standard_normal(scores.shape)
    names = _names(rng, t)
    multiclass = set(rng.choice(t, int(rng.integers(0, 3)), replace=False).tolist())
    labels, tasks = {}, []
    for i, name in enumerate(names):
        y = _labels(scores[:, i], rng, i in multiclass)
        labels[name] = y
        classes = ("a", "b", "c") if i in multiclass else ("neg", "pos")
        tasks.append(
            TaskInfo(
                name=name,
                kind="multiclass" if i in multiclass else "binary",
                classes=classes,
                metric="macro_f1" if i in multiclass else "f1",
            )
        )
    planted = tuple(tuple(names[i] for i in range(t) if group_of[i] == g) for g in range(len(sizes)))
    split = rng.permutation(
        np.array(
            ["train"] * int(0.7 * num_samples)
            + ["val"] * int(0.15 * num_samples)
            + ["test"] * (num_samples - int(0.7 * num_samples) - int(0.15 * num_samples))
        )
    )
    fingerprint = hashlib.sha256(f"{kind}-{seed}-{num_samples}".encode()).hexdigest()[:16]
    info = DatasetInfo(
        name=f"{kind}-seed{seed}",
        tasks=tuple(tasks),
        input_column="x",
        input_dim=d,
        fingerprint=fingerprint,
        planted_groups=planted,
        extra={"generator": kind},
    )
    path = Path(root) / f"{kind}-{seed}.parquet"
    write_table(build_table(info, [f"r{i:06d}" for i in range(num_samples)], split.tolist(), x, labels), path)
    return path
