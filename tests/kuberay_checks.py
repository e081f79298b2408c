"""Offline checks of KubeRay manifests: the pinned CRD schemas (strict), KubeRay's own spec rules, kustomize.

Used by tests/test_cluster_configs.py. Nothing here talks to a Kubernetes cluster.

* :func:`crd_validator` loads a vendored ``openAPIV3Schema`` (tests/data/kuberay,
  KubeRay v1.7.0; README.md there names the commit) and makes it as strict as
  the API server with ``kubectl apply`` (strict field validation, the default
  since Kubernetes 1.27): an unknown field is an error. Kubernetes' OpenAPI
  extensions are honoured: ``x-kubernetes-int-or-string`` (an int or a
  string), ``x-kubernetes-preserve-unknown-fields`` (any field),
  ``x-kubernetes-embedded-resource`` (apiVersion/kind/metadata allowed),
  ``nullable``. CEL rules (``x-kubernetes-validations``) are not evaluated.
* :func:`rayjob_spec_errors` / :func:`raycluster_spec_errors`: the checks the
  KubeRay operator makes before it acts on a RayJob / RayCluster, ported from
  ray-operator/controllers/ray/utils/validation.go at the pinned commit, with
  the operator's messages.
* :func:`kustomize_build`: what ``kubectl kustomize DIR`` makes of the
  kustomizations under cluster/kuberay (resources, components, ``images:``,
  JSON6902 ``patches``), for machines without kubectl.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from pathlib import Path
from typing import Any, Iterator

import yaml

DATA = Path(__file__).resolve().parent / "data" / "kuberay"
KUBERAY_VERSION = "v1.7.0"
KUBERAY_COMMIT = "59d663aeec13760646da3db9c1cf8cfe883e30b7"
VALIDATION_GO = f"ray-project/kuberay@{KUBERAY_COMMIT[:12]}:ray-operator/controllers/ray/utils/validation.go"

# Kubernetes ObjectMeta fields a manifest may set (the CRD schemas leave `metadata` as a bare object;
# the API server validates it against ObjectMeta, which these are the writable fields of).
OBJECT_META = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
    },
}


# ---------------------------------------------------------------- CRD schemas


def load_crd_schema(plural: str) -> dict:
    """The vendored v1 openAPIV3Schema of the CRD ray.io_<plural> (rayclusters, rayjobs)."""
    path = DATA / f"ray.io_{plural}.v1.schema.json.gz"
    return json.loads(gzip.decompress(path.read_bytes()))


def strict_schema(node: Any) -> Any:
    """A copy of an OpenAPI v3 structural schema that rejects unknown fields like strict field validation does."""
    if isinstance(node, list):
        return [strict_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strict_schema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = strict_schema(value)
        elif key in ("default", "example", "enum"):
            out[key] = value  # data, not schemas
        else:
            out[key] = value
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def crd_validator(plural: str):
    """A jsonschema validator of whole manifests (apiVersion, kind, metadata, spec) for ray.io_<plural>."""
    import jsonschema

    schema = strict_schema(load_crd_schema(plural))
    schema["properties"]["metadata"] = OBJECT_META
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
    return jsonschema.Draft7Validator(schema)


def schema_errors(validator, doc: dict, where: str) -> list[str]:
    """Every schema violation of `doc`, as '<where>: <json path>: <message>' lines."""
    errors = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        path = "/".join(str(p) for p in err.absolute_path) or "(root)"
        errors.append(f"{where}: {path}: {err.message}")
    return errors


# ---------------------------------------------------------------- KubeRay's validation.go


def _version_tuple(text: str) -> tuple[int, ...] | None:
    m = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(g or 0) for g in m.groups()) if m else None


def _dns1035(name: str) -> bool:
    return bool(re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name or ""))


def raycluster_spec_errors(spec: dict) -> list[str]:
    """ValidateRayClusterSpec (the parts a manifest here can reach), with the operator's messages."""
    errors = []
    if not spec.get("headGroupSpec", {}).get("template", {}).get("spec", {}).get("containers"):
        errors.append("headGroupSpec should have at least one container")
    autoscaling = spec.get("enableInTreeAutoscaling") is True
    for group in spec.get("workerGroupSpecs", []):
        name = group.get("groupName")
        if not group.get("template", {}).get("spec", {}).get("containers"):
            errors.append("workerGroupSpec should have at least one container")
        lo, hi = group.get("minReplicas"), group.get("maxReplicas")
        if not autoscaling and (lo is None or hi is None):
            errors.append(f"worker group {name} must set both minReplicas and maxReplicas when autoscaling is disabled")
        if lo is not None and lo < 0:
            errors.append(f"worker group {name} has negative minReplicas {lo}")
        if hi is not None and hi < 0:
            errors.append(f"worker group {name} has negative maxReplicas {hi}")
        if lo is not None and hi is not None and lo > hi:
            errors.append(f"worker group {name} has minReplicas {lo} greater than maxReplicas {hi}")
    idle = (spec.get("autoscalerOptions") or {}).get("idleTimeoutSeconds")
    if idle is not None and idle < 0:
        errors.append(f"autoscalerOptions.idleTimeoutSeconds must be non-negative, got {idle}")
    auth = spec.get("authOptions")
    if auth is not None and auth.get("mode") == "token":  # IsAuthEnabled
        version = _version_tuple(spec.get("rayVersion", ""))
        if not spec.get("rayVersion"):
            errors.append("authOptions.mode is 'token' but RayVersion was not specified. Ray version 2.52.0 or later is required")
        elif version is None:
            errors.append(f"authOptions.mode is 'token' but RayVersion format is invalid: {spec['rayVersion']}")
        elif version < (2, 52, 0):
            errors.append(f"authOptions.mode is 'token' but minimum Ray version is 2.52.0, got {spec['rayVersion']}")
    elif auth is not None and auth.get("enableK8sTokenAuth"):
        errors.append("authOptions.enableK8sTokenAuth is enabled but authOptions.mode not set to 'token'")
    return errors


