"""The ready cluster configs under cluster/, checked offline (no cloud, no Kubernetes, no Ray started).

* ``aws-gpu.yaml``: validated against the JSON schema the installed Ray ships
  (``ray/autoscaler/ray-schema.json``) and by Ray's own ``prepare_config`` +
  ``validate_config`` (what ``ray up`` runs before touching AWS), plus the
  fields this setup relies on: CPU head, spot and on-demand GPU types of the
  same shape, the project installed on boot, the start commands.
* ``spot_fallback.py``: Ray's v1 node-type selection (``get_nodes_for``, with
  the node types of ``aws-gpu.yaml``) picks spot, falls back to on-demand
  after a failed spot launch, and the head's start command wires the scorer
  the way Ray loads it.
* KubeRay manifests: the fields the ray.io/v1 CRDs and Kubernetes require,
  GPU workers, autoscaling, S3 credentials only from a Secret, a RayJob that
  runs ``mtlsearch launch`` on its own cluster.
* Every file: no inline AWS credential; every ``search_spaces/*.yaml`` named exists.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import sys
from functools import partial
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
AWS = CLUSTER / "aws-gpu.yaml"
RAYCLUSTER = CLUSTER / "kuberay-raycluster.yaml"
RAYJOB = CLUSTER / "kuberay-rayjob.yaml"
YAMLS = sorted(CLUSTER.glob("*.yaml"))
ALL_FILES = sorted(p for p in CLUSTER.iterdir() if p.is_file() and p.suffix != ".pyc")


def _load(path: Path) -> dict:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert len(docs) == 1, f"{path.name}: expected one YAML document, got {len(docs)}"
    return docs[0]


def _ray_version() -> str:
    import ray

    return ray.__version__


# ---------------------------------------------------------------- every file


def test_the_configs_exist():
    assert {p.name for p in YAMLS} >= {"aws-gpu.yaml", "kuberay-raycluster.yaml", "kuberay-rayjob.yaml"}
    assert (CLUSTER / "README.md").is_file() and (CLUSTER / "Dockerfile").is_file()


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_yaml_parses(path):
    for doc in yaml.safe_load_all(path.read_text()):
        assert doc is None or isinstance(doc, dict)


ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# `aws_secret_access_key = X`, `AWS_SECRET_ACCESS_KEY: X`, `AWS_SECRET_ACCESS_KEY="X"` (any case)
SECRET_ASSIGNMENT = re.compile(r"(?i)aws_secret_access_key[\"']?[ \t]*[=:][ \t]*[\"']?([^\s\"'},]*)")
PLACEHOLDER = re.compile(r"^(|\.\.\.|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^>]*>)$")


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_no_inline_aws_credentials(path):
    text = path.read_text()
    assert not ACCESS_KEY_ID.search(text), f"{path.name}: contains an AWS access key id"
    for m in SECRET_ASSIGNMENT.finditer(text):
        assert PLACEHOLDER.match(m.group(1)), f"{path.name}: a secret access key value is written out: {m.group(0)!r}"


def test_the_secret_patterns_catch_real_looking_values():
    assert ACCESS_KEY_ID.search("key AKIAIOSFODNN7EXAMPLE here")
    bad = SECRET_ASSIGNMENT.search("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert bad and not PLACEHOLDER.match(bad.group(1))
    for ok in ('AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"', "AWS_SECRET_ACCESS_KEY=...", "AWS_SECRET_ACCESS_KEY=${S}"):
        assert PLACEHOLDER.match(SECRET_ASSIGNMENT.search(ok).group(1)), ok


def test_every_spec_named_exists():
    named = set()
    for path in ALL_FILES:
        named |= set(re.findall(r"search_spaces/[\w.-]+\.ya?ml", path.read_text()))
    assert "search_spaces/ohsumed_grouping.yaml" in named
    for rel in sorted(named):
        spec = ROOT / rel
        assert spec.is_file(), f"{rel} is named in cluster/ but does not exist"
        assert isinstance(yaml.safe_load(spec.read_text()), dict)


def test_search_commands_join_the_cluster_and_use_a_shared_store():
    """Every `mtlsearch launch` submitted as a job passes --address auto (else it starts its own Ray)."""
    found = 0
    for path in ALL_FILES:
        text = path.read_text()
        # `ray job submit ... \` continued on the next line (in YAML comments too)
        for cmd in re.findall(r"ray job submit[^\n]*\\\n[#\s]*(mtlsearch launch[^\n]*)", text):
            found += 1
            assert "--address auto" in cmd, f"{path.name}: {cmd}"
    assert found >= 5
    entry = _load(RAYJOB)["spec"]["entrypoint"]
    assert "--address auto" in entry and "--storage s3://" in entry


# ---------------------------------------------------------------- AWS cluster launcher


@pytest.fixture(scope="module")
def aws() -> dict:
    return _load(AWS)


def test_aws_config_matches_rays_json_schema(aws):
    jsonschema = pytest.importorskip("jsonschema")
    import ray.autoscaler

    schema_path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    if not schema_path.is_file():
        pytest.skip(f"this Ray ({_ray_version()}) ships no {schema_path.name}")
    jsonschema.validate(aws, json.loads(schema_path.read_text()))


def test_aws_config_passes_ray_up_validation(aws):
    """The checks `ray up` makes before calling AWS: defaults filled in, schema, head type, commands."""
    pytest.importorskip("boto3")  # Ray's AWS provider (imported by prepare_config) needs it
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(aws))
    validate_config(prepared)
    assert prepared["available_node_types"][aws["head_node_type"]]["max_workers"] == 0


def test_aws_required_fields(aws):
    assert aws["cluster_name"]
    assert aws["provider"]["type"] == "aws" and aws["provider"]["region"]
    assert aws["provider"]["availability_zone"].startswith(aws["provider"]["region"])
    assert aws["provider"]["cache_stopped_nodes"] is False
    assert aws["auth"]["ssh_user"] == "ubuntu"
    assert isinstance(aws["max_workers"], int) and aws["max_workers"] > 0
    types = aws["available_node_types"]
    assert aws["head_node_type"] in types
    for name, nt in types.items():
        assert {"node_config", "resources"} <= set(nt), name
        assert nt["node_config"]["InstanceType"] and nt["node_config"]["ImageId"], name
        if name != aws["head_node_type"]:
            assert nt["min_workers"] == 0 and nt["max_workers"] > 0, name
    workers = sum(nt["max_workers"] for name, nt in types.items() if name != aws["head_node_type"])
    assert workers == aws["max_workers"], "max_workers should be the sum of the worker types' max_workers"


def test_aws_cpu_head_and_gpu_workers(aws):
    types = aws["available_node_types"]
    head = types[aws["head_node_type"]]
    assert head["resources"]["GPU"] == 0 and head["resources"]["CPU"] > 0
    gpu = {name: nt for name, nt in types.items() if nt["resources"].get("GPU", 0) >= 1}
    spot = {n: nt for n, nt in gpu.items() if nt["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot"}
    on_demand = {n: nt for n, nt in gpu.items() if "InstanceMarketOptions" not in nt["node_config"]}
    assert len(spot) == 1 and len(on_demand) == 1
    (spot_name, s), (od_name, o) = next(iter(spot.items())), next(iter(on_demand.items()))
    assert "spot" in spot_name and "spot" not in od_name  # what spot_fallback.py keys on
    # the fallback is the same node: same resources, same instance type and image
    assert s["resources"] == o["resources"]
    assert s["node_config"]["InstanceType"] == o["node_config"]["InstanceType"]
    assert s["node_config"]["ImageId"] == o["node_config"]["ImageId"]
    assert s.get("priority", 0) > o.get("priority", 0)  # autoscaler v2's tie-break, same order
    # workers write to S3 through an instance profile, never keys
    for nt in gpu.values():
        assert "IamInstanceProfile" in nt["node_config"]


def test_aws_installs_the_project_on_boot(aws):
    setup = "\n".join(aws["setup_commands"])
    assert "torch==2.13.0" in setup
    assert re.search(r"pip install[^\n]*mtlsearch(\[s3\])?", setup)
    assert setup.index("torch==2.13.0") < setup.index("mtlsearch[s3]"), "torch first, as in scripts/install.sh"
    assert "--python 3.11" in setup
    # the synced working tree the editable install points at
    mounts = aws["file_mounts"]
    assert mounts["~/mtlsearch"] == "."
    for local in mounts.values():
        assert (ROOT / local).exists(), f"file mount source {local} (relative to the repository root) is missing"
    assert ".venv" in aws["rsync_exclude"]


def test_aws_start_commands(aws):
    head = " ".join(aws["head_start_ray_commands"])
    assert "ray start --head" in head and "--port=6379" in head
    assert "--autoscaling-config=~/ray_bootstrap_config.yaml" in head
    assert "--dashboard-host=0.0.0.0" in head
    worker = " ".join(aws["worker_start_ray_commands"])
    assert "ray start --address=$RAY_HEAD_IP:6379" in worker
    assert aws["head_start_ray_commands"][0] == "ray stop" and aws["worker_start_ray_commands"][0] == "ray stop"


# ---------------------------------------------------------------- spot fallback


@pytest.fixture(scope="module")
def scorer():
    sys.path.insert(0, str(CLUSTER))
    try:
        yield importlib.import_module("spot_fallback").spot_then_on_demand
    finally:
        sys.path.remove(str(CLUSTER))


def _env_of_head_start(aws) -> dict[str, str]:
    return dict(re.findall(r"export (\w+)=([^;\s]+);", " ".join(aws["head_start_ray_commands"])))


def _choose(aws, scorer, failed: set[str], demands: list[dict], existing: dict[str, int] | None = None) -> dict[str, int]:
    """The node types Ray's v1 autoscaler would launch for `demands` with this scorer."""
    from ray.autoscaler._private.node_provider_availability_tracker import (
        NodeAvailabilityRecord,
        NodeAvailabilitySummary,
        UnavailableNodeInformation,
    )
    from ray.autoscaler._private.resource_demand_scheduler import get_nodes_for

    records = {
        t: NodeAvailabilityRecord(t, False, 0.0, UnavailableNodeInformation("InsufficientInstanceCapacity", "no spot capacity"))
        for t in failed
    }
    summary = NodeAvailabilitySummary(records)
    types = copy.deepcopy(aws["available_node_types"])
    head = aws["head_node_type"]
    types[head]["max_workers"] = 0
    launch, _ = get_nodes_for(
        types, {head: 1, **(existing or {})}, head, 100, demands, partial(scorer, node_availability_summary=summary)
    )
    return dict(launch)


