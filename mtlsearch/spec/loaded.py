"""Loading a spec file: ``load_spec`` and ``LoadedSpec``, the validated spec checked against its dataset's loader.

``load_spec`` reads the YAML (keeping its nodes for line numbers), imports the
plugin modules it lists under ``plugins`` (:mod:`mtlsearch.plugins`), validates it
as a :class:`~mtlsearch.spec.schema.Spec` and checks the dataset: the loader
name and options, and every task name the spec uses (groupings, static weights,
class weighting, CO-TASK major tasks, metadata choices, descriptions, k). The
loader registry is imported only when a spec is checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mtlsearch.errors import SpecError
from mtlsearch.models.plan import COPY_SEPARATOR
from mtlsearch.plugins import import_plugin
from mtlsearch.spec.names import metadata_tasks
from mtlsearch.spec.schema import Spec
from mtlsearch.spec.yaml_errors import _describe, _dotted, _line_of


def load_spec(path: str | Path, storage_override: str | None = None) -> "LoadedSpec":
    """Read, parse and validate a spec file; raise :class:`SpecError` naming every problem."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(str(path), [f"{path}: no such file"])
    text = path.read_text()
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise SpecError(str(path), [f"{where}: not valid YAML: {getattr(e, 'problem', e)}"]) from None
    if not isinstance(data, dict):
        raise SpecError(str(path), [f"{path}:1: expected a mapping at the top level, got {type(data).__name__}"])
    data = _with_plugins(path, root, data)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as e:
        raise SpecError(str(path), [_describe(path, root, err, data) for err in e.errors()]) from None
    if storage_override:
        spec = spec.model_copy(update={"storage": storage_override})
    loaded = LoadedSpec(path=path, spec=spec, root=root)
    loaded.check_dataset()
    return loaded


def _with_plugins(path: Path, root: yaml.Node | None, data: dict) -> dict:
    """Import the spec's ``plugins`` (so their names validate) and return ``data`` with each entry resolved:
    a ``.py`` file becomes an absolute path (relative ones are relative to the spec's folder)."""
    entries = data.get("plugins")
    if entries is None:
        return data
    if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
        line = _line_of(root, ("plugins",))
        raise SpecError(str(path), [f"{path}:{line}: field 'plugins': expected a list of module names or .py files"])
    resolved = [str((path.parent / e).resolve()) if e.endswith(".py") else e for e in entries]
    for i, entry in enumerate(resolved):
        try:
            import_plugin(entry)
        except Exception as e:
            line = _line_of(root, ("plugins", i))
            raise SpecError(
                str(path), [f"{path}:{line}: field 'plugins.{i}': cannot import {entries[i]!r}: {type(e).__name__}: {e}"]
            ) from None
    return {**data, "plugins": resolved}