def raycluster_errors(doc: dict) -> list[str]:
    """ValidateRayClusterMetadata + ValidateRayClusterSpec of a RayCluster manifest."""
    errors = []
    name = doc.get("metadata", {}).get("name", "")
    if len(name) > 53:
        errors.append("RayCluster name should be no more than 53 characters")
    if not _dns1035(name):
        errors.append("RayCluster name should be a valid DNS1035 label")
    return errors + raycluster_spec_errors(doc.get("spec", {}))


def rayjob_spec_errors(doc: dict) -> list[str]:
    """ValidateRayJobMetadata + ValidateRayJobSpec of a RayJob manifest, with the operator's messages.

    Fields left out take the CRD's defaults (shutdownAfterJobFinishes false,
    ttlSecondsAfterFinished 0, suspend false, submissionMode K8sJobMode).
    """
    errors = []
    name = doc.get("metadata", {}).get("name", "")
    if len(name) > 47:
        errors.append("The RayJob metadata is invalid: RayJob name should be no more than 47 characters")
    if not _dns1035(name):
        errors.append("The RayJob metadata is invalid: RayJob name should be a valid DNS1035 label")
    spec = doc.get("spec", {})
    shutdown = spec.get("shutdownAfterJobFinishes", False)
    ttl = spec.get("ttlSecondsAfterFinished", 0)
    suspend = spec.get("suspend", False)
    mode = spec.get("submissionMode", "K8sJobMode")
    backoff = spec.get("backoffLimit")
    if suspend and not shutdown:
        errors.append(
            "The RayJob spec is invalid: a RayJob with shutdownAfterJobFinishes set to false is not allowed to be suspended"
        )
    if ttl < 0:
        errors.append("The RayJob spec is invalid: TTLSecondsAfterFinished must be a non-negative integer")
    # validateDeletionConfiguration
    if not shutdown and ttl > 0:
        errors.append(
            "The RayJob spec is invalid: a RayJob with shutdownAfterJobFinishes set to false cannot have TTLSecondsAfterFinished"
        )
    selector = spec.get("clusterSelector") or {}
    if suspend and selector:
        errors.append("The RayJob spec is invalid: the ClusterSelector mode doesn't support the suspend operation")
    if spec.get("rayClusterSpec") is None and not selector:
        errors.append("The RayJob spec is invalid: one of RayClusterSpec or ClusterSelector must be set")
    if selector:
        if not selector.get("ray.io/cluster"):  # RayJobClusterSelectorKey
            errors.append("cluster name in ClusterSelector should not be empty")
        if mode == "SidecarMode":
            errors.append("ClusterSelector is not supported in SidecarMode")
        if backoff is not None and backoff > 0:
            errors.append("The RayJob spec is invalid: BackoffLimit is incompatible with ClusterSelector mode")
    if mode == "InteractiveMode" and backoff is not None and backoff > 0:
        errors.append("The RayJob spec is invalid: BackoffLimit is incompatible with InteractiveMode")
    cluster = spec.get("rayClusterSpec")
    if cluster is not None:
        if (cluster.get("authOptions") or {}).get("enableK8sTokenAuth"):
            errors.append("The RayJob spec is invalid: K8s token auth mode is currently not supported for RayJob")
        errors += [f"The RayJob spec is invalid: {e}" for e in raycluster_spec_errors(cluster)]
    try:
        yaml.safe_load(spec.get("runtimeEnvYAML") or "")
    except yaml.YAMLError as e:
        errors.append(f"runtimeEnvYAML is not valid YAML: {e}")
    for key, label in (
        ("activeDeadlineSeconds", "activeDeadlineSeconds"),
        ("preRunningDeadlineSeconds", "preRunningDeadlineSeconds"),
    ):
        if spec.get(key) is not None and spec[key] <= 0:
            errors.append(f"The RayJob spec is invalid: {label} must be a positive integer")
    if backoff is not None and backoff < 0:
        errors.append("The RayJob spec is invalid: backoffLimit must be a positive integer")
    return errors


