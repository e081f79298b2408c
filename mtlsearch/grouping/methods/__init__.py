"""Grouping method plugins: one module per method, with its ``Options``, registered in :data:`GROUPING_METHODS`.

A method turns a dataset's tasks into a matrix once (task embeddings, or a
task-affinity matrix) and selects k groups from it. Matrices and selections are
stored under ``groupings/<method>-<fingerprint>/`` in the results store
(:mod:`mtlsearch.grouping.artifacts`), the fingerprint covering everything they
depend on (dataset, encoder or training budget, settings, seed), so a later
launch or ``mtlsearch groups`` reuses them: an affinity run is paid once per
dataset, model and budget.

===================  ==================================================  ============================
method               matrix                                              groups for k
===================  ==================================================  ============================
``embedding``        task-name or description embeddings (MTLV)          k-medoids (FasterPAM)
``affinity``         TAG lookahead affinity Z_{i→j} (Fifty et al. 2021)  :func:`select_groups`
``gradient_cosine``  cosine of per-task gradients on shared parameters   :func:`select_groups`
``head_coupling``    principal-angle cosine of the tasks' heads in a     :func:`select_groups`
                     settled all-task model (:mod:`~mtlsearch.grouping.coupling`)
``tim``              M3H's TIM of a short all-task cross-attention run   :func:`select_groups`
                     (:mod:`~mtlsearch.grouping.tim_run`)
===================  ==================================================  ============================

Overlapping groups (a task in several groups, each training a copy of it,
:mod:`mtlsearch.models.plan`) come from the methods whose selection allows
them (:attr:`GroupingMethod.overlapping_groups`): TAG's :func:`select_groups`
methods. ``embedding``'s k-medoids gives a partition, so the search's
``grouping.overlapping`` does not apply to it: its trials are never sampled an
``overlapping`` value (the spec names the field when no offered method
supports it).

A plugin is a :class:`GroupingMethod` subclass with a ``name``, an ``Options``
model and ``options_key``: the section of the spec's ``grouping_methods`` it
reads (both affinity kinds read ``grouping_methods.affinity``). Its module
imports no torch at the top (the spec reads its ``Options`` while validating).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mtlsearch.errors import MtlsearchError
from mtlsearch.plugins import Plugin, Registry

if TYPE_CHECKING:
    import numpy as np

    from mtlsearch.data.canonical import DatasetInfo


@dataclass
class GroupingInputs:
    """What a method may depend on: the spec's settings and the prepared dataset."""

    spec: Any  # mtlsearch.spec.Spec (not imported: the spec imports this package)
    info: DatasetInfo
    dataset_path: str
    dataset_uri: str | None = None  # the table in a remote store, for nodes without dataset_path

    @property
    def task_names(self) -> list[str]:
        return self.info.task_names


@dataclass
class Artifact:
    """A method's matrix over the tasks (rows in ``task_names`` order) and its metadata."""

    artifact_id: str
    method: str
    task_names: list[str]
    matrix: np.ndarray
    meta: dict


@dataclass
class Selection:
    """k groups of task names chosen from an artifact."""

    groups: list[list[str]]
    k: int
    overlapping: bool
    meta: dict


class GroupingMethod(Plugin, ABC):
    """One grouping method: settings → matrix (stored) → groups for a given k."""

    plot_file: ClassVar[str]
    options_key: ClassVar[str]
    """The field of the spec's ``grouping_methods`` that holds this method's ``Options``."""
    overlapping_groups: ClassVar[bool] = True
    """Whether :meth:`select` can give overlapping groups (False: a partition; ``overlapping=True`` is an error)."""

    def options(self, inputs: GroupingInputs) -> Any:
        """This method's settings in the spec (``grouping_methods.<options_key>``)."""
        return getattr(inputs.spec.grouping_methods, self.options_key)

    @abstractmethod
    def settings(self, inputs: GroupingInputs) -> dict:
        """Everything besides the dataset that the matrix depends on (goes into its fingerprint)."""

    @abstractmethod
    def compute(self, inputs: GroupingInputs) -> tuple[np.ndarray, dict]:
        """The matrix (one row per task, in ``inputs.task_names`` order) and metadata to store with it."""

    @abstractmethod
    def select(self, artifact: Artifact, k: int, overlapping: bool, seed: int) -> tuple[list[list[str]], dict]:
        """k groups of task names, and metadata of the selection (its score, cost, ...)."""

    @abstractmethod
    def plot(self, artifact: Artifact, path: Path) -> None:
        """Write the artifact's PNG (elbow curve or affinity heatmap) to ``path``."""

    def describe_reliability(self, reliability: dict) -> str:
        """One line on how far the matrix can be trusted (an affinity run's split-half r, separation, length)."""
        from mtlsearch.grouping.reliability import describe

        return describe(reliability)

    def reliability_warning(self, reliability: dict) -> str | None:
        """A warning saying what to do when the matrix is unreliable; None when it is fine."""
        from mtlsearch.grouping.reliability import reliability_warning

        return reliability_warning(self.name, reliability)

    def artifact_id(self, inputs: GroupingInputs) -> str:
        payload = json.dumps(
            {"dataset": inputs.info.fingerprint, "method": self.name, "settings": self.settings(inputs)}, sort_keys=True
        )
        return f"{self.name}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


GROUPING_METHODS: Registry = Registry(
    "grouping method",
    {
        "embedding": "mtlsearch.grouping.methods.embedding",
        "affinity": "mtlsearch.grouping.methods.lookahead",
        "gradient_cosine": "mtlsearch.grouping.methods.gradient_cosine",
        "head_coupling": "mtlsearch.grouping.methods.head_coupling",
        "tim": "mtlsearch.grouping.methods.tim",
    },
)
"""Every grouping method by name: the built-ins (imported when first asked for) and the registered plugins."""


def get_method(name: str) -> GroupingMethod:
    """An instance of the grouping method registered as ``name``; MtlsearchError when unknown."""
    if name not in GROUPING_METHODS:
        raise MtlsearchError(f"unknown grouping method {name!r}; expected one of {sorted(GROUPING_METHODS.names())}")
    return GROUPING_METHODS.get(name)()


def supports_overlapping(name: str) -> bool:
    """Whether the grouping method registered as ``name`` can select overlapping groups."""
    return bool(GROUPING_METHODS.get(name).overlapping_groups)


def computed_key(method: str, k: int, overlapping: bool = False) -> str:
    """Key of a computed grouping in :func:`~mtlsearch.grouping.artifacts.search_groupings`' answer
    (the search context's ``computed_groups``): ``<method>/k=<k>``, with ``/overlapping`` for overlapping groups."""
    return f"{method}/k={k}" + ("/overlapping" if overlapping else "")
