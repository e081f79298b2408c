#!/usr/bin/env bash
# Creates .venv and installs mtlsearch with its test extras, the sql extra (DuckDB) and the dashboard extra
# (optuna-dashboard): the tests that use them run in CI.
# torch is installed first, pinned, so the project's torch range is already met and pip
# does not pull a different build (on a CPU-only machine, install a CPU build of torch 2.13 first).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test,sql,dashboard]"
echo "installed: $(.venv/bin/mtlsearch --help >/dev/null && echo mtlsearch) into .venv"
