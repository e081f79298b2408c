"""Unpack a ``.zip`` or tar archive once into the user cache, for loaders that read a folder.

Public datasets come as archives (ICBHI's ``ICBHI_final_database.zip``), while
a loader such as ``icbhi`` reads annotation and audio files by name from
folders. :func:`unpacked_folder` extracts an archive into
``$XDG_CACHE_HOME/mtlsearch/extracted/<name>-<key>/`` (``<key>`` from the
archive's path, size and modification time, so a changed archive is unpacked
again) and returns that folder, or its only top-level folder when the archive
wraps everything in one. Extraction goes to a temporary folder renamed into
place at the end: an interrupted or failed extraction leaves nothing that a
later run would take for complete. Members with absolute paths or ``..`` are
refused, and a truncated or corrupt archive is a :class:`DataError` naming it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path

from mtlsearch.cache_dirs import user_cache
from mtlsearch.data.sources import is_archive, iter_files, strip_archive_suffix
from mtlsearch.errors import DataError

ZIP_SUFFIX = ".zip"


def is_unpackable(path: Path) -> bool:
    """A ``.zip`` file or a tar archive (``.tar``, ``.tar.gz``, …)."""
    return path.is_file() and (path.name.lower().endswith(ZIP_SUFFIX) or is_archive(path))


def extraction_root() -> Path:
    """``$XDG_CACHE_HOME/mtlsearch/extracted`` (next to the data cache)."""
    return user_cache("extracted")


def unpacked_folder(archive: Path) -> Path:
    """The folder ``archive`` unpacks to, extracting it first if that has not been done yet."""
    archive = archive.resolve()
    st = archive.stat()
    key = hashlib.sha256(f"{archive}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    name = archive.name[: -len(ZIP_SUFFIX)] if archive.name.lower().endswith(ZIP_SUFFIX) else strip_archive_suffix(archive.name)
    target = extraction_root() / f"{name}-{key}"
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
        try:
            _extract(archive, staging)
            try:
                os.rename(staging, target)
            except OSError:  # another process finished the same extraction first
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    entries = [p for p in target.iterdir() if not p.name.startswith(".")]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else target


def _safe_parts(name: str, archive: Path) -> tuple[str, ...]:
    parts = tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise DataError(f"{archive}: member {name!r} would be written outside the folder it is unpacked to; refusing")
    return parts


def _write(root: Path, parts: tuple[str, ...], data: bytes) -> None:
    dest = root.joinpath(*parts)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)


def _extract(archive: Path, dest: Path) -> None:
    if not archive.name.lower().endswith(ZIP_SUFFIX):
        for parts, data in iter_files(archive):  # tar: streamed, a truncated archive is an error
            if parts:
                _write(dest, _safe_parts("/".join(parts), archive), data)
        return
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                parts = _safe_parts(member.filename, archive)
                if member.is_dir() or not parts:
                    continue
                with zf.open(member) as f:  # checks the member's CRC when it is read to the end
                    _write(dest, parts, f.read())
    except zipfile.BadZipFile as e:
        raise DataError(f"{archive}: not a readable zip archive, or truncated ({e})") from None
    except (EOFError, zlib.error) as e:
        raise DataError(f"{archive}: truncated or corrupt zip archive ({e})") from None
