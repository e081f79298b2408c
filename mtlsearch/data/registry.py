"""Registry of dataset loaders and the cache of canonical tables they write.

A loader is a small class with an ``Options`` pydantic model (validated at the
spec boundary, so a bad option is reported with its field path), a cheap
``tasks`` listing (used by ``mtlsearch validate`` without building anything) and
``build``, which returns the canonical table. ``prepare`` writes that table once
per fingerprint into the cache folder and reuses it afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from mtlsearch.data.canonical import DatasetInfo, TaskInfo, read_info, write_table


class LoaderOptions(BaseModel):
    """Base for loader options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Loader(ABC):
    """One data source format."""

    name: ClassVar[str]
    version: ClassVar[int] = 1  # bump when the table a loader builds changes, so cached tables are rebuilt
    Options: ClassVar[type[LoaderOptions]]

    @abstractmethod
    def tasks(self, options: LoaderOptions) -> list[TaskInfo]:
        """The tasks the dataset will have, computed cheaply (no full load)."""

    @abstractmethod
    def build(self, options: LoaderOptions, fingerprint: str) -> tuple[DatasetInfo, pa.Table]:
        """Load the source and return the canonical table and its description."""

    def fingerprint(self, options: LoaderOptions) -> str:
        """A key of everything the canonical table depends on (loaders of files add the file checksum)."""
        payload = json.dumps({"loader": self.name, "version": self.version, "options": options.model_dump(mode="json")}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


LOADERS: dict[str, Loader] = {}


def register(cls: type[Loader]) -> type[Loader]:
    LOADERS[cls.name] = cls()
    return cls


def get_loader(name: str) -> Loader:
    _import_builtin_loaders()
    return LOADERS[name]


def loader_names() -> list[str]:
    _import_builtin_loaders()
    return sorted(LOADERS)


def _import_builtin_loaders() -> None:
    from mtlsearch.data import ohsumed, openi, synthetic  # noqa: F401  (register themselves)
    from mtlsearch.data import icbhi  # noqa: F401  (registers itself)


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


def load_info(path: str | os.PathLike) -> DatasetInfo:
    return read_info(path)
