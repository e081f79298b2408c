"""The README's "Reading the store directly": pandas and DuckDB over the Parquet files of a store written here (no Ray)."""

import re
from pathlib import Path

import pytest
from test_results_csv import TRIALS, _write_store


def _write_partial_file(store) -> None:
    """A file of the store still being written: its hidden temporary name (mtlsearch.store.atomic), half its bytes."""
    folder = Path(store.experiment_uri("quickstart", "trials", "t_mtl"))
    (folder / ".tmp-0123abcd-epoch=00004.parquet").write_bytes((folder / "epoch=00001.parquet").read_bytes()[:40])


def test_the_readme_pandas_read_of_the_store(tmp_path, monkeypatch):
    """README, "Reading the store directly": pandas over the trials folder."""
    pd = pytest.importorskip("pandas", reason="pandas is not installed (the README's example needs it)")
    _write_partial_file(_write_store(tmp_path / "mtlsearch_results"))
    monkeypatch.chdir(tmp_path)
    df = pd.read_parquet("mtlsearch_results/experiments/quickstart/trials/")
    assert len(df) == sum(len(t[4]) for t in TRIALS.values())
    assert df.groupby("trial_id")["dm_val"].max().to_dict() == {"t_gmtl": 6.5, "t_mtl": 4.0, "t_stl": -1.0}


def _readme_duckdb_query() -> str:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    found = re.findall(r'duckdb\.sql\("""(.*?)"""\)', readme, flags=re.S)
    assert len(found) == 1, 'README.md should show one duckdb.sql("""...""") query of the store'
    return found[0]


def test_the_readme_duckdb_query_of_the_store(tmp_path, monkeypatch):
    """README, "Reading the store directly": its DuckDB query, read from the README and run as written there
    (DuckDB orders NaN above every number, so the query leaves NaN epochs out: here t_stl's second epoch; and
    its glob must not pick up a file being written)."""
    duckdb = pytest.importorskip("duckdb", reason="DuckDB is optional: pip install 'mtlsearch[sql]' to run this")
    _write_partial_file(_write_store(tmp_path / "mtlsearch_results"))
    monkeypatch.chdir(tmp_path)
    rows = duckdb.sql(_readme_duckdb_query()).fetchall()
    assert rows == [("t_gmtl", 6.5, 2), ("t_mtl", 4.0, 3), ("t_stl", -1.0, 1)]
