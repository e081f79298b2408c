import numpy as np
import pyarrow.parquet as pq

from mtlsearch.data.canonical import read_info, read_splits
from mtlsearch.data.inspect import inspect_table
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions


def _build(tmp_path, **kw):
    return prepare("synthetic", SyntheticOptions(**kw), tmp_path)


def test_deterministic_and_cached(tmp_path):
    a = _build(tmp_path / "a", num_tasks=6, num_groups=3, num_samples=600, seed=3)
    b = _build(tmp_path / "b", num_tasks=6, num_groups=3, num_samples=600, seed=3)
    assert pq.read_table(a).equals(pq.read_table(b))
    assert _build(tmp_path / "a", num_tasks=6, num_groups=3, num_samples=600, seed=3) == a
    c = _build(tmp_path / "c", num_tasks=6, num_groups=3, num_samples=600, seed=4)
    assert not pq.read_table(a).equals(pq.read_table(c))


def test_planted_groups_splits_and_kinds(tmp_path):
    path = _build(tmp_path, num_tasks=12, num_groups=3, num_samples=1000, multiclass_tasks=2)
    info = read_info(path)
    assert [len(g) for g in info.planted_groups] == [4, 4, 4]
    assert sorted(t for g in info.planted_groups for t in g) == info.task_names
    assert [t.kind for t in info.tasks].count("multiclass") == 2
    report = inspect_table(str(path))
    assert report["size"] == {"train": 700, "val": 150, "test": 150}
    assert report["planted_groups"] == [list(g) for g in info.planted_groups]
    t = report["tasks"][-1]
    assert t["kind"] == "multiclass" and sum(t["counts"]["train"][c] for c in t["classes"]) == 700


def test_tasks_in_a_group_are_related(tmp_path):
    """Labels of tasks planted together agree far more than labels of tasks in different groups."""
    path = _build(tmp_path, num_tasks=6, num_groups=2, num_samples=3000, multiclass_tasks=0, noise=0.1)
    info = read_info(path)
    y = read_splits(path, info.task_names)["train"].y.astype(float)
    corr = np.abs(np.corrcoef(y.T))
    group = {t: gi for gi, g in enumerate(info.planted_groups) for t in g}
    within = [corr[i, j] for i in range(6) for j in range(i + 1, 6) if group[info.task_names[i]] == group[info.task_names[j]]]
    across = [corr[i, j] for i in range(6) for j in range(i + 1, 6) if group[info.task_names[i]] != group[info.task_names[j]]]
    assert min(within) > 0.2 > max(across) + 0.1


def test_shuffled_groups_keep_the_inputs_and_hide_the_order(tmp_path):
    from mtlsearch.data.canonical import read_info, read_splits
    from mtlsearch.data.registry import prepare
    from mtlsearch.data.synthetic import SyntheticOptions

    opts = dict(num_tasks=12, num_groups=3, num_samples=300, multiclass_tasks=0, seed=4)
    plain = prepare("synthetic", SyntheticOptions(**opts), tmp_path)
    shuffled = prepare("synthetic", SyntheticOptions(**opts, shuffle_groups=True), tmp_path)
    groups = read_info(shuffled).planted_groups
    assert sorted(len(g) for g in groups) == [4, 4, 4]
    assert groups != read_info(plain).planted_groups
    assert any(list(g) != sorted(g) or int(g[-1][-2:]) - int(g[0][-2:]) != 3 for g in groups)
    names = read_info(plain).task_names
    assert (read_splits(plain, names)["train"].x == read_splits(shuffled, names)["train"].x).all()
