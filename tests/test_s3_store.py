"""The results store on S3, against a real S3-compatible HTTP server on 127.0.0.1 (moto's server mode).

Store round trips, credentials, baseline claims and retries run without Ray; the
searches (two at once on one store, and the quickstart spec) run ``mtlsearch
launch`` subprocesses on a Ray cluster of their own, started with the S3
environment so that its workers find the endpoint and credentials (the
session's ``ray_cluster`` may have been started before the S3 server).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import pickle
import re
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import _S3_ENV_NAMES, REPO, S3_TEST_SECRET, plot_has_image, render_in_chromium, write_spec

from mtlsearch import logs
from mtlsearch.errors import StoreError
from mtlsearch.report.html_report import PLOT_IDS
from mtlsearch.search import baselines as baselines_mod
from mtlsearch.store import atomic
from mtlsearch.store import claims as claims_mod
from mtlsearch.store.claims import Claims, Heartbeat
from mtlsearch.store.results import ResultsStore


def _prefix(s3, name: str) -> str:
    return f"s3://{s3.bucket}/{name}-{uuid.uuid4().hex[:8]}"


def _keys(s3, uri: str) -> list[str]:
    prefix = uri.split(f"s3://{s3.bucket}/", 1)[1].rstrip("/") + "/"
    out, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=prefix, **kw)
        out += [o["Key"] for o in r.get("Contents", [])]
        if not r.get("IsTruncated"):
            return out
        token = r["NextContinuationToken"]


def _trial(store: ResultsStore, exp: str, trial: str, epoch: int, dm: float) -> None:
    store.write_trial_epoch(
        exp,
        trial,
        epoch,
        {"architecture": "MTL", "dm_val": dm, "dm_test": dm},
        [{"task": "a", "role": "primary", "metric": "f1", "split": "val", "value": 0.5}],
    )


# -- the store on S3 -------------------------------------------------------------------------


def test_store_round_trip_on_s3(s3_env):
    root = _prefix(s3_env, "unit")
    store = ResultsStore(root)
    assert store.root == root and store.fs.type_name == "s3"
    store.write_experiment("exp", {"experiment": "exp"})
    _trial(store, "exp", "t1", 1, 1.0)
    _trial(store, "exp", "t1", 1, 2.0)  # a re-reported epoch replaces its file
    _trial(store, "exp", "t2", 1, 3.0)
    store.write_trial_status("exp", "t1", "finished", 1, 1)
    store.write_baseline({"fingerprint": "fp1", "task": "a", "val": 0.5, "test": 0.4})
    store.groupings.write_matrix("m-1", ["a", "b"], [[1.0, 0.0], [0.0, 1.0]], {"k": 2})

    again = ResultsStore(root + "/")  # a trailing slash names the same store
    assert again.experiments() == ["exp"]
    assert again.read_experiment("exp") == {"experiment": "exp"}
    assert sorted((r["trial_id"], r["dm_val"]) for r in again.read("exp", "trials").to_pylist()) == [("t1", 2.0), ("t2", 3.0)]
    assert again.read("exp", "status").num_rows == 1 and again.read("nosuch", "trials").num_rows == 0
    assert again.read_baselines(["fp1", "fp2"])["fp1"]["val"] == 0.5
    assert again.groupings.read_matrix("m-1")[0] == ["a", "b"]
    keys = _keys(s3_env, root)
    assert not [k for k in keys if k.endswith("/") or "/.tmp-" in k]  # one PUT per file: no folder markers, no temporaries
    assert len(keys) == 8


def test_credentials_in_the_uri_are_refused_and_redacted(s3_env):
    uri = f"s3://AKIAX:{S3_TEST_SECRET}@{s3_env.bucket}/x"
    with pytest.raises(StoreError) as e:
        ResultsStore(uri)
    assert S3_TEST_SECRET not in str(e.value) and "s3://***@" in str(e.value) and "credential chain" in str(e.value)
    with pytest.raises(StoreError, match="AWS_ENDPOINT_URL"):
        ResultsStore(f"s3://{s3_env.bucket}/x?endpoint_override=localhost:9000")
    assert atomic.redact_uri(f"s3://AKIAX:{S3_TEST_SECRET}@b/p") == "s3://***@b/p"
    assert atomic.redact_uri(f"s3://b/p?region=x&secret_key={S3_TEST_SECRET}") == "s3://b/p?region=x&secret_key=***"
    assert atomic.redact_uri("s3://b/p") == "s3://b/p"


def test_filesystem_pickles_to_workers_without_credentials(s3_env):
    fs, path = atomic.resolve(f"s3://{s3_env.bucket}/p")
    assert path == f"{s3_env.bucket}/p"
    data = pickle.dumps(fs)
    assert S3_TEST_SECRET.encode() not in data and b"AKIAMTLSEARCHTEST" not in data
    clone = pickle.loads(data)
    assert isinstance(clone, atomic.S3FileSystem) and clone._mtl_options == fs._mtl_options
    assert clone._mtl_options["endpoint_override"] == s3_env.endpoint


# -- claims ------------------------------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def claim_root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "store")
    return _prefix(request.getfixturevalue("s3_env"), "claims")


def test_a_claim_excludes_others_until_released(claim_root):
    a, b = Claims(claim_root, owner="a"), Claims(claim_root, owner="b")
    assert a.exclusive
    ca = a.acquire("fp")
    assert ca is not None and b.acquire("fp") is None
    seen = b.inspect("fp")
    assert seen.owner["owner"] == "a" and S3_TEST_SECRET not in json.dumps(seen.owner)
    assert ca.renew() and b.inspect("fp").version != seen.version  # a heartbeat changes the version
    assert b.take_over("fp", seen) is None  # not stale: it was renewed since
    cb = b.take_over("fp", b.inspect("fp"))  # stale now (as if a stopped renewing)
    assert cb is not None and not ca.renew() and ca.lost  # a learns that it lost the claim
    ca.release()  # releasing a lost claim leaves the new holder's alone
    assert b.inspect("fp").owner["owner"] == "b"
    cb.release()
    assert b.inspect("fp") is None and a.acquire("fp") is not None


def test_a_release_racing_a_take_over_leaves_the_new_claim(s3_env, monkeypatch):
    """The S3 delete is conditional: a claim taken over after the releaser's read survives the release."""
    root = _prefix(s3_env, "claims")
    a, b = Claims(root, owner="a"), Claims(root, owner="b")
    ca = a.acquire("fp")
    stale = b.inspect("fp")
    cb = b.take_over("fp", stale)  # b takes over; a has not noticed (no heartbeat since)
    assert cb is not None and not ca.lost
    monkeypatch.setattr(ca.backend, "read", lambda name: stale)  # a's read saw its own claim, just before b's write
    ca.release()
    assert b.inspect("fp").owner["owner"] == "b"
    cb.release()
    assert b.inspect("fp") is None