def _gpu_types(aws) -> tuple[str, str]:
    types = aws["available_node_types"]
    spot = next(n for n, nt in types.items() if "InstanceMarketOptions" in nt["node_config"])
    od = next(n for n, nt in types.items() if nt["resources"].get("GPU", 0) and n != spot)
    return spot, od


def test_rays_default_scorer_does_not_fall_back(aws):
    """Why spot_fallback.py exists: with Ray's own scorer a failed spot type is asked for again."""
    from ray.autoscaler._private.resource_demand_scheduler import _default_utilization_scorer

    spot, _ = _gpu_types(aws)
    assert _choose(aws, _default_utilization_scorer, {spot}, [{"CPU": 1, "GPU": 1}]) == {spot: 1}


def test_gpu_demand_gets_spot(aws, scorer):
    spot, _ = _gpu_types(aws)
    assert _choose(aws, scorer, set(), [{"CPU": 1, "GPU": 1}] * 3) == {spot: 3}


def test_failed_spot_launch_falls_back_to_on_demand(aws, scorer):
    spot, od = _gpu_types(aws)
    assert _choose(aws, scorer, {spot}, [{"CPU": 1, "GPU": 1}] * 2) == {od: 2}


def test_fallback_is_capped_by_the_on_demand_max_workers(aws, scorer):
    spot, od = _gpu_types(aws)
    cap = aws["available_node_types"][od]["max_workers"]
    # on-demand full: the demand goes back to asking for spot (the only type left)
    assert _choose(aws, scorer, {spot}, [{"CPU": 1, "GPU": 1}], existing={od: cap}) == {spot: 1}


