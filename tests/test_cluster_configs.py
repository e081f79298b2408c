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
* KubeRay manifests (cluster/kuberay/: a RayCluster, a RayJob and its
  clusterSelector variant, each a kustomization): every variant as kustomize
  builds it (the real ``kubectl kustomize`` when installed, compared with the
  emulation in tests/kuberay_checks.py), validated strictly against the CRD
  schemas of a pinned KubeRay (tests/data/kuberay) and KubeRay's own
  validation.go rules; one place sets the image; token authentication on;
  GPU workers, autoscaling, S3 credentials only from a Secret, a RayJob that
  runs ``mtlsearch launch``. Broken manifests are shown to fail each check.
* Every file: no inline AWS credential; every ``search_spaces/*.yaml`` named exists.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import yaml
from kuberay_checks import (  # tests/kuberay_checks.py (tests/ is on sys.path, as for every test module here)
    KUBERAY_COMMIT,
    KUBERAY_VERSION,
    apply_image_override,
    containers,
    crd_validator,
    kustomize_build,
    raycluster_errors,
    rayjob_spec_errors,
    schema_errors,
    split_image,
)

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
AWS = CLUSTER / "aws-gpu.yaml"
KUBERAY = CLUSTER / "kuberay"
RAYCLUSTER = KUBERAY / "raycluster" / "raycluster.yaml"
RAYJOB = KUBERAY / "rayjob" / "rayjob.yaml"
IMAGE_KUSTOMIZATION = KUBERAY / "image" / "kustomization.yaml"
YAMLS = sorted(CLUSTER.rglob("*.yaml"))
ALL_FILES = sorted(p for p in CLUSTER.rglob("*") if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts)


def _load(path: Path) -> dict:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert len(docs) == 1, f"{path.name}: expected one YAML document, got {len(docs)}"
    return docs[0]


def _ray_version() -> str:
    import ray

    return ray.__version__


# ---------------------------------------------------------------- every file


def test_the_configs_exist():
    assert AWS.is_file() and RAYCLUSTER.is_file() and RAYJOB.is_file() and IMAGE_KUSTOMIZATION.is_file()
    assert (CLUSTER / "README.md").is_file() and (CLUSTER / "Dockerfile").is_file()


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: str(p.relative_to(CLUSTER)))
def test_yaml_parses(path):
    for doc in yaml.safe_load_all(path.read_text()):
        assert doc is None or isinstance(doc, dict)


ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# `aws_secret_access_key = X`, `AWS_SECRET_ACCESS_KEY: X`, `AWS_SECRET_ACCESS_KEY="X"` (any case)
SECRET_ASSIGNMENT = re.compile(r"(?i)aws_secret_access_key[\"']?[ \t]*[=:][ \t]*[\"']?([^\s\"'},]*)")
PLACEHOLDER = re.compile(r"^(|\.\.\.|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^>]*>)$")


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(CLUSTER)))
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
    for remote, local in mounts.items():
        if remote == TOKEN_FILE:
            continue  # from the user's home, not the repository (test_aws_token_auth_on_every_node)
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


TOKEN_FILE = "~/.ray/auth_token"  # where Ray 2.60 reads the token (ray/_private/authentication/authentication_token_setup.py)


def test_aws_token_auth_on_every_node(aws):
    """Head and workers start with RAY_AUTH_MODE=token and the same token file, so autoscaled workers can join.

    `ray start --head` turns token auth on by itself whenever ~/.ray/auth_token exists and
    RAY_AUTH_MODE is unset, but `ray start --address` never does: a worker without
    RAY_AUTH_MODE=token cannot join such a head. Both commands set it explicitly here.
    """
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = next(c for c in aws[key] if "ray start" in c)
        assert "export RAY_AUTH_MODE=token;" in start, f"aws-gpu.yaml {key}: `ray start` without RAY_AUTH_MODE=token"
        assert start.index("export RAY_AUTH_MODE=token;") < start.index("ray start"), key
    # the token reaches every node (the head's autoscaler syncs file_mounts to the workers it starts)
    assert aws["file_mounts"].get(TOKEN_FILE) == TOKEN_FILE, (
        f"aws-gpu.yaml file_mounts should copy {TOKEN_FILE} from your machine"
    )
    setup = "\n".join(aws["setup_commands"])
    assert "chmod 600 ~/.ray/auth_token" in setup
    assert "export RAY_AUTH_MODE=token' >> ~/.bashrc" in setup, "commands run with `ray exec` (ray status) need it too"
    assert not re.search(r"RAY_AUTH_TOKEN=\S", AWS.read_text()), "never write the token into the config"


def test_aws_gpu_nodes_check_the_driver_floor(aws):
    """torch 2.13's CUDA 13.0 build needs NVIDIA driver >= 580.65.06; GPU workers refuse an older one."""
    check = " ".join(aws["worker_setup_commands"])
    assert "580.65.06" in check and "nvidia-smi --query-gpu=driver_version" in check and "sort -V -C" in check


def test_the_driver_check_compares_versions():
    """The worker setup command's comparison (sort -V -C) on a few driver versions."""
    if not shutil.which("sort"):
        pytest.skip("no sort")

    def ok(v: str) -> bool:
        return subprocess.run(["sort", "-V", "-C"], input=f"580.65.06\n{v}\n", text=True).returncode == 0

    assert ok("580.65.06") and ok("580.95.05") and ok("590.44.01")
    assert not ok("570.172.08") and not ok("535.247.01") and not ok("")


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


VARIANTS = ("raycluster", "rayjob", "rayjob-on-raycluster")
CRD_OF_KIND = {"RayCluster": "rayclusters", "RayJob": "rayjobs"}


@pytest.fixture(scope="module")
def validators() -> dict:
    pytest.importorskip("jsonschema")
    return {kind: crd_validator(plural) for kind, plural in CRD_OF_KIND.items()}


def _only(docs: list[dict], where: str) -> dict:
    assert len(docs) == 1, f"{where}: expected one manifest, got {len(docs)}"
    return docs[0]


@pytest.fixture(scope="module")
def built() -> dict[str, dict]:
    """Each variant's manifest as `kubectl kustomize cluster/kuberay/<variant>` prints it."""
    return {v: _only(kustomize_build(KUBERAY / v), f"cluster/kuberay/{v}") for v in VARIANTS}


def _kustomize_cli() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


@pytest.mark.parametrize("variant", VARIANTS)
def test_kustomize_builds_what_the_emulation_builds(variant, built):
    """The real kustomize, where installed, gives the same manifest as tests/kuberay_checks.py's emulation."""
    cli = _kustomize_cli()
    if cli is None:
        pytest.skip("neither kustomize nor kubectl is installed; the emulation alone is checked")
    out = subprocess.run([*cli, str(KUBERAY / variant)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{' '.join(cli)} cluster/kuberay/{variant}: {out.stderr}"
    real = _only([d for d in yaml.safe_load_all(out.stdout) if d], f"{cli[0]} output of cluster/kuberay/{variant}")
    assert real == built[variant]


def test_the_variants_are_the_documented_kinds(built):
    assert built["raycluster"]["kind"] == "RayCluster"
    assert built["rayjob"]["kind"] == "RayJob" and "rayClusterSpec" in built["rayjob"]["spec"]
    selector = built["rayjob-on-raycluster"]["spec"]
    assert "rayClusterSpec" not in selector and "ttlSecondsAfterFinished" not in selector
    assert selector["clusterSelector"] == {"ray.io/cluster": built["raycluster"]["metadata"]["name"]}
    assert selector["shutdownAfterJobFinishes"] is False


# ------------------------------------------ the CRD schemas of the pinned KubeRay


def test_the_vendored_crds_are_the_pinned_kuberay():
    readme = (ROOT / "tests" / "data" / "kuberay" / "README.md").read_text()
    assert KUBERAY_COMMIT in readme and KUBERAY_VERSION in readme
    for plural in CRD_OF_KIND.values():
        assert f"ray.io_{plural}.v1.schema.json.gz" in readme


@pytest.mark.parametrize("variant", VARIANTS)
def test_manifests_match_the_crd_schema(variant, built, validators):
    doc = built[variant]
    errors = schema_errors(validators[doc["kind"]], doc, f"cluster/kuberay/{variant}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("path", [RAYCLUSTER, RAYJOB], ids=lambda p: p.parent.name)
def test_raw_manifests_match_the_crd_schema(path, validators):
    doc = _load(path)
    errors = schema_errors(validators[doc["kind"]], doc, str(path.relative_to(ROOT)))
    assert not errors, "\n".join(errors)


def _break(doc: dict, path: str, value, delete: bool = False) -> dict:
    """A copy of `doc` with the slash-separated `path` set to `value` (or deleted)."""
    bad = copy.deepcopy(doc)
    *parents, last = path.split("/")
    node = bad
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if delete:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return bad


HEAD = "spec/headGroupSpec/template/spec/containers/0"
WORKER = "spec/workerGroupSpecs/0"


@pytest.mark.parametrize(
    "path, value, expect",
    [
        ("spec/workerGroupSpec", [], "Additional properties are not allowed ('workerGroupSpec'"),  # typo of a spec field
        (f"{HEAD}/imagePullPolicyy", "Always", "Additional properties are not allowed ('imagePullPolicyy'"),  # in a pod template
        ("metadata/lables", {"a": "b"}, "Additional properties are not allowed ('lables'"),
        (f"{WORKER}/maxReplicas", "8", "'8' is not of type 'integer'"),  # wrong type
        (f"{WORKER}/replicas", 1.5, "1.5 is not of type 'integer'"),
        ("spec/authOptions/mode", "tokens", "'tokens' is not one of ['disabled', 'token']"),
        (f"{HEAD}/resources/limits/cpu", ["4"], "is not valid under any of the given schemas"),  # int-or-string
        ("spec/enableInTreeAutoscaling", "true", "'true' is not of type 'boolean'"),
    ],
)
def test_the_schema_check_rejects_broken_manifests(validators, path, value, expect):
    """Strict validation: an unknown field or a wrong type fails, as `kubectl apply` (strict field validation) does."""
    bad = _break(_load(RAYCLUSTER), path, value)
    errors = schema_errors(validators["RayCluster"], bad, "broken RayCluster")
    assert any(expect in e for e in errors), errors


def test_int_or_string_and_open_fields_accept_what_kubernetes_accepts(validators):
    doc = _load(RAYCLUSTER)
    for cpu in (4, "4", "500m"):
        assert not schema_errors(validators["RayCluster"], _break(doc, f"{HEAD}/resources/limits/cpu", cpu), "ok")
    # rayStartParams is a map of strings: any key
    assert not schema_errors(validators["RayCluster"], _break(doc, "spec/headGroupSpec/rayStartParams/num-cpus", "0"), "ok")
    rayjob = _load(RAYJOB)
    bad = _break(rayjob, "spec/rayClusterSpec/workerGroupSpecs/0/template/spec/tolerations/0/effect", 3)
    assert any("3 is not of type 'string'" in e for e in schema_errors(validators["RayJob"], bad, "broken RayJob"))
    assert any(
        "shutdownAfterJobFinish" in e
        for e in schema_errors(validators["RayJob"], _break(rayjob, "spec/shutdownAfterJobFinish", True), "x")
    )


# ------------------------------------------ KubeRay's validation.go rules


@pytest.mark.parametrize("variant", ["rayjob", "rayjob-on-raycluster"])
def test_rayjobs_pass_kuberays_validation(variant, built):
    errors = rayjob_spec_errors(built[variant])
    assert not errors, f"cluster/kuberay/{variant}: {errors}"


def test_raycluster_passes_kuberays_validation(built):
    errors = raycluster_errors(built["raycluster"])
    assert not errors, f"cluster/kuberay/raycluster: {errors}"


TTL_RULE = "a RayJob with shutdownAfterJobFinishes set to false cannot have TTLSecondsAfterFinished"


def test_the_old_documented_clusterselector_edit_is_rejected(built):
    """The edit the RayJob's comment used to ask for: clusterSelector in, shutdownAfterJobFinishes out, TTL kept."""
    old = copy.deepcopy(built["rayjob"])
    del old["spec"]["rayClusterSpec"], old["spec"]["shutdownAfterJobFinishes"]
    old["spec"]["clusterSelector"] = {"ray.io/cluster": "mtlsearch"}
    assert any(TTL_RULE in e for e in rayjob_spec_errors(old))


@pytest.mark.parametrize(
    "variant, path, value, expect",
    [
        ("rayjob-on-raycluster", "spec/ttlSecondsAfterFinished", 300, TTL_RULE),
        ("rayjob", "spec/shutdownAfterJobFinishes", False, TTL_RULE),
        (
            "rayjob-on-raycluster",
            "spec/clusterSelector",
            {"ray.io/cluster": ""},
            "cluster name in ClusterSelector should not be empty",
        ),
        (
            "rayjob-on-raycluster",
            "spec/clusterSelector",
            {"app": "mtlsearch"},
            "cluster name in ClusterSelector should not be empty",
        ),
        ("rayjob-on-raycluster", "spec/backoffLimit", 2, "BackoffLimit is incompatible with ClusterSelector mode"),
        ("rayjob-on-raycluster", "spec/submissionMode", "SidecarMode", "ClusterSelector is not supported in SidecarMode"),
        ("rayjob-on-raycluster", "spec/suspend", True, "the ClusterSelector mode doesn't support the suspend operation"),
        ("rayjob", "spec/ttlSecondsAfterFinished", -1, "TTLSecondsAfterFinished must be a non-negative integer"),
        ("rayjob", "spec/rayClusterSpec/rayVersion", "2.50.0", "authOptions.mode is 'token' but minimum Ray version is 2.52.0"),
        ("rayjob", "spec/rayClusterSpec/workerGroupSpecs/0/minReplicas", 9, "has minReplicas 9 greater than maxReplicas 8"),
        ("rayjob", "metadata/name", "mtlsearch-" + "x" * 40, "RayJob name should be no more than 47 characters"),
    ],
)
def test_kuberays_validation_rejects_broken_rayjobs(built, variant, path, value, expect):
    errors = rayjob_spec_errors(_break(built[variant], path, value))
    assert any(expect in e for e in errors), errors


def test_a_rayjob_needs_a_cluster_spec_or_a_selector(built):
    bad = _break(built["rayjob-on-raycluster"], "spec/clusterSelector", None, delete=True)
    assert any("one of RayClusterSpec or ClusterSelector must be set" in e for e in rayjob_spec_errors(bad))


# ------------------------------------------ one place sets the image


def _image_entry() -> dict:
    k = yaml.safe_load(IMAGE_KUSTOMIZATION.read_text())
    assert k["kind"] == "Component" and len(k["images"]) == 1, f"{IMAGE_KUSTOMIZATION.name}: one images: entry expected"
    return k["images"][0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_includes_the_image_component(variant):
    """Each variant takes its image from cluster/kuberay/image (directly or through ../rayjob)."""
    k = yaml.safe_load((KUBERAY / variant / "kustomization.yaml").read_text())
    via = [c for c in k.get("components", [])] + [r for r in k.get("resources", []) if (KUBERAY / variant / r).is_dir()]
    assert "../image" in via or "../rayjob" in via, f"cluster/kuberay/{variant}/kustomization.yaml: {via}"


def test_one_place_sets_the_image(built):
    entry = _image_entry()
    expected = apply_image_override(f"{entry['name']}:any", entry)
    for path in (RAYCLUSTER, RAYJOB):
        raw = list(containers(_load(path)))
        assert len(raw) == 2, f"{path.name}: head and worker containers"
        for c in raw:
            assert split_image(c["image"])[0] == entry["name"], (
                f"{path.relative_to(ROOT)}: container {c['name']} image {c['image']!r}: its name should be "
                f"{entry['name']!r}, the name cluster/kuberay/image/kustomization.yaml replaces"
            )
    for variant in ("raycluster", "rayjob"):
        for c in containers(built[variant]):
            assert c["image"] == expected, f"cluster/kuberay/{variant}: container {c['name']} got {c['image']!r}"


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"newName": "registry.example/ml/mtlsearch", "newTag": "0.1.0-3ec4103"}, "registry.example/ml/mtlsearch:0.1.0-3ec4103"),
        (
            {"newName": "registry.example/mtlsearch", "digest": "sha256:" + "ab" * 32},
            "registry.example/mtlsearch@sha256:" + "ab" * 32,
        ),
    ],
)
def test_a_changed_image_setting_reaches_every_container(override, expected, tmp_path):
    """Editing the one setting (tag or digest) changes every container of every variant, nothing else needed."""
    tree = tmp_path / "kuberay"
    shutil.copytree(KUBERAY, tree)
    k = yaml.safe_load((tree / "image" / "kustomization.yaml").read_text())
    k["images"] = [{"name": k["images"][0]["name"], **override}]
    (tree / "image" / "kustomization.yaml").write_text(yaml.safe_dump(k))
    cli = _kustomize_cli()
    for variant in ("raycluster", "rayjob"):
        docs = kustomize_build(tree / variant)
        if cli:
            out = subprocess.run([*cli, str(tree / variant)], capture_output=True, text=True, timeout=120, check=True)
            docs = [d for d in yaml.safe_load_all(out.stdout) if d]
        images = {c["image"] for d in docs for c in containers(d)}
        assert images == {expected}, f"{variant}: {images}"


def test_the_image_override_matches_on_the_name_part_only():
    entry = {"name": "mtlsearch", "newName": "r.example/mtlsearch", "newTag": "2"}
    assert apply_image_override("mtlsearch:0.1.0", entry) == "r.example/mtlsearch:2"
    assert apply_image_override("mtlsearch", entry) == "r.example/mtlsearch:2"
    assert apply_image_override("other/mtlsearch:0.1.0", entry) == "other/mtlsearch:0.1.0"
    assert (
        apply_image_override("localhost:5000/mtlsearch:1", {"name": "localhost:5000/mtlsearch", "newTag": "2"})
        == "localhost:5000/mtlsearch:2"
    )


@pytest.mark.parametrize("path", [RAYCLUSTER, RAYJOB], ids=lambda p: p.parent.name)
def test_a_rebuilt_image_is_pulled_again(path):
    """A re-pushed tag must not be served from the node's cache: Always (or a digest, which never changes)."""
    for c in containers(_load(path)):
        assert c.get("imagePullPolicy") == "Always", (
            f"{path.relative_to(ROOT)}: {c['name']} imagePullPolicy {c.get('imagePullPolicy')!r}"
        )


def test_manifests_use_the_image_the_dockerfile_builds():
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    base = re.search(r"^FROM rayproject/ray:(\S+)", dockerfile, re.M).group(1)
    assert base.startswith(_ray_version()) and "py311" in base
    assert "torch==2.13.0" in dockerfile and "[s3]" in dockerfile
    assert _image_entry()["name"] in dockerfile, "the Dockerfile's build command should tag the image the manifests name"


# ------------------------------------------ cluster content


def _check_pod_template(template: dict, where: str) -> list[dict]:
    pod_containers = template["spec"]["containers"]
    assert pod_containers, where
    for c in pod_containers:
        assert c["name"] and c["image"], where
        for e in c.get("env", []):
            if e["name"].startswith("AWS_"):
                assert "value" not in e, f"{where}: {e['name']} written inline; take it from a Secret"
                assert e["valueFrom"]["secretKeyRef"]["name"], where
            assert e["name"] not in ("RAY_AUTH_TOKEN", "RAY_AUTH_MODE"), f"{where}: {e['name']} is KubeRay's to set (authOptions)"
    return pod_containers


def _check_raycluster_spec(spec: dict, where: str) -> None:
    assert spec["rayVersion"].split(".")[:2] == _ray_version().split(".")[:2], f"{where}: rayVersion vs installed Ray"
    assert spec["enableInTreeAutoscaling"] is True
    assert spec.get("authOptions", {}).get("mode") == "token", f"{where}: authOptions.mode should be token (job API on 8265)"
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


def test_raycluster_manifest(built):
    doc = built["raycluster"]
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayCluster" and doc["metadata"]["name"]
    _check_raycluster_spec(doc["spec"], "RayCluster")


def test_rayjob_manifest(built):
    doc = built["rayjob"]
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayJob" and doc["metadata"]["name"]
    spec = doc["spec"]
    assert spec["entrypoint"].startswith("mtlsearch launch ")
    assert re.search(r"mtlsearch launch search_spaces/\S+\.yaml", spec["entrypoint"])
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert isinstance(runtime_env, dict) and runtime_env["working_dir"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert ("rayClusterSpec" in spec) != ("clusterSelector" in spec)
    _check_raycluster_spec(spec["rayClusterSpec"], "RayJob")


def test_the_head_cpus_in_the_readme_match_the_manifests(built):
    """The README's head size for Kubernetes is the head container's CPU limit."""
    cpus = {
        built[v]["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"]
        for v in ("raycluster",)
    }
    cpus |= {
        built["rayjob"]["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
            "cpu"
        ]
    }
    assert len(cpus) == 1, cpus
    readme = (CLUSTER / "README.md").read_text()
    assert f"head pod of {cpus.pop()} CPUs" in readme


README = CLUSTER / "README.md"


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_readme_applies_each_variant_with_kustomize(variant):
    text = README.read_text()
    assert f"kubectl apply -k cluster/kuberay/{variant}" in text
    assert f"kubectl delete -k cluster/kuberay/{variant}" in text


def test_no_doc_names_the_old_manifest_paths():
    for path in [*ALL_FILES, ROOT / "docs" / "clusters.md", ROOT / "README.md"]:
        text = path.read_text()
        for old in ("kuberay-raycluster.yaml", "kuberay-rayjob.yaml", "kubectl apply -f cluster/"):
            assert old not in text, f"{path.relative_to(ROOT)} still names {old}"


def test_every_ray_command_in_the_readme_runs_with_token_auth():
    """Each shell block that runs `ray start`, `ray status` or `ray job` sets RAY_AUTH_MODE=token before it.

    (`ray exec ...` runs on the nodes, whose ~/.bashrc sets it: aws-gpu.yaml.)
    """
    needs = re.compile(r"^\s*(ray (start|status|job)\b)", re.M)
    for block in _shell_blocks(README.read_text()):
        m = needs.search(block)
        if not m:
            continue
        before = block[: m.start()]
        assert "export RAY_AUTH_MODE=token" in before, (
            f"cluster/README.md: a block runs `{m.group(1)}` without RAY_AUTH_MODE=token:\n{block}"
        )


def test_the_two_machine_steps_make_and_copy_the_token():
    text = README.read_text()
    section = text[text.index("## 2. ") : text.index("## 3. ")]
    for block in _shell_blocks(section):
        if "ray start --head" in block:
            assert block.index("ray get-auth-token --generate") < block.index("ray start --head"), (
                "ray start --head makes no token"
            )
    assert "scp -p ~/.ray/auth_token" in section and "RAY_AUTH_TOKEN" in section
    other = section[section.index("# on the other machine") :]
    assert other.index("export RAY_AUTH_MODE=token") < other.index("ray start --address=HEAD_IP:6379")
    aws = text[text.index("## 3. ") : text.index("## 4. ")]
    assert aws.index("ray get-auth-token --generate") < aws.index("ray up cluster/aws-gpu.yaml")


def test_the_readme_states_the_driver_floor():
    text = README.read_text()
    assert text.count("580.65.06") >= 2 and "CUDA 13.0" in text
    assert "shared filesystem" not in text.lower() and "datasets/<loader>-<fingerprint>/table.parquet" in text
    assert "same autoscaler round" not in text and "same autoscaler round" not in AWS.read_text()