def test_racing_claims_have_one_winner(claim_root):
    results = []
    barrier = threading.Barrier(6)

    def race(i):
        c = Claims(claim_root, owner=f"s{i}")
        barrier.wait()
        results.append(c.acquire("contested"))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1


@pytest.fixture
def baseline_setup(s3_env, tmp_path, monkeypatch):
    """A spec, its synthetic dataset, and ``_train`` replaced by a stand-in that records what it trains (no Ray)."""
    from mtlsearch.data.canonical import read_info
    from mtlsearch.search.launcher import prepare_dataset
    from mtlsearch.spec import load_spec

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(baselines_mod, "POLL_S", 0.05)
    root = _prefix(s3_env, "bl")
    loaded = load_spec(write_spec(tmp_path / "spec.yaml", tmp_path / "unused", tasks=4, samples=300), storage_override=root)
    store = ResultsStore(root)
    path = prepare_dataset(loaded, store)
    trained: list[tuple[str, list[str]]] = []

    def fake_train(spec, info, dataset_path, store, experiment, config, claims, missing, fps, use_gpu):
        trained.append((experiment, sorted(t.name for t in missing)))
        baselines_mod.log.info(f"baselines: training STL baselines for {len(missing)} task(s) in one run")
        with Heartbeat(claims, every=0.05):
            time.sleep(1.0)
        out = {}
        for t in missing:
            row = {"fingerprint": fps[t.name], "task": t.name, "val": 0.5, "test": 0.4, "trained_by": experiment}
            store.write_baseline(row)
            out[fps[t.name]] = row
        return out

    monkeypatch.setattr(baselines_mod, "_train", fake_train)
    spec = loaded.spec
    info = read_info(path)
    fps = [
        baselines_mod.baseline_fingerprint(info.fingerprint, t.name, baselines_mod.baseline_config(spec))
        for t in info.primary_tasks()
    ]

    def ensure(experiment) -> tuple[dict, list[str]]:
        """The baselines, and the lines this search logged (only its own: another thread's search logs apart)."""
        said = io.StringIO()
        with logs.capture(said):
            result = baselines_mod.ensure_baselines(spec, info, str(path), store, experiment)
        return result, said.getvalue().splitlines()

    return SimpleNamespace(store=store, root=root, trained=trained, ensure=ensure, fps=fps, s3=s3_env)


