"""The loader plugin: a class with its ``Options`` model, registered under its name (:mod:`mtlsearch.plugins`).

A loader is a small class with an ``Options`` pydantic model (validated at the
spec boundary, so a bad option is reported with its field path), a cheap
``tasks`` listing (used by ``mtlsearch validate`` without building anything) and
``build``, which returns the canonical table. ``@register`` puts it in
:data:`LOADERS` when its module is imported; the registry knows the built-in
names and imports a loader's module only when it is asked for
(:func:`mtlsearch.data.registry.get_loader`).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from typing import ClassVar

import pyarrow as pa

from mtlsearch.data.canonical import DatasetInfo, InputInfo, TaskInfo
from mtlsearch.plugins import Plugin, PluginOptions, Registry


class LoaderOptions(PluginOptions):
    """Base for loader options: unknown keys are errors."""


class Loader(Plugin, ABC):
    """One data source format."""

    name: ClassVar[str]
    version: ClassVar[int] = 1  # bump when the table a loader builds changes, so cached tables are rebuilt
    Options: ClassVar[type[LoaderOptions]]

    @abstractmethod
    def tasks(self, options: LoaderOptions) -> list[TaskInfo]:
        """The tasks the dataset will have, computed cheaply (no full load)."""

    def inputs(self, options: LoaderOptions) -> tuple[InputInfo, ...] | None:
        """The inputs the table will have (:attr:`DatasetInfo.inputs`), computed cheaply, for
        ``model.inputs`` checks at validation; ``None``: known only once built (then checked per trial)."""
        return None

    @abstractmethod
    def build(self, options: LoaderOptions, fingerprint: str) -> tuple[DatasetInfo, pa.Table]:
        """Load the source and return the canonical table and its description."""

    def fingerprint(self, options: LoaderOptions) -> str:
        """A key of everything the canonical table depends on (loaders of files add the file checksum)."""
        payload = json.dumps(
            {"loader": self.name, "version": self.version, "options": options.model_dump(mode="json")}, sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


BUILTIN_LOADERS = {
    "synthetic": "mtlsearch.data.synthetic",
    "synthetic_multimodal": "mtlsearch.data.synthetic_multimodal",
    "arff": "mtlsearch.data.arff_dataset",
    "ohsumed_arff": "mtlsearch.data.ohsumed",
    "ohsumed_folders": "mtlsearch.data.ohsumed",
    "openi_csv": "mtlsearch.data.openi",
    "openi_xml": "mtlsearch.data.openi",
    "icbhi": "mtlsearch.data.icbhi",
    "table": "mtlsearch.data.table",
}
"""Built-in loader name -> the module that defines and registers it."""

LOADERS: Registry = Registry("loader", BUILTIN_LOADERS)
"""Every loader by name: the built-ins (imported when first asked for) and the registered plugins."""

register = LOADERS.register
"""Class decorator: register a :class:`Loader` subclass under its ``name``."""