def test_cpu_only_demand_does_not_start_gpu_nodes_while_another_fits(aws, scorer):
    """Ray's first key (no GPU node for CPU-only work) still comes before availability."""
    spot, od = _gpu_types(aws)
    assert scorer({"CPU": 4, "GPU": 1}, [{"CPU": 1}], spot, node_availability_summary=None)[0] is False
    assert scorer({"CPU": 4, "GPU": 1}, [{"GPU": 2}], spot, node_availability_summary=None) is None


def test_head_start_command_loads_the_scorer_the_way_ray_does(aws, scorer, monkeypatch):
    from ray.autoscaler._private.constants import AUTOSCALER_UTILIZATION_SCORER_KEY
    from ray.autoscaler._private.resource_demand_scheduler import ResourceDemandScheduler

    env = _env_of_head_start(aws)
    assert env.get("RAY_enable_autoscaler_v2") == "0", "the scorer is an autoscaler v1 hook"
    assert AUTOSCALER_UTILIZATION_SCORER_KEY in env
    # PYTHONPATH holds the folder that file_mounts fills from cluster/
    mount = next(remote for remote, local in aws["file_mounts"].items() if local == "cluster")
    assert mount.replace("~", "$HOME") in " ".join(aws["head_start_ray_commands"])
    monkeypatch.setenv(AUTOSCALER_UTILIZATION_SCORER_KEY, env[AUTOSCALER_UTILIZATION_SCORER_KEY])
    sched = ResourceDemandScheduler(None, aws["available_node_types"], aws["max_workers"], aws["head_node_type"], 1.0)
    assert sched.utilization_scorer is scorer


