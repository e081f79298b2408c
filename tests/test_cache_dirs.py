"""mtlsearch's cache folders (mtlsearch.cache_dirs): one root for every cache, one folder per remote store."""

from pathlib import Path

from mtlsearch.cache_dirs import remote_store_file, store_key, user_cache
from mtlsearch.data.distribute import default_cache_dir
from mtlsearch.data.download import default_data_root
from mtlsearch.data.unpack import extraction_root
from mtlsearch.search.study import JOURNAL_FILE, local_journal_path


def test_every_cache_lives_under_one_root(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = tmp_path / "mtlsearch"
    assert user_cache() == root
    assert (default_data_root(), extraction_root(), default_cache_dir()) == (root / "data", root / "extracted", root / "datasets")
    journal = Path(local_journal_path("s3://bucket/prefix/", "exp"))
    assert journal == root / "optuna" / store_key("s3://bucket/prefix") / "exp" / JOURNAL_FILE
    report = remote_store_file("reports", "s3://bucket/prefix", "exp", "report.html")
    assert report == root / "reports" / store_key("s3://bucket/prefix") / "exp" / "report.html"


def test_each_remote_store_has_its_own_folder():
    assert store_key("s3://a/x") == store_key("s3://a/x/") != store_key("s3://a/y")
    assert len(store_key("s3://a/x")) == 16 and int(store_key("s3://a/x"), 16) >= 0
