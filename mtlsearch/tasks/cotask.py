"""CO-TASK auxiliary tasks: new tasks made by combining the labels of two primary tasks.

CO-TASK (AAAI 2021; text in ``shared/papers/co-task_aaai2021.txt``), section
*Methodology → Auxiliary Task Generation*:

    "To create a task-set of M auxiliary tasks TSA = {TA1, TA2, ..., TAM}, we
    randomly select M distinct combinations of 2 tasks TS1 = Ti and TS2 = Tj
    from task-set TS. Next, we randomly map one class from each task C^Ti_x and
    C^Tj_y into a new class in the auxiliary task C^TAl_z."

    "we can increase the probability of sampling a major task. This increases
    the possibility of an auxiliary task being composed of a major task"

    "To prevent the class mapping from mapping all patients to a single class,
    we remove the class mapping of patients with both disease labels as a class
    and the other patients as another class from the four possible class
    mappings."

    "we randomly down-sample the combined training data with a ratio of 1/n
    when we combine n tasks into a single auxiliary task."

What the new task is. The last quote settles its shape for data where every
example carries every label (phenotyping, and every canonical table here): two
binary tasks give "four possible class mappings" — one per choice of a class
``x`` of ``Ti`` and ``y`` of ``Tj`` — and the mapping ``(x, y) = (1, 1)`` is
"patients with both disease labels as a class and the other patients as
another class". So an auxiliary task is **binary**: class 1 (the new class
``C^TAl_z``) holds the examples with ``Ti = x`` *and* ``Tj = y``, class 0 "the
other patients"; it forms one of the "more balanced sub-groups in the overall
patient population with a specific subset of disease labels" (section
*Intuition*). For two binary tasks the allowed mappings are ``(0, 0)``,
``(0, 1)`` and ``(1, 0)``, never ``(1, 1)``. For a multiclass source every
class pair ``(x, y)`` is a mapping and none is removed (the paper removes only
the "both diseases" one). The *Intuition* section's picture of a class "composed
of data from class α and β" comes from CIFAR-MTL, where each image is labelled
for one task only; that reading (a union of two disjoint datasets) does not
apply when examples carry both labels, and the rule above is the one the
paper states for that case.

An example whose label for a source task is missing gets ``-1`` (missing) for
the auxiliary task. Auxiliary tasks have role ``"auxiliary"``: they get heads and
losses, never count in Δm, and are dropped from an exported model (section
*Multi-task Learning Model Training*: "we can remove those task-specific branches
for auxiliary tasks before we deploy the model for inference").

Everything here is a pure function of its arguments and the trial's seed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mtlsearch.data.canonical import TaskInfo

# Separate random streams for generation and down-sampling, apart from other users of the seed.
_GENERATE_TAG = 0xC0_7A5C_01
_DOWNSAMPLE_TAG = 0xC0_7A5C_02


@dataclass(frozen=True)
class AuxTask:
    """One CO-TASK auxiliary task.

    ``sources`` are the combined primary tasks (two, as in the paper) and
    ``classes[k]`` is the class index of ``sources[k]`` mapped into the new class:
    the auxiliary label is 1 where every ``sources[k]`` has label ``classes[k]``,
    0 where all source labels are known and some differs, ``-1`` where one is
    missing. ``index`` is its position in the generated list (it names the task).
    """

    index: int
    sources: tuple[str, ...]
    classes: tuple[int, ...]

    def __post_init__(self):
        if len(self.sources) != len(self.classes) or len(self.sources) < 2:
            raise ValueError(f"an auxiliary task combines >= 2 tasks, one class each (got {self.sources}, {self.classes})")
        if len(set(self.sources)) != len(self.sources):
            raise ValueError(f"an auxiliary task's source tasks must be distinct (got {self.sources})")

    @property
    def name(self) -> str:
        """``aux_00:C01+C04`` — index, then the source tasks."""
        return f"aux_{self.index:02d}:{'+'.join(self.sources)}"

    @property
    def n_combined(self) -> int:
        """``n``, the number of tasks combined (its training data is down-sampled to 1/n)."""
        return len(self.sources)

    def to_dict(self) -> dict:
        return {"index": self.index, "sources": list(self.sources), "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: dict) -> "AuxTask":
        return cls(int(d["index"]), tuple(d["sources"]), tuple(int(c) for c in d["classes"]))


def allowed_mappings(a: TaskInfo, b: TaskInfo) -> list[tuple[int, int]]:
    """The class mappings ``(x, y)`` CO-TASK may use for the pair ``(a, b)``.

    All ``len(a.classes) × len(b.classes)`` pairs, except ``(1, 1)`` ("both
    positive vs. the rest") when both tasks are binary.
    """
    out = [(x, y) for x in range(len(a.classes)) for y in range(len(b.classes))]
    if a.kind == "binary" and b.kind == "binary":
        out.remove((1, 1))
    return out


def generate_auxiliary_tasks(
    tasks: Sequence[TaskInfo],
    y_train: np.ndarray,
    m: int,
    seed: int,
    major: Sequence[str] = (),
    major_prob: float = 0.5,
    min_class_count: int = 1,
) -> list[AuxTask]:
    """Draw ``m`` CO-TASK auxiliary tasks from the primary tasks among ``tasks``.

    ``y_train``: the training labels, ``(N, len(tasks))``, columns in the order of
    ``tasks`` (``-1`` = missing). Only tasks with role ``"primary"`` are combined.

    1. **Distinct pairs.** ``m`` distinct unordered pairs of primary tasks are
       drawn one after another without replacement. With ``major`` tasks named,
       each draw takes, with probability ``major_prob``, a pair that contains a
       major task (uniformly among the remaining such pairs), otherwise a pair of
       two non-major tasks (uniformly); when one of the two pools is used up the
       other is used. So ``major_prob`` is the chance that an auxiliary task "is
       composed of a major task" (it sets the chance; it does not multiply the
       uniform one). Without major tasks the pairs are uniform.
    2. **Mapping.** For the drawn pair ``(Ti, Tj)`` (in the order of ``tasks``) one
       of :func:`allowed_mappings` is chosen uniformly.

    ``min_class_count`` (our addition, in the spirit of the paper's rule "to
    prevent the class mapping from mapping all patients to a single class"):
    a mapping is only eligible if, among training examples labelled for both
    tasks, both its class 1 and its class 0 have at least this many examples,
    so no auxiliary task is constant on the training data; a pair with no
    eligible mapping is not drawn. ``min_class_count=0`` is the paper verbatim.

    Deterministic from ``seed``. Raises ``ValueError`` if ``m`` exceeds the
    number of eligible distinct pairs, or a ``major`` name is not a primary task.
    """
    tasks = list(tasks)
    y = np.asarray(y_train)
    if y.ndim != 2 or y.shape[1] != len(tasks):
        raise ValueError(f"y_train must be (N, {len(tasks)}) with one column per task (got shape {y.shape})")
    if int(m) != m or m < 0:
        raise ValueError(f"the number of auxiliary tasks m must be a non-negative integer (got {m})")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer (got {seed})")
    if not 0.0 <= major_prob <= 1.0:
        raise ValueError(f"major_prob must lie in [0, 1] (got {major_prob})")
    if min_class_count < 0:
        raise ValueError(f"min_class_count must be >= 0 (got {min_class_count})")
    primary = [k for k, t in enumerate(tasks) if t.role == "primary"]
    primary_names = [tasks[k].name for k in primary]
    if len(set(primary_names)) != len(primary_names):
        raise ValueError(f"task names must be distinct (got {primary_names})")
    unknown = [n for n in major if n not in primary_names]
    if unknown:
        raise ValueError(f"unknown major task(s) {unknown}: major tasks must be primary tasks, one of {primary_names}")
    for k in primary:
        col = y[:, k]
        if col.size and (col.min() < -1 or col.max() >= len(tasks[k].classes)):
            raise ValueError(
                f"task {tasks[k].name!r}: training labels must lie in -1..{len(tasks[k].classes) - 1} "
                f"(got {int(col.min())}..{int(col.max())})"
            )
    if m == 0:
        return []

    # eligible mappings of every pair (i < j in the order of `tasks`)
    eligible: dict[tuple[int, int], list[tuple[int, int]]] = {}
    columns = {k: np.ascontiguousarray(y[:, k], dtype=np.int64) for k in primary} if min_class_count > 0 else {}
    n_pairs = 0
    for a_pos, i in enumerate(primary):
        for j in primary[a_pos + 1 :]:
            n_pairs += 1
            maps = allowed_mappings(tasks[i], tasks[j])
            if min_class_count > 0:
                ci, cj = len(tasks[i].classes), len(tasks[j].classes)
                yi, yj = columns[i], columns[j]
                # joint count table of the examples labelled for both (row-major), missing ones in the last cell
                codes = np.where((yi >= 0) & (yj >= 0), yi * cj + yj, ci * cj)
                joint = np.bincount(codes, minlength=ci * cj + 1)[: ci * cj]
                total = int(joint.sum())
                maps = [(x, z) for (x, z) in maps if min_class_count <= int(joint[x * cj + z]) <= total - min_class_count]
            if maps:
                eligible[(i, j)] = maps
    if m > len(eligible):
        why = f"{n_pairs} distinct pairs of {len(primary)} primary tasks"
        if len(eligible) < n_pairs:
            why += (
                f", of which {len(eligible)} have a mapping with at least {min_class_count} training example(s) "
                f"in each class (min_class_count)"
            )
        raise ValueError(f"cannot generate m={m} auxiliary tasks: there are only {why}")

    major_set = set(major)
    with_major = [p for p in eligible if tasks[p[0]].name in major_set or tasks[p[1]].name in major_set]
    major_pairs = set(with_major)
    without = [p for p in eligible if p not in major_pairs]
    rng = np.random.default_rng(np.random.SeedSequence([_GENERATE_TAG, int(seed)]))
    out: list[AuxTask] = []
    for index in range(int(m)):
        if with_major and without:
            pool = with_major if rng.random() < major_prob else without
        else:
            pool = with_major or without
        i, j = pool.pop(int(rng.integers(len(pool))))
        maps = eligible[(i, j)]
        x, z = maps[int(rng.integers(len(maps)))]
        out.append(AuxTask(index, (tasks[i].name, tasks[j].name), (x, z)))
    return out


def auxiliary_labels(aux: AuxTask, y: np.ndarray, task_names: Sequence[str]) -> np.ndarray:
    """The auxiliary task's labels for a label matrix ``y`` (any split): ``(N,)`` int64.

    1 where every source task has the mapped class, 0 where all source labels
    are known and at least one differs, ``-1`` where any source label is missing.
    ``task_names`` names the columns of ``y``.
    """
    y = np.asarray(y)
    names = list(task_names)
    if y.ndim != 2 or y.shape[1] != len(names):
        raise ValueError(f"y must be (N, {len(names)}) with one column per task name (got shape {y.shape})")
    missing = [s for s in aux.sources if s not in names]
    if missing:
        raise ValueError(f"{aux.name}: source task(s) {missing} are not among the label columns {names}")
    cols = y[:, [names.index(s) for s in aux.sources]]
    positive = np.all(cols == np.asarray(aux.classes), axis=1)
    known = np.all(cols >= 0, axis=1)
    return np.where(known, positive.astype(np.int64), np.int64(-1))


def downsample_keep_count(n_pool: int, n_combined: int) -> int:
    """How many of ``n_pool`` training examples the 1/n down-sampling keeps: ``ceil(n_pool / n_combined)``.

    Exactly ``n_pool / n`` when ``n`` divides ``n_pool``; otherwise rounded up, so
    a non-empty pool never becomes empty and the kept share is within ``1/n_pool`` of ``1/n``.
    """
    if n_combined < 1 or n_pool < 0:
        raise ValueError(f"need n_combined >= 1 and n_pool >= 0 (got {n_combined}, {n_pool})")
    return -(-n_pool // n_combined)


def downsample_mask(aux: AuxTask, n_train: int, seed: int, labeled: np.ndarray | None = None) -> np.ndarray:
    """Which training examples keep their label for ``aux``: a boolean ``(n_train,)`` mask.

    The paper down-samples "the combined training data with a ratio of 1/n when
    we combine n tasks". The pool is every training example, or only those where
    ``labeled`` (a boolean ``(n_train,)`` mask, e.g. ``aux_labels >= 0``) is true;
    exactly :func:`downsample_keep_count` ``(|pool|, aux.n_combined)`` examples of
    the pool are kept, drawn uniformly without replacement. Deterministic from
    ``seed`` and the auxiliary task's name; independent across auxiliary tasks.
    """
    if n_train < 0:
        raise ValueError(f"n_train must be >= 0 (got {n_train})")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer (got {seed})")
    if labeled is None:
        pool = np.arange(n_train)
    else:
        labeled = np.asarray(labeled, dtype=bool)
        if labeled.shape != (n_train,):
            raise ValueError(f"labeled must be a boolean mask of shape ({n_train},) (got {labeled.shape})")
        pool = np.flatnonzero(labeled)
    keep = downsample_keep_count(pool.size, aux.n_combined)
    rng = np.random.default_rng(np.random.SeedSequence([_DOWNSAMPLE_TAG, int(seed), zlib.crc32(aux.name.encode())]))
    mask = np.zeros(n_train, dtype=bool)
    mask[rng.choice(pool, size=keep, replace=False)] = True
    return mask


def auxiliary_train_labels(auxs: Sequence[AuxTask], y_train: np.ndarray, task_names: Sequence[str], seed: int) -> np.ndarray:
    """Training labels of several auxiliary tasks, ``(N, len(auxs))``: :func:`auxiliary_labels`
    with everything outside each task's :func:`downsample_mask` (pool: its labelled examples) set to ``-1``.

    Validation and test labels are not down-sampled: use :func:`auxiliary_labels` for them.
    """
    y_train = np.asarray(y_train)
    out = np.empty((y_train.shape[0], len(auxs)), dtype=np.int64)
    for k, aux in enumerate(auxs):
        labels = auxiliary_labels(aux, y_train, task_names)
        keep = downsample_mask(aux, y_train.shape[0], seed, labeled=labels >= 0)
        out[:, k] = np.where(keep, labels, -1)
    return out


def auxiliary_task_info(aux: AuxTask, tasks: Sequence[TaskInfo] = (), metric: str = "f1") -> TaskInfo:
    """The :class:`TaskInfo` of an auxiliary task: binary, role ``"auxiliary"``, scored like a binary primary (F1).

    ``tasks`` (optional) supplies the source tasks' class names for the readable title.
    """
    by_name = {t.name: t for t in tasks}

    def cls_name(src: str, c: int) -> str:
        t = by_name.get(src)
        return t.classes[c] if t is not None and 0 <= c < len(t.classes) else str(c)

    combo = " and ".join(f"{s} = {cls_name(s, c)}" for s, c in zip(aux.sources, aux.classes))
    return TaskInfo(
        name=aux.name,
        kind="binary",
        classes=("other", combo),
        description=f"CO-TASK auxiliary task: examples with {combo} (class 1) vs. all other "
        f"examples labelled for {', '.join(aux.sources)} (class 0)",
        title=combo,
        role="auxiliary",
        metric=metric,
        direction="max",
    )


def auxiliary_task_infos(auxs: Sequence[AuxTask], tasks: Sequence[TaskInfo] = (), metric: str = "f1") -> list[TaskInfo]:
    """:func:`auxiliary_task_info` of each auxiliary task, in order."""
    return [auxiliary_task_info(a, tasks, metric) for a in auxs]


__all__ = [
    "AuxTask",
    "allowed_mappings",
    "auxiliary_labels",
    "auxiliary_task_info",
    "auxiliary_task_infos",
    "auxiliary_train_labels",
    "downsample_keep_count",
    "downsample_mask",
    "generate_auxiliary_tasks",
]
