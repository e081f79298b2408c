"""The launcher's split check: empty val/test splits are warned about, an empty train split is refused."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtlsearch.data.canonical import check_splits, split_sizes
from mtlsearch.errors import DataError


def _table(path, splits):
    pq.write_table(pa.table({"id": [str(i) for i in range(len(splits))], "split": splits, "x": [0.0] * len(splits)}), path)
    return path


def test_sizes_read_from_the_split_column(tmp_path):
    path = _table(tmp_path / "t.parquet", ["train"] * 5 + ["val"] * 2 + ["test"] * 3)
    assert split_sizes(path) == {"train": 5, "val": 2, "test": 3}
    assert check_splits(split_sizes(path), "spec.yaml: dataset d") == []


def test_an_empty_val_split_is_warned_about(tmp_path):
    sizes = split_sizes(_table(tmp_path / "t.parquet", ["train"] * 6 + ["test"] * 91))
    (warning,) = check_splits(sizes, "spec.yaml: dataset icbhi")
    assert warning.startswith("spec.yaml: dataset icbhi: the val split is empty (train 6, val 0, test 91)")
    assert "Δm(val) will be NaN" in warning


def test_an_empty_test_split_is_warned_about():
    (warning,) = check_splits({"train": 4, "val": 2, "test": 0}, "s.yaml: dataset d")
    assert "the test split is empty" in warning and "no test scores" in warning


def test_an_empty_train_split_is_refused():
    with pytest.raises(DataError, match=r"s.yaml: dataset d: the train split is empty \(train 0, val 3, test 3\)"):
        check_splits({"train": 0, "val": 3, "test": 3}, "s.yaml: dataset d")
