"""The one plugin idiom: a class in its own file, with its pydantic ``Options`` beside it, registered under its name.

Every pluggable kind (dataset loaders, encoders, loss weightings, grouping
methods, per-task metrics) keeps a :class:`Registry`:

* a plugin is a class with a ``name`` and an ``Options`` model (strict: unknown
  keys are errors), defined in its own module and decorated with
  ``@REGISTRY.register``;
* the registry knows its built-in plugins by name and module
  (``builtin={"mlp": "mtlsearch.models.encoders.mlp", ...}``) without importing
  them: :meth:`Registry.get` imports the one module asked for. So validating a
  spec imports only the plugins it names, and built-in plugin modules import
  torch only where they run (``mtlsearch validate`` and ``--help`` stay light);
* a third-party plugin is one file: importing it registers it. A spec lists
  its plugin modules under ``plugins:`` (module names, or ``.py`` files
  relative to the spec); they are imported before the spec is validated, and
  again in every training worker (:func:`import_plugins`);
* :func:`plugin_field` composes the spec's choice of a plugin
  (``model.encoder.type``, ``train.weighting.name``) from the registry: the
  value is validated against the named plugin's ``Options``, so an error points
  at the field inside it (``model.encoder.channels``), and an unknown name lists
  every registered one.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, Iterable, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator
from pydantic_core import PydanticCustomError


class PluginOptions(BaseModel):
    """Base of every plugin's ``Options``: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Plugin:
    """Base of every plugin class: its registered ``name`` and its ``Options`` model."""

    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]]


P = TypeVar("P", bound=type)


class Registry(Generic[P]):
    """The plugins of one kind, by name: the built-ins by module (imported on first use), and any registered class.

    ``kind`` names the kind in errors (``"encoder type"``); ``builtin`` maps each
    built-in name to the module that defines and registers it, in the order the
    names are listed to users.
    """

    def __init__(self, kind: str, builtin: dict[str, str]):
        self.kind = kind
        self.builtin = dict(builtin)
        self._classes: dict[str, P] = {}

    def register(self, cls: P) -> P:
        """Class decorator: register ``cls`` under ``cls.name`` (a later registration of the name replaces it)."""
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__qualname__}: a {self.kind} plugin needs a class attribute name: str")
        if not (isinstance(getattr(cls, "Options", None), type) and issubclass(cls.Options, BaseModel)):
            raise TypeError(f"{cls.__qualname__}: a {self.kind} plugin needs an Options class (a pydantic model)")
        self._classes[name] = cls
        return cls

    def names(self) -> list[str]:
        """Every name: the built-ins in their order, then the plugins registered so far (nothing is imported)."""
        return [*self.builtin, *(n for n in self._classes if n not in self.builtin)]

    def __contains__(self, name: object) -> bool:
        return name in self.builtin or name in self._classes

    def get(self, name: str) -> P:
        """The class registered as ``name``, importing its built-in module on first use; KeyError when unknown."""
        if name not in self._classes and name in self.builtin:
            importlib.import_module(self.builtin[name])
        if name not in self._classes:
            raise KeyError(self.unknown(name))
        return self._classes[name]

    def unknown(self, name: object) -> str:
        """The error text for a name no plugin of this kind has: ``unknown KIND 'x'; expected one of [...]``."""
        return f"unknown {self.kind} {name!r}; expected one of {self.names()}"

    def options(self, name: str) -> type[BaseModel]:
        """The ``Options`` model of plugin ``name``."""
        return self.get(name).Options


def trusted_options(plugin: type[Plugin] | Plugin, options: BaseModel | dict) -> BaseModel:
    """``options`` as ``plugin.Options``. A dict is the dump of options the spec validated (it crossed to a worker
    as a plain record), so it is trusted: ``model_construct`` fills in the defaults and checks nothing again."""
    if isinstance(options, plugin.Options):
        return options
    return plugin.Options.model_construct(**(options.model_dump() if isinstance(options, BaseModel) else dict(options)))


@dataclass(frozen=True)
class PluginChoice:
    """Marks a spec field made by :func:`plugin_field`: which registry, chosen by which key (for error hints)."""

    registry: Registry
    key: str
    default: str

    def options_of(self, value: Any) -> type[BaseModel] | None:
        """The ``Options`` model the raw ``value`` names, or ``None`` when it names no registered plugin."""
        name = value.get(self.key, self.default) if isinstance(value, dict) else None
        return self.registry.options(name) if isinstance(name, str) and name in self.registry else None


def plugin_field(registry: Registry, key: str, default: str) -> Any:
    """A spec field holding one plugin's options, chosen by ``key`` (``default`` when absent).

    A mapping ``{key: name, **options}`` is validated against
    ``registry.options(name)`` (its ``key`` field is a ``Literal`` of the name);
    a model instance of a registered plugin passes as it is. Errors: a value that
    is not a mapping is ``plugin_choice``, a name the registry does not know is
    ``unknown_plugin`` (both name every known plugin); errors inside the options
    keep their field path. Dumps as the options model's dump.
    """
    choice = PluginChoice(registry, key, default)

    def validate(value: Any) -> BaseModel:
        if isinstance(value, BaseModel):
            name = getattr(value, key, None)
            if name in registry and isinstance(value, registry.options(name)):
                return value
            value = value.model_dump()
        if not isinstance(value, dict):
            raise PydanticCustomError(
                "plugin_choice", "expected a mapping with {key}: one of {names} and its options", _hint(registry, key)
            )
        options = choice.options_of(value)
        if options is None:
            raise PydanticCustomError(
                "unknown_plugin",
                "unknown {kind} {name}; expected one of {names}",
                {**_hint(registry, key), "name": repr(value.get(key, default))},
            )
        return options.model_validate(value)

    return Annotated[
        BaseModel,
        PlainValidator(validate),
        PlainSerializer(lambda m: m.model_dump(), return_type=dict),
        choice,
    ]


def _hint(registry: Registry, key: str) -> dict[str, Any]:
    return {"key": key, "kind": registry.kind, "names": registry.names()}


class LazyModule:
    """A module imported on its first attribute access: ``torch = LazyModule("torch")``.

    Built-in plugin modules that run torch code use it so that importing them
    (to read their ``Options`` while a spec is validated) does not import torch;
    the first ``torch.…`` they evaluate imports it.
    """

    def __init__(self, name: str):
        self._lazy_name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._lazy_name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._lazy_name!r}>"


def import_plugin(entry: str) -> None:
    """Import one plugin module, which registers its plugins: a module name (``my_lab.encoders``) or a ``.py`` file.

    A file is imported once per path, as module ``mtlsearch_plugin_<stem>``;
    ImportError (or the module's own error) when it cannot be imported.
    """
    if not entry.endswith(".py"):
        importlib.import_module(entry)
        return
    path = Path(entry).resolve()
    name = f"mtlsearch_plugin_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return
    if not path.is_file():
        raise ImportError(f"no such plugin file: {path}")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def import_plugins(entries: Iterable[str]) -> None:
    """Import every plugin module of a spec's ``plugins`` (resolved paths or module names), in order."""
    for entry in entries:
        import_plugin(entry)
