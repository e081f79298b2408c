"""Catalogue of the public files the ready specs read under the data root, with their sha256.

A loader path under the data root (:func:`mtlsearch.data.download.data_root`)
that is missing and named here is downloaded on first use (checked against its
sha256, written atomically) into exactly that place, so the folder ends up laid
out like ``../shared/data``: ``ohsumed/``, ``openi/``, ``icbhi/``. A missing
folder whose files are all catalogued (``icbhi/meta``) is filled with them.

The URLs point at raw.githubusercontent.com copies in the repositories and
commits named in ``../shared/data/README.md`` (short commit ids, as given
there); the checksums are those of ``../shared/data/SHA256SUMS``. **The URLs are
unverified**: they were written on a machine with no network. A wrong URL shows
up as an HTTP error naming it, a wrong file as a sha256 mismatch; nothing is
kept either way.

Not catalogued (no public copy with a known checksum): the raw OHSUMED text
archives (Joachims' ``ohsumed-all-docs.tar.gz``: give its URL as the
``ohsumed_folders`` path instead), the 920 ICBHI annotation files and the ICBHI
audio. Tests point :data:`GITHUB_RAW` (or the entries) at a local server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mtlsearch.data.download import data_root, fetch
from mtlsearch.errors import DataError

GITHUB_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class Entry:
    """A public file: ``<GITHUB_RAW>/<repo>/<commit>/<path>``, its sha256, and files fetched along with it."""

    repo: str
    commit: str
    path: str
    sha256: str
    companions: tuple[str, ...] = field(default=())

    @property
    def url(self) -> str:
        return f"{GITHUB_RAW}/{self.repo}/{self.commit}/{self.path}"


_OHSUMED_ARFF = ("lehneres/edu.uni-tuebingen", "c3276a5")
_OPENI = ("SaadSubhaniTheProgrammerVersion/Textual-Report-Generation-from-Chest-X-rays-Indiana-Dataset", "6b316b7")
_ICBHI_META = ("raymin0223/patch-mix_contrastive_learning", "836b09f")
_ICBHI_EXTRA = ("architgajpal/respiratory_disease_classification", "8a6ab55")


def _icbhi_meta(name: str, sha256: str, source: tuple[str, str] = _ICBHI_META, folder: str = "data/icbhi_dataset/") -> Entry:
    return Entry(*source, f"{folder}{name}", sha256)


# relative path under the data root -> public source
CATALOG: dict[str, Entry] = {
    "ohsumed/meka_arff/OHSUMED-F.arff": Entry(
        *_OHSUMED_ARFF, "data/OHSUMED-F.arff", "b72ee2d653be2ca6c9baaa7afa747025118a836c414a4b578ee2a705838340b6"
    ),
    "openi/indiana_reports.csv": Entry(
        *_OPENI,
        "indiana_reports.csv",
        "fd718e074451e93effedd868ca8995d2495e58e85878e08853f2dd35810f2149",
        companions=("openi/indiana_projections.csv",),
    ),
    "openi/indiana_projections.csv": Entry(
        *_OPENI, "indiana_projections.csv", "7af9c8a6b4f8ae695c654ecd4208edd193a37892a5607b7cb9e609dc997e6b7a"
    ),
    "icbhi/meta/official_split.txt": _icbhi_meta(
        "official_split.txt", "c107748c9a76277107a7b070176fe4cfc602f2fb00fa0d5d6760d1741584002b"
    ),
    "icbhi/meta/patient_diagnosis.txt": _icbhi_meta(
        "patient_diagnosis.txt", "8ac8ddc26d28e12465008d80e6bea9925350cd2e09dcd7e110219e1f4cfad8f1"
    ),
    "icbhi/meta/filename_differences.txt": _icbhi_meta(
        "filename_differences.txt", "03858b6215b772ee4ab4de6902e11afe02d18230d74921c7ad0453b50121198e"
    ),
    "icbhi/meta/filename_format.txt": _icbhi_meta(
        "filename_format.txt", "83a881e50dfdef28644463d628d4c9b5a7d6ed36a10c11b6bb872e61fdaebd6a"
    ),
    "icbhi/meta/metadata.txt": _icbhi_meta("metadata.txt", "3b8f219f10aabb8d073a01cc625c6bf4afdbd63fafc240d7ff5f98320eac3ffc"),
    "icbhi/meta/patient_list_foldwise.txt": _icbhi_meta(
        "patient_list_foldwise.txt", "a244cb5a415af08884e6251cedbbc27b03b0001679d33bb8bab9e296252c31f5"
    ),
    "icbhi/meta/patient_diagnosis.csv": _icbhi_meta(
        "patient_diagnosis.csv", "b91f1ca4c914e0758b61ad60576f515624a243e6bf4131cc0d7a7082f944a1ba", _ICBHI_EXTRA, folder=""
    ),
    "icbhi/meta/demographic_info.txt": _icbhi_meta(
        "demographic_info.txt", "13abb0136166b46b52646cb85bbb230379f8fb9ef8639eca5d8cb4e3c7d30c37", _ICBHI_EXTRA, folder=""
    ),
}


def relative_to_root(path: Path, root: Path | None = None) -> str | None:
    """``path`` relative to the data root in POSIX form, or ``None`` when it lies elsewhere."""
    root = root if root is not None else data_root()
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if rel == "." or rel == ".." or rel.startswith("../") or os.path.isabs(rel):
        return None
    return Path(rel).as_posix()


def entries_for(rel: str) -> list[str]:
    """Catalogued relative paths that ``rel`` stands for: the file and its companions, or every file under a folder."""
    if rel in CATALOG:
        return [rel, *CATALOG[rel].companions]
    prefix = rel.rstrip("/") + "/"
    return sorted(k for k in CATALOG if k.startswith(prefix))


def fetch_catalogued(path: Path, what: str) -> Path | None:
    """Download the catalogued file (or folder of files) ``path`` under the data root; ``None`` if not catalogued."""
    root = data_root()
    rel = relative_to_root(path, root)
    names = entries_for(rel) if rel else []
    if not names:
        return None
    for name in names:
        target = root / name
        if target.is_file():
            continue
        entry = CATALOG[name]
        try:
            fetch(entry.url, target.parent, entry.sha256, what=f"{what} ({name})", filename=target.name)
        except DataError as e:
            raise DataError(
                f"{e}\n  {name} is catalogued as public data but could not be downloaded to {target}; "
                f"put the file there yourself, or set $MTLSEARCH_DATA to a folder laid out like "
                f"ohsumed/, openi/, icbhi/ that holds it"
            ) from None
    return path
