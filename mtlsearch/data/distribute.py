"""Getting a dataset's canonical table to every node of a cluster.

The launcher builds the table once, on the machine it runs on. With a local
results store every trial reads it from that path (one machine, or a shared
file system). With a remote store (``s3://...``) the launcher also publishes
the table into the store (``datasets/<loader>-<fingerprint>/table.parquet``,
once per fingerprint), and a trial on another node that does not find the file
at the launcher's path copies it from the store into its own dataset cache
first (:func:`local_table`). The file name carries the fingerprint, so a copy is
never stale, and it is written atomically, so trials starting at once on one
node never read half of it.
"""

from __future__ import annotations

import os
from pathlib import Path

from mtlsearch.cache_dirs import user_cache
from mtlsearch.store.atomic import atomic_write_bytes, is_remote_uri, read_bytes


def default_cache_dir() -> Path:
    """The user's dataset cache (``$XDG_CACHE_HOME/mtlsearch/datasets``, else ``~/.cache/mtlsearch/datasets``)."""
    return user_cache("datasets")


def table_key(dataset_path: str | os.PathLike) -> str:
    """``<loader>-<fingerprint>/table.parquet``: the table's place under any datasets folder."""
    p = Path(dataset_path)
    return f"{p.parent.name}/{p.name}"


def store_table_uri(store_root: str, dataset_path: str | os.PathLike) -> str | None:
    """Where a remote store keeps the table (``<root>/datasets/<loader>-<fp>/table.parquet``); None for a local store."""
    if not is_remote_uri(store_root):
        return None
    return f"{store_root.rstrip('/')}/datasets/{table_key(dataset_path)}"


def publish_table(dataset_path: str | os.PathLike, datasets_uri: str) -> str:
    """Copy the table into the store under ``datasets_uri`` unless it is there already; return its URI."""
    uri = f"{datasets_uri.rstrip('/')}/{table_key(dataset_path)}"
    if read_bytes(uri) is None:
        atomic_write_bytes(Path(dataset_path).read_bytes(), uri)
    return uri


def local_table(dataset_path: str, dataset_uri: str | None) -> str:
    """A readable local path of the table: ``dataset_path`` when this node has it, else a copy from ``dataset_uri``.

    The copy goes to the same path if its folder can be created, else to this
    node's :func:`default_cache_dir`.
    """
    if os.path.isfile(dataset_path) or not dataset_uri:
        return dataset_path
    target = Path(dataset_path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        target = default_cache_dir() / table_key(dataset_path)
    if not target.is_file():
        data = read_bytes(dataset_uri)
        if data is None:
            raise FileNotFoundError(f"dataset table {dataset_path} is not on this node and {dataset_uri} does not exist")
        atomic_write_bytes(data, str(target))
    return str(target)