# ---------------------------------------------------------------- KubeRay


def _check_pod_template(template: dict, where: str) -> list[dict]:
    containers = template["spec"]["containers"]
    assert containers, where
    for c in containers:
        assert c["name"] and c["image"], where
        for e in c.get("env", []):
            if e["name"].startswith("AWS_"):
                assert "value" not in e, f"{where}: {e['name']} written inline; take it from a Secret"
                assert e["valueFrom"]["secretKeyRef"]["name"], where
    return containers


def _check_raycluster_spec(spec: dict, where: str) -> None:
    assert spec["rayVersion"].split(".")[:2] == _ray_version().split(".")[:2], f"{where}: rayVersion vs installed Ray"
    assert spec["enableInTreeAutoscaling"] is True
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    head_containers = _check_pod_template(head["template"], f"{where} head")
    assert any(p["containerPort"] == 8265 for p in head_containers[0]["ports"]), "dashboard / job API port"
    assert "nvidia.com/gpu" not in head_containers[0]["resources"].get("limits", {}), "CPU head"
    groups = spec["workerGroupSpecs"]
    assert groups
    for g in groups:
        for key in ("groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template"):
            assert key in g, f"{where}: worker group lacks {key}"
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"], f"{where} {g['groupName']}"
        _check_pod_template(g["template"], f"{where} {g['groupName']}")
    gpu = [g for g in groups if "nvidia.com/gpu" in g["template"]["spec"]["containers"][0]["resources"]["limits"]]
    assert gpu and gpu[0]["minReplicas"] == 0 and gpu[0]["maxReplicas"] > 0


def test_raycluster_manifest():
    doc = _load(RAYCLUSTER)
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayCluster" and doc["metadata"]["name"]
    _check_raycluster_spec(doc["spec"], "RayCluster")


def test_rayjob_manifest():
    doc = _load(RAYJOB)
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayJob" and doc["metadata"]["name"]
    spec = doc["spec"]
    assert spec["entrypoint"].startswith("mtlsearch launch ")
    assert re.search(r"mtlsearch launch search_spaces/\S+\.yaml", spec["entrypoint"])
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert isinstance(runtime_env, dict) and runtime_env["working_dir"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert ("rayClusterSpec" in spec) != ("clusterSelector" in spec)
    _check_raycluster_spec(spec["rayClusterSpec"], "RayJob")


def test_manifests_use_the_image_the_dockerfile_builds():
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    base = re.search(r"^FROM rayproject/ray:(\S+)", dockerfile, re.M).group(1)
    assert base.startswith(_ray_version()) and "py311" in base
    assert "torch==2.13.0" in dockerfile and "[s3]" in dockerfile
    for path in (RAYCLUSTER, RAYJOB):
        images = set(re.findall(r"^\s*image: (\S+)", path.read_text(), re.M))
        assert images == {"mtlsearch:0.1.0"}, f"{path.name}: {images}"
