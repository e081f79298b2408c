"""A real two-node Ray cluster on 127.0.0.1 (`ray start --head` + `ray start --address`), stopped at the end.

Started as cluster/README.md says, with token authentication on (``RAY_AUTH_MODE=token`` on every node and
client): the GCS rejects callers without the token, and mtlsearch says which variable or file such a caller lacks.
A search submitted as a Ray Job runs DDP trials with 2 Ray Train workers on different nodes (gloo across nodes);
then a search survives losing the second node.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import tune_results, write_spec

from mtlsearch.search.cluster_auth import (
    AUTH_MODE_VAR,
    OPEN,
    TOKEN_PATH_VAR,
    TOKEN_VAR,
    UNAUTHENTICATED,
    auth_problem,
    gcs_answer,
    local_token,
)
from mtlsearch.store.results import ResultsStore

pytestmark = pytest.mark.ray

RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_args(temp_dir: Path) -> list[str]:
    """Ports of one node's side processes, distinct from the session's own cluster on this machine."""
    return [
        "--node-ip-address=127.0.0.1",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--dashboard-agent-grpc-port={_free_port()}",
        f"--metrics-export-port={_free_port()}",
        f"--runtime-env-agent-port={_free_port()}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]


def _processes_under(temp_dir: Path) -> list[int]:
    """PIDs of the processes of this cluster (their command lines name its temp dir)."""
    out = subprocess.run(["pgrep", "-f", str(temp_dir)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


def _descendants(pids: set[int]) -> set[int]:
    """``pids`` and every process below them (a raylet's workers are its children)."""
    table = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout.split()
    children: dict[int, list[int]] = {}
    for pid, ppid in zip(map(int, table[::2]), map(int, table[1::2])):
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo += children.get(pid, [])
    return out


def _kill(pids: list[int], sig=signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class TwoNodeCluster:
    def __init__(self, root: Path):
        self.root = root
        # a short temp dir: Ray's socket paths must stay under 107 characters
        self.temp_dir = Path(f"/tmp/mtls-2n-{os.getpid()}")
        self.port = _free_port()
        self.dashboard_port = _free_port()
        # `ray start --head` turns on token authentication (the token lives in ~/.ray/auth_token); nodes joining
        # it and drivers connecting to it must use it too
        self.env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_AUTH_MODE": "token"}

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        # as cluster/README.md says: a token first (kept if one exists), then every node and client with RAY_AUTH_MODE=token
        subprocess.run([RAY, "get-auth-token", "--generate"], check=True, capture_output=True, env=self.env, timeout=60)
        subprocess.run(
            [
                RAY,
                "start",
                "--head",
                f"--port={self.port}",
                "--num-cpus=2",
                "--include-dashboard=true",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}",
                *_node_args(self.temp_dir),
            ],
            check=True,
            capture_output=True,
            env=self.env,
            timeout=120,
        )
        self.head_pids = set(_processes_under(self.temp_dir))
        subprocess.run(
            [
                RAY,
                "start",
                f"--address={self.address}",
                "--num-cpus=2",
                '--resources={"second_node": 1}',
                *_node_args(self.temp_dir),
            ],
            check=True,
            capture_output=True,
            env=self.env,
            timeout=120,
        )
        self.second_pids = set(_processes_under(self.temp_dir)) - self.head_pids  # its raylet and side processes
        deadline = time.time() + 60
        while self.alive_nodes() < 2:
            assert time.time() < deadline, "the second node did not join"
            time.sleep(1)

    def _ask(self, label: str, expression: str) -> float:
        """One number about the cluster, from a fresh driver (``expression`` evaluated after ``import ray``)."""
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import ray; ray.init(address=%r, log_to_driver=False); print(%r, %s)" % (self.address, f"{label}:", expression),
            ],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )
        # Ray may print its own lines (e.g. "raylet has lagging heartbeats") on stdout too
        found = re.findall(rf"^{label}: ([0-9.]+)$", out.stdout, re.MULTILINE) if out.returncode == 0 else []
        return float(found[-1]) if found else 0.0

    def alive_nodes(self) -> int:
        return int(self._ask("alive nodes", "sum(n['Alive'] for n in ray.nodes())"))

    def free_cpus(self) -> float:
        """CPUs no task, actor or placement group holds (what an earlier test's trials left reserved is not free)."""
        return self._ask("free cpus", "ray.available_resources().get('CPU', 0.0)")

    def trials_on_second_node(self) -> list[int]:
        """The processes of the second node that are running a Tune trial (Ray titles a function trainable's
        actor ``ray::ImplicitFunc.train``; an idle worker is ``ray::IDLE``)."""
        out = []
        for pid in _descendants(self.second_pids):
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::ImplicitFunc"):
                    out.append(pid)
            except OSError:
                pass
        return out

    def kill_second_node(self) -> None:
        """Lose the second node: SIGKILL its raylet and everything it started, its workers too (as a spot node vanishes)."""
        second = _descendants(self.second_pids)
        assert second, "no process of the second node found"
        _kill(sorted(second))

    def stop(self) -> None:
        _kill(_processes_under(self.temp_dir), signal.SIGTERM)
        time.sleep(2)
        _kill(_processes_under(self.temp_dir))
        subprocess.run(["rm", "-rf", str(self.temp_dir)], check=False)


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    cluster = TwoNodeCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        assert not _processes_under(cluster.temp_dir), "a process of the two-node cluster survived"


