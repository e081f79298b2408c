"""Re-create the vendored KubeRay CRD schemas of this folder from a KubeRay checkout.

    python tests/data/kuberay/extract_schemas.py KUBERAY_CHECKOUT

reads ray-operator/config/crd/bases/ray.io_{rayclusters,rayjobs}.yaml of that checkout
and writes, for each, the ``openAPIV3Schema`` of its ``v1`` version as compact JSON
(keys sorted), gzipped without a timestamp, to ``ray.io_<plural>.v1.schema.json.gz``
next to this script. The same checkout gives byte-identical files. README.md here
names the KubeRay commit they come from.
"""

from __future__ import annotations

import gzip
import json
import logging
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CRDS = ("rayclusters", "rayjobs")
CRD_DIR = Path("ray-operator/config/crd/bases")

log = logging.getLogger(__name__)


def extract(crd_path: Path, version: str = "v1") -> dict:
    """The openAPIV3Schema of `version` in the CRD file `crd_path`."""
    crd = yaml.safe_load(crd_path.read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return v["schema"]["openAPIV3Schema"]
    raise ValueError(f"{crd_path}: spec.versions has no {version!r} (found {[v['name'] for v in crd['spec']['versions']]})")


def write(schema: dict, out: Path) -> None:
    """`schema` as compact sorted JSON, gzipped with mtime 0 (reproducible bytes)."""
    raw = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
    out.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if len(argv) != 2:
        log.error("usage: extract_schemas.py KUBERAY_CHECKOUT")
        return 2
    checkout = Path(argv[1])
    for plural in CRDS:
        out = HERE / f"ray.io_{plural}.v1.schema.json.gz"
        write(extract(checkout / CRD_DIR / f"ray.io_{plural}.yaml"), out)
        log.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
