"""Shared fixtures: one local Ray cluster per test session (started here, shut down at the end)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MTLSEARCH_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster with the dashboard on (ASHA-stopped trials free their placement groups only then).

    Yields the GCS address, so tests can point `mtlsearch launch --address` subprocesses at it.
    """
    import ray

    from mtlsearch.search.ray_env import runtime_env

    ctx = ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False, runtime_env=runtime_env())
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
    del ctx


S3_TEST_SECRET = "mtlsearch-fake-secret-0d9c7e51a4"
"""The fake secret key the S3 tests run with: nothing mtlsearch writes or prints may contain it."""
S3_BUCKET = "mtlsearch-test"
_S3_ENV_NAMES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3-compatible HTTP server on 127.0.0.1 (moto's server mode) with one bucket, stopped at the end.

    Yields ``endpoint``, ``bucket`` and ``env``: the AWS variables that point a process at it (fake
    credentials, no profile or config file). The variables are not set here: use ``s3_env`` in a test,
    or pass ``env`` to a subprocess.
    """
    import logging
    from types import SimpleNamespace

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in captured logs
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        empty = tmp_path_factory.mktemp("aws")
        env = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "AKIAMTLSEARCHTEST000",
            "AWS_SECRET_ACCESS_KEY": S3_TEST_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(empty / "config"),  # never the user's own profiles
            "AWS_SHARED_CREDENTIALS_FILE": str(empty / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_TEST_SECRET,
        )
        client.create_bucket(Bucket=S3_BUCKET)
        yield SimpleNamespace(endpoint=env["AWS_ENDPOINT_URL"], bucket=S3_BUCKET, env=env, client=client, secret=S3_TEST_SECRET)
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """This test's process environment pointed at ``s3_server`` (restored afterwards)."""
    for name in _S3_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server


def tune_results(store_root: Path, experiment: str) -> dict[str, list[dict]]:
    """Every epoch result Tune recorded for an experiment's trials (their result.json lines), per trial id."""
    out: dict[str, list[dict]] = {}
    for f in sorted((Path(store_root) / "experiments" / experiment / "tune").glob("*/result.json")):
        rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        if rows:
            out[rows[0]["trial_id"]] = rows
    return out


def write_spec(
    path: Path,
    storage: Path,
    experiment: str = "t",
    *,
    num_samples: int = 8,
    epochs: int = 4,
    tasks: int = 6,
    samples: int = 1500,
    extra_train: str = "",
    space: str | None = None,
    asha: str = "{enabled: true, grace_period: 1, reduction_factor: 2}",
    search_extra: str = "",
    extra: str = "",
) -> Path:
    """A small synthetic spec (fast enough for CI) written to ``path``; ``search_extra``: more ``search:`` fields
    (e.g. ``confirm: {top: 2, seeds: 2}``), ``extra``: more top-level fields (e.g. ``evaluation: {...}``)."""
    space = space or textwrap.dedent(
        """\
        architecture: {choice: [STL, MTL, GMHL, GMTL]}
            grouping: {choice: [planted, mixed]}
            lr: {loguniform: [0.001, 0.01]}"""
    )
    half = tasks // 2
    mixed = [[f"task_{i:02d}" for i in range(0, tasks, 2)], [f"task_{i:02d}" for i in range(1, tasks, 2)]]
    text = f"""\
experiment: {experiment}
seed: 0
storage: {storage}
dataset:
  loader: synthetic
  options: {{num_tasks: {tasks}, num_groups: 2, num_samples: {samples}, seed: 0, multiclass_tasks: 1, imbalance: 0.1}}
model:
  encoder: {{type: mlp, hidden_dims: [32, 16]}}
train:
  epochs: {epochs}
  batch_size: 64
  lr: 0.003
{textwrap.indent(extra_train, "  ")}
groupings:
  mixed: {mixed}
search:
  num_samples: {num_samples}
  scheduler: {asha}
{textwrap.indent(search_extra, "  ")}
  space:
    {space}
{extra}
"""
    assert half
    path.write_text(text)
    return path


def all_task_job(path, seed: int = 0):
    """A one-epoch all-task (MTL) job on a canonical table: MLP [64, 32], batch 128, Adam lr 1e-3, one thread
    (the benchmark's setting, for the grouping methods' runs)."""
    from dataclasses import asdict

    from mtlsearch.data.canonical import read_info
    from mtlsearch.models.plan import make_plan
    from mtlsearch.train.job import TrainJob

    info = read_info(path)
    return TrainJob(
        dataset_path=str(path),
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan("MTL", info.task_names).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [64, 32]},
        epochs=1,
        batch_size=128,
        lr=1e-3,
        seed=seed,
        torch_threads=1,
    )


def render_in_chromium(page: Path, tmp_path: Path, screenshot: str) -> str:
    """Render the HTML file ``page`` in headless Chromium: save a full-page PNG ``screenshot`` in the test artifacts
    (``$MTLSEARCH_TEST_ARTIFACTS``, else ``tests/artifacts``), check the page logged no console error, and return
    the DOM as the browser built it. Skips, saying why, where no Chromium is installed (``.ci/run`` installs it)."""
    import re
    import shutil
    import subprocess
    import sys

    browser = next((shutil.which(c) for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
    if browser is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium where apt can)")
    artifacts = Path(os.environ.get("MTLSEARCH_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / screenshot
    shot.unlink(missing_ok=True)
    flags = ["--headless=new", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage"]
    flags.append("--user-data-dir=" + str(tmp_path / "chromium-profile"))
    url = page.resolve().as_uri()
    run = subprocess.run(
        [browser, *flags, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", "--window-size=1400,3000", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(f"screenshot of {page.name}: {shot}", file=sys.stderr)  # stderr: a test may parse its stdout
    assert shot.is_file() and shot.stat().st_size > 10_000, run.stderr[-2000:]
    assert not re.search(r"Uncaught|ERROR:CONSOLE", run.stderr), run.stderr[-2000:]
    return subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout


def plot_has_image(dom: str, plot_id: str) -> bool:
    """Whether the rendered ``dom`` holds the report's ``<img id=plot_id>`` with embedded PNG data (not empty)."""
    import re

    return re.search(rf'<img id="{plot_id}"[^>]* src="data:image/png;base64,[A-Za-z0-9+/=]{{1000,}}"', dom) is not None
