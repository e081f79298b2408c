"""Downloads of data sources: a real HTTP server on 127.0.0.1, checksums, truncation, the cache, the catalogue.

No test here reaches the internet: URLs point at a ``http.server`` started in
a thread, and the catalogue's GitHub base URL is pointed at it too.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tarfile
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from mtlsearch.data import catalog, download
from mtlsearch.data.canonical import read_info
from mtlsearch.data.ohsumed import OhsumedArffOptions, OhsumedFoldersOptions
from mtlsearch.data.registry import get_loader, prepare
from mtlsearch.data.sources import file_sha256, resolve_path
from mtlsearch.errors import DataError

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MTLSEARCH_DATA", REPO.parent / "shared" / "data"))


# ---------------------------------------------------------------- a local HTTP server


class _State:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.actions: dict[str, list[str]] = {}  # per path, consumed one per request: "503", "slow", "truncate"
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        st = self.server.state
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        with st.lock:
            st.requests[path] += 1
            queue = st.actions.get(path)
            action = queue.pop(0) if queue else "ok"
        body = st.files.get(path)
        if body is None:
            self.send_error(404)
            return
        if action == "503":
            self.send_error(503)
            return
        if action == "slow":
            time.sleep(1.5)
        length = len(body) + 1000 if action == "truncate" else len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if action == "truncate" else body)

    def log_message(self, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = _State()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def serve(self, path: str, body: bytes, *actions: str) -> str:
        self.state.files[path] = body
        self.state.actions[path] = list(actions)
        return self.base + urllib.parse.quote(path)

    def handle_error(self, request, client_address) -> None:  # a client that gave up: not a test failure
        pass


@pytest.fixture()
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(autouse=True)
def data_env(tmp_path, monkeypatch):
    """MTLSEARCH_DATA at an empty temporary folder, and no wait between retries."""
    root = tmp_path / "data"
    monkeypatch.setenv("MTLSEARCH_DATA", str(root))
    monkeypatch.setattr(download, "BACKOFF_SECONDS", 0.0)
    return root


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ---------------------------------------------------------------- a Joachims-layout archive


DOCS = [  # (split, doc id, categories, text): 0001 is under training/C01 and training/C04
    ("training", "0001", ("C01", "C04"), "Bacteria infection in a tumor.\n Sepsis and carcinoma patients."),
    *[("training", f"{i:04d}", ("C01",), f"Doc {i}.\n Bacteria infection sepsis patients") for i in range(2, 12)],
    *[("training", f"{i:04d}", ("C04",), f"Doc {i}.\n Tumor carcinoma neoplasm patients") for i in range(12, 22)],
    ("test", "0101", ("C01",), "Test.\n Bacteria zebra"),
    ("test", "0102", ("C04",), "Test.\n Carcinoma zebra"),
    ("test", "0103", ("C01", "C04"), "Test.\n Sepsis tumor zebra"),
]


def joachims_tar_gz() -> bytes:
    """The documents of DOCS as ``ohsumed-mini/{training,test}/Cxx/<docid>`` in a .tar.gz."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for split, doc_id, cats, text in DOCS:
            data = text.encode()
            for c in cats:
                info = tarfile.TarInfo(f"ohsumed-mini/{split}/{c}/{doc_id}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def archive() -> tuple[bytes, str]:
    body = joachims_tar_gz()
    return body, hashlib.sha256(body).hexdigest()


# ---------------------------------------------------------------- loading by URL


def test_ohsumed_folders_from_a_url(server, archive, data_env, tmp_path):
    body, sha = archive
    url = server.serve("/corpora/ohsumed-mini.tar.gz", body)
    table_path = prepare("ohsumed_folders", OhsumedFoldersOptions(path=url, sha256=sha), tmp_path / "cache")

    t = pq.read_table(table_path)
    ids, split = t.column("id").to_pylist(), t.column("split").to_pylist()
    assert sorted(ids) == sorted(d[1] for d in DOCS)  # 0001 under two categories is one document
    row = ids.index("0001")
    assert (t.column("C01")[row].as_py(), t.column("C04")[row].as_py(), t.column("C05")[row].as_py()) == (1, 1, 0)
    assert t.column("text")[row].as_py().startswith("Bacteria infection in a tumor.")
    assert {i for i, s in zip(ids, split) if s == "test"} == {"0101", "0102", "0103"}
    assert t.column("C04")[ids.index("0103")].as_py() == 1 and t.column("C04")[ids.index("0101")].as_py() == 0
    info = read_info(table_path)
    assert info.name == "ohsumed-mini" and "zebra" not in info.extra["vocabulary"]

    # the download sits in <data root>/downloads/<key>/ under its own name, nothing else beside it
    (key,) = os.listdir(data_env / "downloads")
    assert _files(data_env / "downloads") == [f"{key}/ohsumed-mini.tar.gz"]
    assert file_sha256(data_env / "downloads" / key / "ohsumed-mini.tar.gz") == sha
    assert server.state.requests["/corpora/ohsumed-mini.tar.gz"] == 1  # fingerprint and build share the download

    # the fingerprint comes from the content: the same archive on disk gives the same table
    local = tmp_path / "ohsumed-mini.tar.gz"
    local.write_bytes(body)
    assert prepare("ohsumed_folders", OhsumedFoldersOptions(path=str(local)), tmp_path / "cache") == table_path


def test_second_load_reuses_the_download(server, archive, tmp_path):
    body, sha = archive
    url = server.serve("/ohsumed-mini.tar.gz", body)
    loader = get_loader("ohsumed_folders")
    first = prepare("ohsumed_folders", OhsumedFoldersOptions(path=url), tmp_path / "a")
    assert server.state.requests["/ohsumed-mini.tar.gz"] == 1
    second = prepare("ohsumed_folders", OhsumedFoldersOptions(path=url), tmp_path / "b")  # a fresh table cache
    assert server.state.requests["/ohsumed-mini.tar.gz"] == 1
    assert first.parent.name == second.parent.name
    # a checksum given later (option or #sha256= suffix) is checked against the cached file, still without network
    assert loader.fingerprint(OhsumedFoldersOptions(path=url, sha256=sha)) == loader.fingerprint(OhsumedFoldersOptions(path=url))
    assert resolve_path(f"{url}#sha256={sha.upper()}", "archive").read_bytes() == body
    assert server.state.requests["/ohsumed-mini.tar.gz"] == 1


def test_checksum_mismatch_keeps_nothing(server, archive, data_env):
    body, sha = archive
    url = server.serve("/ohsumed-mini.tar.gz", body)
    wrong = "0" * 64
    with pytest.raises(DataError) as e:
        get_loader("ohsumed_folders").fingerprint(OhsumedFoldersOptions(path=url, sha256=wrong))
    msg = str(e.value)
    assert url in msg and f"expected {wrong}" in msg and f"got {sha}" in msg and e.value.exit_code == 2
    assert _files(data_env / "downloads") == []


def test_a_body_cut_short_is_retried_then_an_error_and_nothing_is_kept(server, archive, data_env):
    body, _ = archive
    url = server.serve("/cut.tar.gz", body, *["truncate"] * (download.RETRIES + 1))
    with pytest.raises(DataError) as e:
        resolve_path(url, "OHSUMED folder")
    msg = str(e.value)
    assert url in msg and f"truncated: received {len(body) // 2} of {len(body) + 1000} bytes" in msg
    assert f"after {download.RETRIES + 1} attempts" in msg
    assert server.state.requests["/cut.tar.gz"] == download.RETRIES + 1
    assert _files(data_env / "downloads") == []


def test_transient_failures_are_retried(server, archive, monkeypatch):
    body, sha = archive
    url = server.serve("/flaky.tar.gz", body, "503", "truncate")
    assert file_sha256(resolve_path(url, "archive", sha256=sha)) == sha
    assert server.state.requests["/flaky.tar.gz"] == 3
    monkeypatch.setattr(download, "DEFAULT_TIMEOUT", 0.3)
    url = server.serve("/slow.tar.gz", body, "slow")
    assert file_sha256(resolve_path(url, "archive")) == sha
    assert server.state.requests["/slow.tar.gz"] == 2


def test_http_404_fails_at_once(server, data_env):
    url = server.base + "/nowhere.tar.gz"
    with pytest.raises(DataError, match=r"nowhere\.tar\.gz: HTTP 404"):
        resolve_path(url, "OHSUMED folder")
    assert server.state.requests["/nowhere.tar.gz"] == 1
    url = server.serve("/empty.arff", b"")
    with pytest.raises(DataError, match=r"empty\.arff: the server sent an empty file"):
        resolve_path(url, "OHSUMED ARFF file")
    assert _files(data_env / "downloads") == []


def test_bad_sha256_options():
    with pytest.raises(ValidationError, match="64 hex digits"):
        OhsumedFoldersOptions(path="http://127.0.0.1/x.tar.gz", sha256="abc")
    with pytest.raises(ValidationError, match="differs"):
        OhsumedFoldersOptions(path="http://127.0.0.1/x.tar.gz#sha256=" + "a" * 64, sha256="b" * 64)
    assert OhsumedFoldersOptions(path="x.tar.gz", sha256="A" * 64).path == "x.tar.gz#sha256=" + "a" * 64


def test_a_local_file_is_checked_against_its_sha256(tmp_path, archive):
    body, sha = archive
    path = tmp_path / "ohsumed-mini.tar.gz"
    path.write_bytes(body)
    assert resolve_path(f"{path}#sha256={sha}", "archive") == path
    with pytest.raises(DataError, match=f"sha256 mismatch: expected {'1' * 64}, got {sha}"):
        resolve_path(str(path), "archive", sha256="1" * 64)


# ---------------------------------------------------------------- the default data root and the catalogue


def test_default_root_and_a_catalogue_download(server, archive, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="mtlsearch")
    body, sha = archive
    monkeypatch.delenv("MTLSEARCH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(download, "_noted_default_root", False)
    monkeypatch.setattr(catalog, "GITHUB_RAW", server.base)
    entry = catalog.Entry("someone/corpora", "abc1234", "data/ohsumed-mini.tar.gz", sha)
    monkeypatch.setitem(catalog.CATALOG, "ohsumed/mini/ohsumed-mini.tar.gz", entry)
    server.serve("/someone/corpora/abc1234/data/ohsumed-mini.tar.gz", body)

    root = tmp_path / "xdg" / "mtlsearch" / "data"
    assert download.data_root() == root
    opts = OhsumedFoldersOptions(path="${MTLSEARCH_DATA}/ohsumed/mini/ohsumed-mini.tar.gz")
    table_path = prepare("ohsumed_folders", opts, tmp_path / "cache")
    assert read_info(table_path).name == "ohsumed-mini"
    assert _files(root) == ["ohsumed/mini/ohsumed-mini.tar.gz"]  # in place, laid out like ../shared/data
    assert server.state.requests["/someone/corpora/abc1234/data/ohsumed-mini.tar.gz"] == 1
    said = [r.getMessage() for r in caplog.records if r.name == download.__name__]
    assert said.count(f"$MTLSEARCH_DATA is not set; using the data folder {root}") == 1

    # a wrong catalogued file is refused and not kept; the error says where the file should go
    monkeypatch.setitem(
        catalog.CATALOG,
        "ohsumed/mini/other.tar.gz",
        catalog.Entry("someone/corpora", "abc1234", "data/ohsumed-mini.tar.gz", "f" * 64),
    )
    with pytest.raises(DataError) as e:
        resolve_path("${MTLSEARCH_DATA}/ohsumed/mini/other.tar.gz", "OHSUMED folder")
    assert "sha256 mismatch" in str(e.value) and f"could not be downloaded to {root / 'ohsumed/mini/other.tar.gz'}" in str(
        e.value
    )
    assert _files(root) == ["ohsumed/mini/ohsumed-mini.tar.gz"]


def test_missing_file_without_public_source_says_where_to_put_it(data_env, monkeypatch):
    with pytest.raises(DataError) as e:
        resolve_path("${MTLSEARCH_DATA}/ohsumed/text/ohsumed-all-docs.tar.gz", "OHSUMED folder")
    msg = str(e.value)
    assert "OHSUMED folder not found" in msg and str(data_env / "ohsumed/text/ohsumed-all-docs.tar.gz") in msg
    assert "no public source is catalogued" in msg and "ohsumed/, openi/, icbhi/" in msg and "not set" not in msg
    monkeypatch.delenv("MTLSEARCH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(data_env.parent / "xdg"))
    with pytest.raises(DataError, match=r"default data folder \(\$MTLSEARCH_DATA is unset\)"):
        resolve_path("$MTLSEARCH_DATA/openi/reports.xml.tar.gz", "Open-I reports")


def _serve_catalogue(server: _Server, monkeypatch, names: list[str]) -> None:
    """Serve the shared copies of catalogued files at their GitHub-shaped paths on the local server."""
    monkeypatch.setattr(catalog, "GITHUB_RAW", server.base)
    for name in names:
        e = catalog.CATALOG[name]
        server.serve(f"/{e.repo}/{e.commit}/{e.path}", (SHARED / name).read_bytes())


@pytest.mark.skipif(
    not (SHARED / "icbhi" / "meta").is_dir() or not (SHARED / "openi").is_dir(),
    reason=f"shared data not found at {SHARED} (set MTLSEARCH_DATA)",
)
def test_real_catalogue_entries_match_the_shared_files(server, data_env, monkeypatch):
    """Every catalogued checksum is that of the shared copy; a missing folder is filled with its catalogued files."""
    names = [n for n in catalog.CATALOG if (SHARED / n).is_file()]
    assert len(names) == len(catalog.CATALOG)
    _serve_catalogue(server, monkeypatch, names)

    meta = resolve_path("${MTLSEARCH_DATA}/icbhi/meta", "ICBHI metadata folder")
    assert meta == data_env / "icbhi" / "meta"
    assert _files(meta) == sorted(os.listdir(SHARED / "icbhi" / "meta"))
    reports = resolve_path("${MTLSEARCH_DATA}/openi/indiana_reports.csv", "Open-I reports CSV")
    assert (reports.parent / "indiana_projections.csv").is_file()  # fetched along with the reports
    arff = resolve_path("$MTLSEARCH_DATA/ohsumed/meka_arff/OHSUMED-F.arff", "OHSUMED ARFF file")
    for name in names:
        assert file_sha256(data_env / name) == catalog.CATALOG[name].sha256 == file_sha256(SHARED / name)
    assert len(get_loader("ohsumed_arff").tasks(OhsumedArffOptions(path=str(arff)))) == 23
    assert sum(server.state.requests.values()) == len(names)


# ---------------------------------------------------------------- S3


class _FakeBody(io.BytesIO):
    pass


class _FakeS3:
    """The part of a boto3 S3 client that fetch uses."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects
        self.calls = 0

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803 (boto3's names)
        self.calls += 1
        if (Bucket, Key) not in self.objects:
            err = Exception("NoSuchKey")
            err.response = {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}
            raise err
        data = self.objects[(Bucket, Key)]
        return {"Body": _FakeBody(data), "ContentLength": len(data)}


def test_s3_url_through_a_client_stand_in(archive, data_env, monkeypatch, tmp_path):
    body, sha = archive
    client = _FakeS3({("bucket", "corpora/ohsumed-mini.tar.gz"): body})
    monkeypatch.setattr(download, "_s3_client", lambda timeout: client)
    table = prepare(
        "ohsumed_folders", OhsumedFoldersOptions(path="s3://bucket/corpora/ohsumed-mini.tar.gz", sha256=sha), tmp_path / "c"
    )
    assert read_info(table).name == "ohsumed-mini" and client.calls == 1
    with pytest.raises(DataError, match=r"s3://bucket/missing\.tar\.gz: S3 NoSuchKey \(HTTP 404\)"):
        resolve_path("s3://bucket/missing.tar.gz", "OHSUMED folder")
    assert client.calls == 2 and [f for f in _files(data_env / "downloads") if not f.endswith("ohsumed-mini.tar.gz")] == []


def test_s3_with_moto(archive, data_env, monkeypatch, tmp_path):
    moto = pytest.importorskip("moto", reason="moto is not installed")
    import boto3

    body, sha = archive
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        boto3.client("s3").create_bucket(Bucket="bucket")
        boto3.client("s3").put_object(Bucket="bucket", Key="ohsumed-mini.tar.gz", Body=body)
        path = resolve_path("s3://bucket/ohsumed-mini.tar.gz", "OHSUMED folder", sha256=sha)
        assert file_sha256(path) == sha
        with pytest.raises(DataError, match="sha256 mismatch"):
            resolve_path("s3://bucket/ohsumed-mini.tar.gz#sha256=" + "0" * 64, "OHSUMED folder")