def test_two_searches_at_once_train_each_baseline_once(baseline_setup):
    b = baseline_setup
    logs: dict[str, list[str]] = {"a": [], "c": []}
    out = {}
    barrier = threading.Barrier(2)

    def search(name):
        barrier.wait()
        out[name], logs[name] = b.ensure(name)

    threads = [threading.Thread(target=search, args=(n,)) for n in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(b.trained) == 1 and len(b.trained[0][1]) == 4, b.trained
    trainer = b.trained[0][0]
    waiter = "c" if trainer == "a" else "a"
    assert any("are being trained by " + trainer in line for line in logs[waiter]), logs
    assert any("reusing 4 baseline(s) trained meanwhile" in line for line in logs[waiter]), logs
    assert out["a"] == out["c"]
    left = sorted(k.rsplit("/", 1)[1] for k in _keys(b.s3, b.root + "/baselines"))
    assert left == sorted(f"{fp}.parquet" for fp in b.fps)  # and no claim left behind


def test_a_dead_claimers_baselines_are_taken_over(baseline_setup, monkeypatch):
    b = baseline_setup
    monkeypatch.setattr(claims_mod, "LEASE_S", 0.5)
    dead = Claims(b.root, owner="crashed-search")
    assert all(dead.acquire(fp) for fp in b.fps)  # claimed and never renewed: its search died
    started = time.monotonic()
    result, logs = b.ensure("survivor")
    assert time.monotonic() - started >= 0.5
    assert b.trained == [("survivor", [f"task_{i:02d}" for i in range(4)])]
    assert any("crashed-search" in line and "not been renewed" in line and "taking it over" in line for line in logs), logs
    assert {r["fingerprint"] for r in result.values()} == set(b.fps)


def test_a_claim_of_a_gone_process_on_this_machine_is_taken_over_at_once(baseline_setup, monkeypatch):
    b = baseline_setup
    monkeypatch.setattr(claims_mod, "LEASE_S", 600.0)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "getpid", lambda: int(gone.stdout))  # the claim names a process that has exited
        killed = Claims(b.root, owner="killed-launch")
        assert all(killed.acquire(fp) for fp in b.fps)
    _, logs = b.ensure("relaunched")
    assert b.trained == [("relaunched", [f"task_{i:02d}" for i in range(4)])]
    assert any("its process is gone" in line for line in logs), logs


def test_a_claim_released_without_baselines_is_claimed_again(baseline_setup):
    b = baseline_setup
    other = Claims(b.root, owner="failing-search")
    held = [other.acquire(fp) for fp in b.fps]
    threading.Timer(0.4, lambda: [c.release() for c in held]).start()  # its training failed
    _, logs = b.ensure("next")
    # the claims are released one by one, so "next" may train them in more than one batch, but each once
    assert {who for who, _ in b.trained} == {"next"}, b.trained
    assert sorted(t for _, tasks in b.trained for t in tasks) == [f"task_{i:02d}" for i in range(4)], b.trained
    assert any("released without a baseline" in line for line in logs), logs


# -- retries -----------------------------------------------------------------------------------


