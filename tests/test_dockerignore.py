"""The repository's .dockerignore against cluster/Dockerfile, checked offline (no Docker needed).

``docker build -f cluster/Dockerfile .`` sends the repository root as the build
context. Without a .dockerignore that includes ``.venv`` (several GB) and
``.git``; with a wrong one the image misses what it copies. So: every COPY
source of the Dockerfile stays in the context, and the virtualenv, git history,
caches, test artifacts and local results do not.

The matcher follows Docker's rules (moby/patternmatcher, as used by BuildKit):
patterns are relative to the context root (a leading ``/`` is dropped, a
trailing ``/`` too), ``*`` and ``?`` stay within one path segment, ``**``
spans any number of segments, a pattern that matches a directory excludes
everything below it, ``!`` re-includes, and the last matching line wins.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERIGNORE = ROOT / ".dockerignore"
DOCKERFILE = ROOT / "cluster" / "Dockerfile"


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """One .dockerignore pattern as a regex over a slash-separated path relative to the context root."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def load_patterns(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """The (exclude?, regex) rules of a .dockerignore, comments and blank lines skipped."""
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:].strip() if negate else line
        line = posixpath.normpath(line.lstrip("/")).rstrip("/")
        rules.append((not negate, _pattern_regex(line)))
    return rules


def is_ignored(rel_path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether `rel_path` (relative to the context root) is left out of the build context."""
    parts = rel_path.strip("/").split("/")
    ignored = False
    for excludes, regex in rules:
        # a pattern matching the path or any directory above it applies to the path
        if any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            ignored = excludes
    return ignored


def copy_sources(dockerfile: Path) -> list[str]:
    """The context paths the Dockerfile's COPY / ADD instructions read (not --from=stage copies)."""
    sources = []
    text = dockerfile.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        sources += args[:-1]  # the last argument is the destination
    return sources


@pytest.fixture(scope="module")
def rules():
    assert DOCKERIGNORE.is_file(), ".dockerignore is missing at the repository root (the build context of cluster/Dockerfile)"
    return load_patterns(DOCKERIGNORE)


def test_the_dockerfile_builds_from_the_repository_root():
    text = DOCKERFILE.read_text()
    assert "docker build -f cluster/Dockerfile" in text and re.search(r"docker build -f cluster/Dockerfile [^\n]* \.\n", text)


def test_every_copy_source_is_in_the_context(rules):
    sources = copy_sources(DOCKERFILE)
    assert {"pyproject.toml", "README.md", "mtlsearch", "search_spaces"} <= set(sources), sources
    for src in sources:
        assert (ROOT / src).exists(), f"cluster/Dockerfile copies {src}, which does not exist in the repository"
        assert not is_ignored(src, rules), f".dockerignore leaves out {src}, which cluster/Dockerfile copies"
    # the package's modules themselves, not just the folder
    for py in sorted((ROOT / "mtlsearch").rglob("*.py"))[:50]:
        rel = py.relative_to(ROOT).as_posix()
        assert not is_ignored(rel, rules), f".dockerignore leaves out {rel}"
    for spec in sorted((ROOT / "search_spaces").glob("*.yaml")):
        rel = spec.relative_to(ROOT).as_posix()
        assert not is_ignored(rel, rules), f".dockerignore leaves out {rel}"


@pytest.mark.parametrize(
    "path",
    [
        ".venv",
        ".venv/lib/python3.11/site-packages/torch/__init__.py",
        ".git",
        ".git/objects/pack/pack-1.pack",
        "mtlsearch/__pycache__/cli.cpython-311.pyc",
        "mtlsearch_results/experiments/quickstart/results.parquet",
        "tests/artifacts/run.log",
        ".pytest_cache/v/cache/lastfailed",
        "mtlsearch.egg-info/PKG-INFO",
    ],
)
def test_heavy_and_local_paths_are_ignored(rules, path):
    assert is_ignored(path, rules), f".dockerignore does not leave out {path}"


def test_the_matcher_follows_dockers_rules():
    rules = [(True, _pattern_regex("a/*.txt")), (True, _pattern_regex("**/cache")), (False, _pattern_regex("a/keep.txt"))]
    assert is_ignored("a/x.txt", rules) and not is_ignored("a/b/x.txt", rules)  # * stays in one segment
    assert is_ignored("cache/f", rules) and is_ignored("x/y/cache/f", rules)  # ** spans segments
    assert not is_ignored("a/keep.txt", rules)  # ! re-includes, last match wins
    plain = [(True, _pattern_regex("__pycache__"))]
    assert is_ignored("__pycache__/m.pyc", plain) and not is_ignored("pkg/__pycache__/m.pyc", plain)  # root-relative