# ---------------------------------------------------------------- kustomize


def _load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of a container image reference, as kustomize's image transformer splits it."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    return image, tag, digest


def apply_image_override(image: str, entry: dict) -> str:
    """`image` after one kustomize `images:` entry (matched on the name part only)."""
    name, tag, digest = split_image(image)
    if name != entry["name"]:
        return image
    name = entry.get("newName", name)
    if entry.get("digest"):
        return f"{name}@{entry['digest']}"
    if "newTag" in entry:
        return f"{name}:{entry['newTag']}"
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def containers(node: Any) -> Iterator[dict]:
    """Every container object (under `containers` or `initContainers` lists) anywhere in a manifest."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from containers(item)


def _json_patch(doc: dict, ops: list[dict]) -> None:
    """RFC 6902 add / remove / replace on `doc`, in place (what the patches here use)."""
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        if op["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif op["op"] in ("add", "replace"):
            if op["op"] == "replace" and last not in parent:
                raise KeyError(f"replace of a missing path {op['path']}")
            parent[last] = copy.deepcopy(op["value"])
        else:
            raise ValueError(f"JSON patch op {op['op']!r} is not handled here")


def _matches(target: dict, doc: dict) -> bool:
    group, _, version = doc.get("apiVersion", "").rpartition("/")
    want = {"group": group, "version": version, "kind": doc.get("kind"), "name": doc.get("metadata", {}).get("name")}
    return all(want.get(k) == v for k, v in target.items())


def kustomization(directory: Path) -> dict:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def kustomize_build(directory: Path) -> list[dict]:
    """The manifests `kubectl kustomize DIRECTORY` prints, for the kustomization features used in cluster/kuberay."""
    k = kustomization(directory)
    known = {"apiVersion", "kind", "resources", "components", "images", "patches"}
    unknown = set(k) - known
    if unknown:
        raise ValueError(f"{directory}/kustomization.yaml: fields {sorted(unknown)} are not handled by this emulation")
    docs: list[dict] = []
    for res in k.get("resources", []):
        path = directory / res
        docs += kustomize_build(path) if path.is_dir() else _load_docs(path)
    images, patches = list(k.get("images", [])), list(k.get("patches", []))
    for comp in k.get("components", []):
        ck = kustomization(directory / comp)
        if ck.get("kind") != "Component":
            raise ValueError(f"{directory / comp}/kustomization.yaml: kind should be Component, got {ck.get('kind')!r}")
        images += ck.get("images", [])
        patches += ck.get("patches", [])
    for patch in patches:
        ops = yaml.safe_load(patch["patch"])
        for doc in docs:
            if _matches(patch.get("target", {}), doc):
                _json_patch(doc, ops)
    for doc in docs:
        for c in containers(doc):
            for entry in images:
                c["image"] = apply_image_override(c["image"], entry)
    return docs
