"""Which dataset loaders there are, and the cache of canonical tables they write.

The built-in loaders are known by name (:data:`~mtlsearch.data.loader.BUILTIN_LOADERS`)
without importing them: :func:`get_loader` imports the one module asked for, so
validating a synthetic spec does not import the audio loader and torch. A
plugin registers itself with :func:`mtlsearch.data.loader.register` when its
module is imported. ``prepare`` writes a loader's table once per fingerprint
into the cache folder and reuses it afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

from mtlsearch.data.canonical import write_table
from mtlsearch.data.loader import LOADERS, Loader, LoaderOptions


def loader_names() -> list[str]:
    """Every loader's name: the built-ins and the plugins registered so far (nothing is imported)."""
    return LOADERS.names()


def get_loader(name: str) -> Loader:
    """The loader registered as ``name``, importing its built-in module on first use; KeyError when unknown."""
    return LOADERS.get(name)()


def prepare(loader_name: str, options: LoaderOptions, cache_dir: str | os.PathLike) -> Path:
    """Return the path of the canonical table for these options, building it on first use."""
    loader = get_loader(loader_name)
    fp = loader.fingerprint(options)
    path = Path(cache_dir) / f"{loader_name}-{fp}" / "table.parquet"
    if path.exists():
        return path
    info, table = loader.build(options, fp)
    write_table(table, path)
    return path
