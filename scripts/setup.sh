#!/usr/bin/env bash
# Create .venv with everything isap needs (idempotent). Needs only Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  if "$PY" -m uv --version >/dev/null 2>&1 || "$PY" -m pip install -q --disable-pip-version-check uv >/dev/null 2>&1; then
    "$PY" -m uv venv -q .venv -p "$PY"
  else
    "$PY" -m venv .venv
  fi
fi
if .venv/bin/python -m uv --version >/dev/null 2>&1 || "$PY" -m uv --version >/dev/null 2>&1; then
  "$PY" -m uv pip install -q -p .venv/bin/python -e ".[test]"
else
  .venv/bin/python -m pip install -q -e ".[test]"
fi
