"""Atomic file writes on a local disk or an object store, through ``pyarrow.fs``.

On a local disk a file is written under a hidden temporary name in the same
folder and renamed into place (``rename`` is atomic on POSIX), so readers never
see a half-written file. On S3 a single PUT is already atomic: the object
appears whole or not at all. Temporary names start with ``.`` so that
``pyarrow.dataset`` discovery skips them.
"""

from __future__ import annotations

import io
import posixpath
import uuid

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """Return the filesystem and the path inside it for a local path or a ``scheme://`` URI."""
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    import os

    return pafs.LocalFileSystem(), os.path.abspath(uri)


def is_local(fs: pafs.FileSystem) -> bool:
    return fs.type_name == "local"


def atomic_write_bytes(data: bytes, uri: str) -> None:
    """Write ``data`` to ``uri`` so that the file appears complete or not at all."""
    fs, path = resolve(uri)
    _write(fs, path, data)


def atomic_write_table(table: pa.Table, uri: str) -> None:
    """Write a Parquet file atomically."""
    sink = io.BytesIO()
    pq.write_table(table, sink)
    atomic_write_bytes(sink.getvalue(), uri)


def _write(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    parent = posixpath.dirname(path)
    fs.create_dir(parent, recursive=True)
    if not is_local(fs):
        with fs.open_output_stream(path) as out:
            out.write(data)
        return
    tmp = posixpath.join(parent, f".tmp-{uuid.uuid4().hex}-{posixpath.basename(path)}")
    try:
        with fs.open_output_stream(tmp) as out:
            out.write(data)
        fs.move(tmp, path)
    except BaseException:
        try:
            fs.delete_file(tmp)
        except OSError:
            pass
        raise


def read_bytes(uri: str) -> bytes | None:
    """Read a whole file, or ``None`` when it does not exist."""
    fs, path = resolve(uri)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return f.read()
