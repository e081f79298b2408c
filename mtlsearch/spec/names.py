"""Names the whole spec shares: architectures, executors, metadata choices, the strict base model.

The constants every part of the schema (and the search, the trainers, the
report) refers to: the architectures and which of them are grouped, the
``planted``/``manual``/``none`` (the grouping methods computed from the data are
the registry :data:`mtlsearch.grouping.methods.GROUPING_METHODS`), the two executors; the
canonical form of a ``metadata`` choice and its task names; and ``Strict``, the
base of every spec model (unknown keys are an error). Imports nothing else of
the spec.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Tag

ARCHITECTURES = ("STL", "MTL", "GMHL", "GMTL")
GROUPED_ARCHITECTURES = frozenset({"GMHL", "GMTL"})
PLANTED = "planted"
MANUAL = "manual"
# Tri-MTL dimensions: metadata tasks and parameter sharing (mtlsearch.models.plan, mtlsearch.models.soft_sharing)
NO_METADATA = "none"
IN_TRIAL, RAY_TRAIN = "in_trial", "ray_train"
"""Executors of a run (``train.executor``): inside the Tune trial (one worker), or a Ray Train worker group (DDP)."""


def canonical_metadata(value: Any) -> str:
    """One ``metadata`` choice as a string: ``none`` (or null, ``[]``) → ``"none"``, a task → its name,
    a set ``[a, b]`` (or ``"a+b"``) → ``"a+b"``. Raises ValueError naming the bad value."""
    if value is None:
        return NO_METADATA
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"metadata: expected {NO_METADATA!r}, a task name or a list of task names, got {value!r}")
        names += [p.strip() for p in item.split("+")]
    if not names or names == [NO_METADATA]:
        return NO_METADATA
    if any(not n for n in names) or NO_METADATA in names:
        raise ValueError(f"metadata: expected {NO_METADATA!r}, a task name or a list of task names, got {value!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"metadata: a task is named twice in {value!r}")
    return "+".join(names)


def metadata_tasks(choice: str | None) -> tuple[str, ...]:
    """The task names of a canonical ``metadata`` choice (``"none"`` → ())."""
    return () if choice in (None, NO_METADATA) else tuple(choice.split("+"))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def keyed_union(models: dict[str, type[BaseModel]], key: str, default: str, what: str, expected: str) -> Any:
    """A union of ``models`` chosen by the value of ``key`` (``default`` when absent), tagged by their names.

    A value that is not a mapping, or names no model, is the error ``what``: ``expected``.
    """

    def kind(v: Any) -> str | None:
        if isinstance(v, BaseModel):
            return getattr(v, key, None)
        if isinstance(v, dict):
            name = v.get(key, default)
            return name if isinstance(name, str) else repr(name)
        return None

    return Annotated[
        Union[tuple(Annotated[m, Tag(k)] for k, m in models.items())],
        Discriminator(kind, custom_error_type=what, custom_error_message=expected),
    ]
