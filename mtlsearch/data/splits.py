"""Seeded splits of multi-label data by iterative stratification.

A random split of multi-label data leaves rare labels badly spread (a label
with 10 examples can end up with none in the test split); stratifying on the
label *sets* does not work either, as most label combinations occur once.
Iterative stratification (Sechidis, Tsoumakas & Vlahavas, "On the
Stratification of Multi-Label Data", ECML PKDD 2011, Algorithm 1) deals the
examples out greedily, rarest label first:

* each subset ``j`` wants ``c_j = r_j · n`` examples in all and
  ``c_j^λ = r_j · n_λ`` examples of each label ``λ``;
* while examples remain, take the label ``l`` with the fewest remaining (but at
  least one) examples, ties broken at random, and give each remaining example
  carrying ``l`` to the subset that still wants the most examples of ``l``
  (ties: the subset that wants the most examples in all; then at random); that
  subset's wanted counts drop by one for every label of the example and by one
  in all;
* examples with no label go, one by one, to the subset that wants the most
  examples in all.

``order=2`` is the second-order variant of Szymański & Kajdanowicz ("A Network
Perspective on Stratification of Multi-Label Data", LIDTA 2017): the same
procedure over label *pairs* as well as single labels (every pair that occurs
together counts as one more label), so that co-occurrences are spread evenly
too. The examples are shuffled with the seed first, so the same seed and labels
give the same split.

This is a short standalone implementation (no dependency); the maintained
``iterative-stratification`` package implements the same first-order algorithm.
"""

from __future__ import annotations

import itertools

import numpy as np


def iterative_stratification(labels: np.ndarray, ratios: list[float] | np.ndarray, seed: int, order: int = 1) -> np.ndarray:
    """Assign each row of a binary ``labels`` matrix (n × L) to one of ``len(ratios)`` subsets.

    Returns an int array of subset indices (0 .. k-1). ``ratios`` are
    normalised to sum to 1. ``order`` is 1 (labels) or 2 (labels and label pairs).
    """
    y = np.asarray(labels)
    if y.ndim != 2:
        raise ValueError(f"labels must be a 2-d matrix, got shape {y.shape}")
    y = y > 0
    r = np.asarray(ratios, dtype=np.float64)
    if r.ndim != 1 or len(r) < 2 or np.any(r < 0) or r.sum() <= 0:
        raise ValueError(f"ratios must be at least two non-negative numbers, got {ratios!r}")
    r = r / r.sum()
    if order == 2:
        y = _with_label_pairs(y)
    elif order != 1:
        raise ValueError(f"order must be 1 or 2, got {order}")

    n = y.shape[0]
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    y = y[perm]
    k = len(r)
    wanted = r * n  # c_j
    wanted_label = np.outer(r, y.sum(axis=0)).astype(np.float64)  # c_j^λ
    remaining = y.sum(axis=0).astype(np.int64)  # examples left per label
    assigned = np.full(n, -1, dtype=np.int64)
    # the examples of each label, in the shuffled order
    members = [np.flatnonzero(y[:, lab]) for lab in range(y.shape[1])]

    def best(scores: np.ndarray, tie: np.ndarray) -> int:
        cand = np.flatnonzero(scores == scores.max())
        if len(cand) > 1:
            t = tie[cand]
            cand = cand[t == t.max()]
            if len(cand) > 1:
                return int(cand[rng.integers(len(cand))])
        return int(cand[0])

    while True:
        alive = np.flatnonzero(remaining > 0)
        if len(alive) == 0:
            break
        fewest = alive[remaining[alive] == remaining[alive].min()]
        lab = int(fewest[rng.integers(len(fewest))]) if len(fewest) > 1 else int(fewest[0])
        for i in members[lab]:
            if assigned[i] >= 0:
                continue
            j = best(wanted_label[:, lab], wanted)
            assigned[i] = j
            row = y[i]
            wanted_label[j, row] -= 1
            wanted[j] -= 1
            remaining[row] -= 1
    for i in np.flatnonzero(assigned < 0):  # examples with no label
        j = best(wanted, np.zeros(k))
        assigned[i] = j
        wanted[j] -= 1

    out = np.empty(n, dtype=np.int64)
    out[perm] = assigned
    return out


def _with_label_pairs(y: np.ndarray) -> np.ndarray:
    """``y`` with one more column per pair of labels that occur together (their logical and)."""
    cols = [y]
    for a, b in itertools.combinations(range(y.shape[1]), 2):
        both = y[:, a] & y[:, b]
        if both.any():
            cols.append(both[:, None])
    return np.concatenate(cols, axis=1)


def stratified_splits(
    labels: np.ndarray,
    *,
    val_fraction: float,
    test_fraction: float | None,
    seed: int,
    order: int = 1,
) -> np.ndarray:
    """Split names (``train`` / ``val`` / ``test``) for each row, by iterative stratification.

    ``test_fraction`` is the share of all rows for the test split (``None``: no
    test split is carved, every row goes to train or val); ``val_fraction`` is
    the share of the remaining (non-test) rows for the val split. The three
    subsets are dealt out in one pass, so each is stratified against the others.
    """
    t = 0.0 if test_fraction is None else test_fraction
    ratios = [(1 - t) * (1 - val_fraction), (1 - t) * val_fraction]
    names = np.array(["train", "val"], dtype=object)
    if test_fraction is not None:
        ratios.append(t)
        names = np.array(["train", "val", "test"], dtype=object)
    return names[iterative_stratification(labels, ratios, seed, order=order)]
