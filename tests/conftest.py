"""Shared fixtures: one local Ray cluster per test session (started here, shut down at the end)."""

from __future__ import annotations

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


def write_spec(path: Path, storage: Path, experiment: str = "t", *, num_samples: int = 8, epochs: int = 4,
               tasks: int = 6, samples: int = 1500, extra_train: str = "", space: str | None = None,
               asha: str = "{enabled: true, grace_period: 1, reduction_factor: 2}") -> Path:
    """A small synthetic spec (fast enough for CI) written to ``path``."""
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
{textwrap.indent(extra_train, '  ')}
groupings:
  mixed: {mixed}
search:
  num_samples: {num_samples}
  scheduler: {asha}
  space:
    {space}
"""
    assert half
    path.write_text(text)
    return path
