"""The package's layering: no import circle between its modules, and light commands that import no torch or Ray."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED_DATA

PACKAGE = REPO / "mtlsearch"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, at the top or inside a function (both can close a circle)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mtlsearch"):
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    graph[name].add(target if target in modules else node.module)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules)
    return {m: {t for t in targets if t in modules and t != m} for m, targets in graph.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_package_takes_part_in_an_import_circle():
    graph = import_graph()
    assert "mtlsearch.data.registry" in graph and "mtlsearch.data.loader" in graph["mtlsearch.data.synthetic"]
    assert circles(graph) == []


def test_every_registry_knows_its_builtins_by_the_module_that_registers_them():
    import importlib

    from mtlsearch.data.loader import BUILTIN_LOADERS, LOADERS
    from mtlsearch.grouping.methods import GROUPING_METHODS
    from mtlsearch.metrics.task_metrics import METRICS
    from mtlsearch.models.encoders import ENCODERS
    from mtlsearch.train.weightings import WEIGHTINGS

    for registry in (LOADERS, ENCODERS, WEIGHTINGS, GROUPING_METHODS, METRICS):
        for name, module in registry.builtin.items():
            importlib.import_module(module)
            assert registry.get(name).__module__ == module
    assert list(BUILTIN_LOADERS) == LOADERS.names()[: len(BUILTIN_LOADERS)]


LIGHT = """
import json, sys
from mtlsearch.cli import main
codes = []
for spec in sys.argv[1:]:
    codes.append(main(["validate", spec]))
try:
    main(["--help"])
except SystemExit:
    pass
print(json.dumps({"codes": codes, "heavy": sorted(m for m in ("torch", "ray", "transformers") if m in sys.modules)}))
"""


def test_validate_and_help_import_neither_torch_nor_ray(tmp_path):
    """Every ready spec validates, and neither that nor ``--help`` imports torch, Ray or transformers."""
    specs = sorted(str(p) for p in (REPO / "search_spaces").glob("*.yaml"))
    if not (SHARED_DATA / "ohsumed").is_dir():
        pytest.skip(f"the ready real-data specs need the shared data at {SHARED_DATA} (set MTLSEARCH_DATA)")
    env = {**os.environ, "MTLSEARCH_DATA": str(SHARED_DATA)}
    from mtlsearch.data.example_table import write_example_table

    write_example_table(tmp_path / "clinic.csv")  # table_example.yaml reads ./clinic.csv
    done = subprocess.run(
        [sys.executable, "-c", LIGHT, *specs], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["codes"] == [0] * len(specs), done.stderr
    assert result["heavy"] == []
