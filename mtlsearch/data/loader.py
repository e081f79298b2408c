"""The loader plugin: a class with its ``Options`` model, registered under its name.

A loader is a small class with an ``Options`` pydantic model (validated at the
spec boundary, so a bad option is reported with its field path), a cheap
``tasks`` listing (used by ``mtlsearch validate`` without building anything) and
``build``, which returns the canonical table. ``@register`` puts one instance of
it in :data:`LOADERS` when its module is imported; :mod:`mtlsearch.data.registry`
knows the built-in names and imports a loader's module only when it is asked for.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from typing import ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from mtlsearch.data.canonical import DatasetInfo, TaskInfo


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
        payload = json.dumps(
            {"loader": self.name, "version": self.version, "options": options.model_dump(mode="json")}, sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


LOADERS: dict[str, Loader] = {}
"""Every loader registered so far, by name (built-ins as their modules are imported, and any plugin)."""


def register(cls: type[Loader]) -> type[Loader]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    LOADERS[cls.name] = cls()
    return cls