class LoadedSpec:
    """A validated spec with the file it came from and its validated loader options."""

    def __init__(self, path: Path, spec: Spec, root: yaml.Node | None):
        self.path = path
        self.spec = spec
        self._root = root
        self.loader_options: Any = None

    def error(self, loc: tuple, message: str) -> SpecError:
        line = _line_of(self._root, loc)
        where = f"{self.path}:{line}" if line else str(self.path)
        return SpecError(str(self.path), [f"{where}: field '{_dotted(loc)}': {message}"])

    def check_dataset(self) -> None:
        """Validate the loader name and options, and the task names used in groupings."""
        from mtlsearch.data.loader import LOADERS
        from mtlsearch.data.registry import get_loader

        ds = self.spec.dataset
        if ds.loader not in LOADERS:
            raise self.error(("dataset", "loader"), LOADERS.unknown(ds.loader))
        loader = get_loader(ds.loader)
        try:
            self.loader_options = loader.Options.model_validate(ds.options)
        except ValidationError as e:
            problems = [
                _describe(self.path, self._root, {**err, "loc": ("dataset", "options", *err["loc"])}) for err in e.errors()
            ]
            raise SpecError(str(self.path), problems) from None
        known = {t.name for t in loader.tasks(self.loader_options)}
        for gname, groups in self.spec.groupings.items():
            # groups may overlap (a task in several groups trains a copy in each, mtlsearch.models.plan)
            overlapping = len({t for g in groups for t in g}) < sum(len(set(g)) for g in groups)
            for gi, group in enumerate(groups):
                for ti, task in enumerate(group):
                    if task not in known:
                        raise self.error(
                            ("groupings", gname, gi, ti),
                            f"unknown task {task!r}; the dataset's tasks are {sorted(known)}",
                        )
                    if task in group[:ti]:
                        raise self.error(("groupings", gname, gi, ti), f"task {task!r} is listed twice in this group")
                    if overlapping and COPY_SEPARATOR in task:
                        raise self.error(
                            ("groupings", gname, gi, ti),
                            f"task {task!r} contains {COPY_SEPARATOR!r}, which names the copies of a task in "
                            "overlapping groups; this grouping overlaps",
                        )
            if not groups or any(not g for g in groups):
                raise self.error(("groupings", gname), "expected a non-empty list of non-empty task lists")
        weighting = self.spec.train.weighting
        for task in getattr(weighting, "weights", {}):
            if task not in known:
                raise self.error(
                    ("train", "weighting", "weights", task), f"unknown task {task!r}; the dataset's tasks are {sorted(known)}"
                )
        primary = {t.name for t in loader.tasks(self.loader_options) if t.role == "primary"}
        for i, task in enumerate(self.spec.train.class_weighted if isinstance(self.spec.train.class_weighted, list) else []):
            if task not in known:
                raise self.error(
                    ("train", "class_weighted", i), f"unknown task {task!r}; the dataset's tasks are {sorted(known)}"
                )
        for i, task in enumerate(self.spec.train.cotask.major):
            if task not in primary:
                raise self.error(
                    ("train", "cotask", "major", i),
                    f"unknown primary task {task!r}; the dataset's primary tasks are {sorted(primary)}",
                )
        if self.spec.model.inputs is not None:
            self.check_inputs(loader.inputs(self.loader_options), loader.tasks(self.loader_options))
        if self.spec.search.space.metadata is not None:
            self.check_metadata({t.name: t.role for t in loader.tasks(self.loader_options)})
        for task in ds.descriptions:
            if task not in known:
                raise self.error(
                    ("dataset", "descriptions", task), f"unknown task {task!r}; the dataset's tasks are {sorted(known)}"
                )
        grouping = self.spec.search.space.grouping_space()
        if grouping is not None and grouping.computed_methods():
            too_big = [k for k in grouping.k_values() if k > len(known)]
            if too_big:
                raise self.error(
                    ("search", "space", "grouping", "k"), f"k must not exceed the number of tasks ({len(known)}), got {too_big}"
                )
            if "embedding" in grouping.computed_methods():
                self.check_descriptions(loader.tasks(self.loader_options))

    def check_inputs(self, inputs, tasks) -> None:
        """``model.inputs``: each input exists in the dataset and suits its encoder, and gives away none of the
        tasks a trial may train (an attribute cannot be both an input and a task). ``inputs`` None: the
        loader cannot list them before building; each trial checks them then."""
        from mtlsearch.models.encoders.multimodal import attribute_conflicts, input_problems

        if inputs is None:
            return
        chosen = self.spec.model.inputs
        for name, message in input_problems(chosen, inputs):
            raise self.error(("model", "inputs", name), message)
        roles = {t.name: t.role for t in tasks}
        for name, clash in attribute_conflicts(chosen, inputs, list(roles)):
            described = ", ".join(f"{t!r} ({roles[t]})" for t in clash)
            raise self.error(
                ("model", "inputs", name),
                f"input {name!r} carries the attributes the task(s) {described} predict: an attribute cannot be both "
                "an input and a (metadata) task in one trial; leave those tasks out of the dataset "
                "(dataset.options.tasks) or drop the input",
            )

    def check_metadata(self, roles: dict[str, str]) -> None:
        """Every task of ``search.space.metadata`` must be one of the dataset's non-primary (auxiliary, metadata) tasks."""
        offered = sorted(t for t, r in roles.items() if r != "primary")
        for i, choice in enumerate(self.spec.search.space.metadata.choice):
            for task in metadata_tasks(choice):
                if task not in roles:
                    raise self.error(
                        ("search", "space", "metadata", "choice", i),
                        f"unknown metadata task {task!r}; the dataset's metadata (auxiliary) tasks are {offered}",
                    )
                if roles[task] == "primary":
                    raise self.error(
                        ("search", "space", "metadata", "choice", i),
                        f"{task!r} is a primary task (always trained, counted in Δm); metadata tasks are the "
                        f"dataset's auxiliary tasks {offered}",
                    )

    def check_descriptions(self, tasks) -> None:
        """With ``grouping_methods.embedding.text: description``, every task needs a description."""
        if self.spec.grouping_methods.embedding.text != "description":
            return
        missing = [t.name for t in tasks if not (self.spec.dataset.descriptions.get(t.name) or t.description)]
        if missing:
            raise self.error(
                ("grouping_methods", "embedding", "text"),
                f"'description' needs a description for every task; none for {missing} (add them under dataset.descriptions, or use text: name)",
            )

    @property
    def storage(self) -> str:
        return self.spec.storage