def _launch(spec: Path, address: str, log: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mtlsearch.cli", "launch", str(spec), "--address", address],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )


def _wait(proc: subprocess.Popen, timeout: float, log: Path) -> int:
    """The launch's exit code; on a timeout, fail with the end of its log."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"mtlsearch launch did not finish in {timeout:g} s; its log ends:\n{log.read_text()[-4000:]}")


def _results(store_root: Path, experiment: str) -> list[dict]:
    """Every epoch result Tune recorded for the experiment's trials."""
    return [r for rows in tune_results(store_root, experiment).values() for r in rows]


def _submit_job(two_nodes: TwoNodeCluster, spec: Path) -> subprocess.CompletedProcess:
    """`ray job submit -- mtlsearch launch SPEC` with the token (the entrypoint finds the cluster through RAY_ADDRESS)."""
    command = [sys.executable, "-m", "mtlsearch.cli", "launch", str(spec)]
    address = f"http://127.0.0.1:{two_nodes.dashboard_port}"
    return subprocess.run(
        [RAY, "job", "submit", "--address", address, "--", *command],
        capture_output=True,
        text=True,
        env=two_nodes.env,
        timeout=400,
    )


def test_the_cluster_asks_for_its_token(two_nodes):
    """Token authentication is on: the GCS rejects a call without the token or with a wrong one, and serves the token's."""
    assert gcs_answer(two_nodes.address, None) == UNAUTHENTICATED
    assert gcs_answer(two_nodes.address, "not-the-token") == UNAUTHENTICATED
    assert gcs_answer(two_nodes.address, local_token().token) == OPEN


def test_a_driver_without_the_token_is_told_what_it_lacks(two_nodes, tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_VAR, raising=False)
    monkeypatch.delenv(TOKEN_PATH_VAR, raising=False)
    monkeypatch.delenv(AUTH_MODE_VAR, raising=False)
    problem = auth_problem(two_nodes.address)  # the token is in ~/.ray/auth_token, but the mode is not set
    assert "RAY_AUTH_MODE is unset here" in problem and "export RAY_AUTH_MODE=token" in problem and "is accepted" in problem
    monkeypatch.setenv(AUTH_MODE_VAR, "token")
    assert auth_problem(two_nodes.address) is None
    monkeypatch.setenv("HOME", str(tmp_path))  # a machine the head's token was never copied to
    problem = auth_problem(two_nodes.address)
    assert f"{tmp_path}/.ray/auth_token does not exist" in problem and "$RAY_AUTH_TOKEN is unset" in problem
    assert "export RAY_AUTH_TOKEN=<token>" in problem
    monkeypatch.setenv(TOKEN_VAR, "not-the-token")
    assert "the token from $RAY_AUTH_TOKEN is not this cluster's" in auth_problem(two_nodes.address)
    # and the CLI says it: a launch from that machine fails with the missing file and variable named, no traceback
    monkeypatch.delenv(TOKEN_VAR)
    spec = write_spec(tmp_path / "s.yaml", tmp_path / "store", "no_token", num_samples=1, epochs=1, tasks=2)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    out = subprocess.run(
        [sys.executable, "-m", "mtlsearch.cli", "launch", str(spec), "--address", two_nodes.address],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "requires token authentication; RAY_AUTH_MODE=token, but no token here" in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr


def test_ddp_search_runs_as_a_ray_job_across_two_nodes(two_nodes, tmp_path):
    """The search submitted as a Ray Job with the token; its trial runs DDP with one worker on each node.

    One trial: what is tested is the job, the token and DDP across two nodes (``tests/test_distinct_configs.py``
    covers a space with fewer configurations than trials)."""
    extra = "workers: 2\ncpus_per_worker: 0.5\ndriver_cpus: 0.5\nplacement: strict_spread"
    spec = write_spec(
        tmp_path / "s.yaml",
        tmp_path / "store",
        "two_nodes",
        num_samples=1,
        epochs=2,
        tasks=4,
        extra_train=extra,
        asha="{enabled: false}",
        space="architecture: {choice: [GMTL]}\n    grouping: {choice: [planted]}",
    )
    out = _submit_job(two_nodes, spec)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "connected to" in log and "started a local cluster" not in log and "dashboard: http://" in log
    assert "train/val/test examples" in log and "mtlsearch: WARNING" not in log  # the split sizes, none empty
    results = _results(tmp_path / "store", "two_nodes")
    assert len({r["trial_id"] for r in results}) == 1 and sorted(r["epoch"] for r in results) == [1, 2]
    assert all(r["world_size"] == 2 and r["nodes"] == 2 for r in results)  # DDP over gloo between two nodes
    status = ResultsStore(str(tmp_path / "store")).read("two_nodes", "status").to_pylist()
    assert [s["status"] for s in status] == ["finished"]


def test_search_finishes_after_losing_a_node(two_nodes, tmp_path):
    """4 one-CPU trials on two nodes (2 CPUs each); the second node dies while a trial trains on it: that trial restarts
    on the surviving node and the search finishes with every epoch of every trial once.

    12 epochs: long enough that the second node's trials are still training when it is killed, on a loaded
    machine too (with 6, a clean-clone CI run saw all four finish first, so none had to restart)."""
    trials, epochs = 4, 12
    extra = "cpus_per_worker: 1\nmax_failures: 3"
    spec = write_spec(
        tmp_path / "s.yaml",
        tmp_path / "store",
        "node_loss",
        num_samples=trials,
        epochs=epochs,
        tasks=4,
        samples=12000,
        extra_train=extra,
        asha="{enabled: false}",
    )
    store = ResultsStore(str(tmp_path / "store"))
    # the 4 trials fill both nodes only once the module's earlier searches have released every CPU (a clean-clone
    # run saw two processes train all four trials one after the other, so the second node trained none)
    deadline = time.time() + 120
    while two_nodes.free_cpus() < 4:
        assert time.time() < deadline, f"the cluster still holds CPUs of earlier tests: {two_nodes.free_cpus()} of 4 free"
        time.sleep(2)
    proc = _launch(spec, two_nodes.address, tmp_path / "launch.log", two_nodes.env)
    try:
        deadline = time.time() + 300
        # the premise: a trial is training in a process of the second node when it is killed (clean-clone runs have
        # seen Ray run all four trials, two after two, in two processes of one node)
        while not (killed := two_nodes.trials_on_second_node()):
            assert proc.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
            assert time.time() < deadline, "no trial started on the second node in time"
            time.sleep(0.2)
        two_nodes.kill_second_node()
        assert _wait(proc, 400, tmp_path / "launch.log") == 0, (tmp_path / "launch.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.time() + 120  # the head declares the node dead after missed health checks
    while two_nodes.alive_nodes() != 1:
        assert time.time() < deadline, "the killed node is still alive"
        time.sleep(2)
    status = store.read("node_loss", "status").to_pylist()
    assert len(status) == trials and all(s["status"] == "finished" for s in status), [
        (s["status"], s["epochs_trained"], s.get("error")) for s in status
    ]
    rows = store.read("node_loss", "trials").to_pylist()
    keys = sorted((r["trial_id"], r["epoch"]) for r in rows)
    assert keys == sorted((s["trial_id"], e) for s in status for e in range(1, epochs + 1))  # each epoch once
    last_pid = {}
    for r in sorted(_results(tmp_path / "store", "node_loss"), key=lambda r: r["epoch"]):
        last_pid[r["trial_id"]] = r["pid"]
    assert len(last_pid) == trials
    # the trials that were training on the lost node finished in processes that survived it: they were restarted
    assert not set(last_pid.values()) & set(killed), (last_pid, killed)