class FlakyProxy:
    """An HTTP proxy in front of the S3 server that answers ``503 SlowDown`` to the next ``fail`` requests."""

    SLOW_DOWN = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        b"<Message>Please reduce your request rate.</Message></Error>"
    )

    def __init__(self, upstream: str):
        host, port = upstream.split("://", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.fail = 0
        self.injected = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while (size := int(self.rfile.readline().split(b";")[0].strip(), 16)) > 0:
                        out += self.rfile.read(size)
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, status: int, headers: list, data: bytes, length: str | None = None) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", length if length is not None else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def handle_any(self):
                body = self._body()
                with proxy.lock:
                    fail = proxy.fail > 0
                    if fail:
                        proxy.fail -= 1
                        proxy.injected += 1
                if fail:
                    return self._reply(503, [("Content-Type", "application/xml")], proxy.SLOW_DOWN)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("transfer-encoding", "connection", "content-length")
                }
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                finally:
                    conn.close()
                keep = [
                    (k, v)
                    for k, v in r.getheaders()
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date")
                ]
                self._reply(r.status, keep, data, r.getheader("Content-Length", "0") if self.command == "HEAD" else None)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky(s3_env, monkeypatch):
    proxy = FlakyProxy(s3_env.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    monkeypatch.setattr(atomic, "S3_SDK_ATTEMPTS", 2)  # the SDK gives up after 2 attempts: our own retries take over
    monkeypatch.setattr(atomic, "RETRY_BASE_S", 0.05)
    yield proxy
    proxy.close()


def test_transient_s3_errors_are_retried_with_backoff(s3_env, flaky, caplog):
    store = ResultsStore(_prefix(s3_env, "flaky"))
    flaky.fail = 3  # 2 inside the SDK's first call, then ours retries
    store.write_experiment("exp", {"experiment": "exp"})
    flaky.fail = 3
    _trial(store, "exp", "t1", 1, 1.0)
    flaky.fail = 3
    assert store.read_experiment("exp") == {"experiment": "exp"}
    flaky.fail = 3
    assert store.read("exp", "trials").num_rows == 1
    flaky.fail = 3
    assert store.experiments() == ["exp"]
    assert flaky.injected == 15
    retried = [r for r in caplog.records if "transient store error" in r.getMessage()]
    assert retried and all("SLOW_DOWN" in r.getMessage() or "503" in r.getMessage() for r in retried)
    flaky.fail = 3  # claims (boto3) retry inside botocore
    assert Claims(store.root, owner="x").acquire("fp") is not None


def test_retries_give_up_on_persistent_or_permanent_errors(monkeypatch):
    calls = []

    def slow_down():
        calls.append(1)
        raise OSError("AWS Error SLOW_DOWN during PutObject operation: Please reduce your request rate.")

    sleeps: list[float] = []
    with pytest.raises(OSError, match="SLOW_DOWN"):
        atomic.with_retries(slow_down, "s3://b/k", attempts=4, sleep=sleeps.append)
    assert len(calls) == 4 and len(sleeps) == 3
    assert all(0 <= s <= atomic.RETRY_BASE_S * 2**i for i, s in enumerate(sleeps))  # exponential backoff, jittered

    def denied():
        calls.append(1)
        raise OSError("AWS Error ACCESS_DENIED during GetObject operation: Access Denied")

    calls.clear()
    with pytest.raises(OSError, match="ACCESS_DENIED"):
        atomic.with_retries(denied, "s3://b/k", attempts=4, sleep=sleeps.append)
    assert len(calls) == 1
    assert not atomic.is_transient(FileNotFoundError("s3://b/k"))
    assert atomic.is_transient(ConnectionResetError()) and atomic.is_transient(OSError("AWS Error UNKNOWN (HTTP status 503)"))


# -- searches on S3 ---------------------------------------------------------------------------

CLUSTER = """
import json, os, sys, ray
from mtlsearch.search.ray_env import runtime_env
ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False, runtime_env=runtime_env())
# the address, and the auth mode ray.init chose (token by default): launches connecting to it need the same
print(json.dumps({"address": ray.get_runtime_context().gcs_address,
                  "env": {k: v for k, v in os.environ.items() if k.startswith("RAY_AUTH")}}), flush=True)
sys.stdin.read()
ray.shutdown()
"""


@pytest.fixture(scope="module")
def s3_ray(s3_server, tmp_path_factory):
    """A local Ray cluster started with the S3 environment (so its workers see the endpoint and credentials)."""
    tmp = tmp_path_factory.mktemp("s3ray")
    env = {k: v for k, v in os.environ.items() if k not in _S3_ENV_NAMES}
    env.update(s3_server.env, XDG_CACHE_HOME=str(tmp / "cache"), PYTHONUNBUFFERED="1")
    log = open(tmp / "cluster.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-c", CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, text=True, cwd=REPO
    )
    try:
        line = proc.stdout.readline().strip()
        assert line, (tmp / "cluster.log").read_text()
        started = json.loads(line)
        env.update(started["env"])
        yield SimpleNamespace(address=started["address"], env=env, tmp=tmp)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _launch(s3_ray, spec: Path, storage: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mtlsearch.cli", "launch", str(spec), "--address", s3_ray.address, "--storage", storage],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        env=s3_ray.env,
        cwd=REPO,
    )


def _wait(procs: list[subprocess.Popen], logs: list[Path], timeout: float) -> None:
    deadline = time.time() + timeout
    try:
        for p, log in zip(procs, logs):
            rc = p.wait(timeout=max(1, deadline - time.time()))
            assert rc == 0, log.read_text()[-4000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _assert_no_secret_anywhere(s3, root: str, texts: list[str]) -> None:
    for key in _keys(s3, root):
        body = s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        assert S3_TEST_SECRET.encode() not in body, key
        assert b"AKIAMTLSEARCHTEST" not in body, key
    for text in texts:
        assert S3_TEST_SECRET not in text and "AKIAMTLSEARCHTEST" not in text


@pytest.mark.ray
def test_two_searches_share_one_s3_store(s3_server, s3_ray, tmp_path, monkeypatch):
    """Two launches at once, different experiments, one store: both complete, one STL training, consistent baselines."""
    root = _prefix(s3_server, "two")
    specs, logs = [], []
    for name in ("alpha", "beta"):
        spec = write_spec(
            tmp_path / f"{name}.yaml",
            tmp_path / "unused",
            experiment=name,
            num_samples=2,
            epochs=2,
            tasks=4,
            samples=600,
            asha="{enabled: false}",
            extra_train="driver_cpus: 0.5\ncpus_per_worker: 0.5",
        )
        spec.write_text(spec.read_text().replace("search:\n", "search:\n  max_concurrent_trials: 1\n"))
        specs.append(spec)
        logs.append(tmp_path / f"{name}.log")
    started = time.time()
    procs = [_launch(s3_ray, s, root, log) for s, log in zip(specs, logs)]
    _wait(procs, logs, timeout=480)  # about 90 s here; generous for a loaded CI machine (start-up dominates)
    took = time.time() - started
    texts = [log.read_text() for log in logs]

    # the baselines were trained once: one search claimed them, the other waited for its rows
    assert sum("training STL baselines" in t for t in texts) == 1, texts
    assert sum("are being trained by" in t or "reusing 4 stored STL baselines" in t for t in texts) == 1, texts
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    store = ResultsStore(root)
    keys = _keys(s3_server, root)
    assert not [k for k in keys if k.endswith(".claim")]
    baseline_files = [k for k in keys if k.split("/")[-2] == "baselines" and k.endswith(".parquet")]
    assert len(baseline_files) == 4
    metas = {name: store.read_experiment(name) for name in ("alpha", "beta")}
    assert metas["alpha"]["baselines"] == metas["beta"]["baselines"]  # both read the same rows
    fps = [b["fingerprint"] for b in metas["alpha"]["baselines"].values()]
    rows = store.read_baselines(fps)
    assert len(rows) == 4 and len({r["trained_by"] for r in rows.values()}) == 1
    runs = {k.split("/baselines/runs/")[1].split("/")[0] for k in keys if "/baselines/runs/" in k} - {
        ""
    }  # "": Ray's folder marker
    assert len(runs) == 1  # one STL run

    for name in ("alpha", "beta"):  # each experiment complete and readable
        status = store.read(name, "status").to_pylist()
        assert len(status) == 2 and all(s["status"] == "finished" for s in status), status
        trials = store.read(name, "trials").to_pylist()
        assert sorted((r["trial_id"], r["epoch"]) for r in trials) == sorted((s["trial_id"], e) for s in status for e in (1, 2))
        assert any(f"/experiments/{name}/tune/" in k for k in keys)
        # in-trial checkpoints live in Tune's trial folders, on S3
        assert any(f"/experiments/{name}/tune/" in k and "/checkpoint_" in k and k.endswith("state.pt") for k in keys)
        assert any(f"/experiments/{name}/tensorboard/" in k and "tfevents" in k for k in keys)
    _assert_no_secret_anywhere(s3_server, root, texts)
    print(f"two concurrent searches on S3: {took:.0f}s")


@pytest.mark.ray
def test_quickstart_on_s3_then_results(s3_server, s3_ray, tmp_path, monkeypatch, capsys):
    """``mtlsearch launch search_spaces/quickstart.yaml --storage s3://…`` (fewer trials and epochs), then ``results``."""
    from mtlsearch.cli import main

    text = (REPO / "search_spaces" / "quickstart.yaml").read_text()
    confirm = "  confirm: {top: 3, seeds: 3, each_architecture: true}"
    assert "  num_samples: 10 " in text and "  epochs: 8\n" in text and confirm in text
    spec = tmp_path / "quickstart.yaml"
    spec.write_text(
        text.replace("  num_samples: 10 ", "  num_samples: 3 ")
        .replace("  epochs: 8\n", "  epochs: 2\n")
        .replace(confirm, "  confirm: {top: 1, seeds: 2}")
    )
    root = _prefix(s3_server, "qs")
    log = tmp_path / "launch.log"
    _wait([_launch(s3_ray, spec, root, log)], [log], timeout=240)
    launched = log.read_text()
    assert f"results: {root}/experiments/quickstart" in launched
    assert f"AWS_ENDPOINT_URL={s3_server.endpoint} tensorboard --logdir {root}/experiments/quickstart/tensorboard" in launched
    # the report: written where the launch ran and copied to the store (a Ray Job's folder does not outlive it)
    assert f"report: copied to {root}/experiments/quickstart/report.html" in launched
    assert re.search(
        r"report: \S+/mtlsearch/reports/[0-9a-f]{16}/quickstart/report\.html ", launched
    )  # its local copy: the cache
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    from mtlsearch.store.atomic import read_bytes

    report = read_bytes(f"{root}/experiments/quickstart/report.html").decode()
    assert "<h2 id='leaderboard'>Leaderboard</h2>" in report and "<h2 id='groupings'>Grouping matrices</h2>" in report
    page = tmp_path / "quickstart_report.html"
    page.write_text(report, encoding="utf-8")
    dom = render_in_chromium(page, tmp_path, "quickstart_report_screenshot.png")
    for plot_id in (*PLOT_IDS, "plot-grouping-0"):  # every section of the quickstart's report, its heatmap included
        assert plot_has_image(dom, plot_id), plot_id

    assert main(["results", "quickstart", "--storage", root, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and all(set(r["tasks"]) == {f"task_{i:02d}" for i in range(8)} for r in rows)
    [confirmed] = [r["confirmation"] for r in rows if r["confirmation"]]  # the confirmation stage ran on S3 too
    assert confirmed["seeds"] == [1, 2] and len(confirmed["runs"]) == 2
    assert main(["results", "quickstart", "--storage", root]) == 0
    table = capsys.readouterr().out
    assert "Δm val" in table
    meta = ResultsStore(root).read_experiment("quickstart")
    assert meta["spec"]["storage"] == root
    _assert_no_secret_anywhere(s3_server, root, [launched, table, json.dumps(rows)])
    _assert_study_copied_to_the_store(s3_ray, root, launched, {r["trial_id"] for r in rows}, tmp_path, monkeypatch)


def _assert_study_copied_to_the_store(s3_ray, root: str, launched: str, trial_ids: set[str], tmp_path, monkeypatch) -> None:
    """The Optuna study was written in the launching machine's cache and copied whole to the store."""
    import optuna

    from mtlsearch.search import study
    from mtlsearch.store.atomic import read_bytes

    monkeypatch.setenv("XDG_CACHE_HOME", s3_ray.env["XDG_CACHE_HOME"])  # the launch's cache
    local = Path(study.local_journal_path(root, "quickstart"))
    assert f"optuna-dashboard {local}  (copied to {root}/experiments/quickstart/{study.JOURNAL_FILE})" in launched
    stored = read_bytes(f"{root}/experiments/quickstart/{study.JOURNAL_FILE}")
    assert stored == local.read_bytes()  # the last copy is the whole study
    copy = tmp_path / "downloaded.log"
    copy.write_bytes(stored)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(copy)))
    trials = optuna.load_study(study_name="quickstart", storage=storage).trials
    assert {t.user_attrs[study.TUNE_TRIAL_ID] for t in trials} == trial_ids
    assert all(t.state.is_finished() and t.params for t in trials)
    assert any(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
