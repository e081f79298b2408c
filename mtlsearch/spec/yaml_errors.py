"""Error messages that point into the YAML: a pydantic error as ``FILE:LINE: field 'a.b.c': what was expected``.

``_describe`` renders one validation error (unknown keys with the keys the
schema accepts there, missing fields, unknown plugins (encoder types, weightings),
range and name checks); ``_line_of`` finds the line of a location in the YAML
node tree; ``_fields_at`` walks the schema, through tagged unions, to the keys
accepted at a location.
"""

from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Tag

from mtlsearch.plugins import PluginChoice
from mtlsearch.spec.schema import Spec


def _dotted(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


def _describe(path: Path, root: yaml.Node | None, err: dict, data: Any = None) -> str:
    """One pydantic error as ``FILE:LINE: field 'a.b': ...``; ``data`` is the parsed YAML (for unknown-key hints)."""
    raw = tuple(err["loc"])
    # a discriminated union puts its tag before the field of the same name: ('lr', 'loguniform', 'loguniform')
    loc = tuple(p for i, p in enumerate(raw) if i == 0 or p != raw[i - 1])
    line = _line_of(root, loc)
    where = f"{path}:{line}" if line else str(path)
    kind = err["type"]
    if kind == "unknown_plugin":  # a plugin choice naming no registered plugin: point at its key
        key = err["ctx"]["key"]
        line = _line_of(root, loc + (key,))
        where = f"{path}:{line}" if line else str(path)
        return f"{where}: field '{_dotted(loc + (key,))}': {err['msg']}"
    if kind == "extra_forbidden":
        parent_fields = _fields_at(raw[:-1], data)
        hint = f" (expected one of: {', '.join(parent_fields)})" if parent_fields else ""
        return f"{where}: field '{_dotted(loc)}': unknown key{hint}"
    if kind == "missing":
        return f"{where}: field '{_dotted(loc)}': required field is missing"
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    got_text = f" (got {got!r})" if got is not None and not isinstance(got, (dict, list)) else ""
    return f"{where}: field '{_dotted(loc)}': {msg}{got_text}"


def _tagged_models(ann: Any) -> dict[str, type[BaseModel]]:
    """The members of a tagged union annotation (``Annotated[Model, Tag(t)]``), by tag."""
    out: dict[str, type[BaseModel]] = {}
    origin = get_origin(ann)
    if origin is Annotated:
        base, *meta = get_args(ann)
        tag = next((m.tag for m in meta if isinstance(m, Tag)), None)
        if tag is not None and isinstance(base, type) and issubclass(base, BaseModel):
            out[tag] = base
        else:
            out.update(_tagged_models(base))
    elif origin in (Union, UnionType):
        for member in get_args(ann):
            out.update(_tagged_models(member))
    return out


def _plugin_choice(ann: Any) -> PluginChoice | None:
    """The :class:`PluginChoice` of a plugin field's annotation (also inside ``X | None``)."""
    if get_origin(ann) is Annotated:
        return next((m for m in get_args(ann)[1:] if isinstance(m, PluginChoice)), None)
    if get_origin(ann) in (Union, UnionType):
        return next((c for c in map(_plugin_choice, get_args(ann)) if c is not None), None)
    return None


def _fields_at(loc: tuple, data: Any = None) -> list[str]:
    """The keys the schema accepts at ``loc``, a pydantic error location (for 'did you mean' hints).

    Inside a tagged union, pydantic puts the member's tag after the field: ``('lr', 'loguniform')``; inside a
    plugin choice, the plugin is the one the raw ``data`` at that location names.
    """
    model: Any = Spec
    i = 0
    while i < len(loc):
        part = loc[i]
        if isinstance(part, int) or model is None:
            return []
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        data = data.get(part) if isinstance(data, dict) else None
        ann = field.annotation
        choice = next((m for m in field.metadata if isinstance(m, PluginChoice)), None) or _plugin_choice(ann)
        if choice is not None:
            model = choice.options_of(data)
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            tagged = _tagged_models(ann)
            if i + 1 < len(loc) and loc[i + 1] in tagged:
                model = tagged[loc[i + 1]]
                i += 1
            else:
                model = None
        i += 1
    return list(model.model_fields) if model is not None else []


def _line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its deepest existing parent)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    child = (k, v)
                    break
            if child is None:
                return line
            line = child[0].start_mark.line + 1
            node = child[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
