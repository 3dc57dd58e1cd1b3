#!/usr/bin/env bash
# Create .venv with everything isap needs (idempotent). Needs only Python 3.11.
# The versions are requirements.lock's (scripts/lock.sh regenerates it), so every machine runs the combination
# the tests passed on; isap itself is installed on top, editable, without resolving anything again.
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
# Bytecode is compiled now: with PYTHONDONTWRITEBYTECODE set (as in many containers) Python never writes it
# itself, and every cold start would compile the modules it imports again.
if .venv/bin/python -m uv --version >/dev/null 2>&1 || "$PY" -m uv --version >/dev/null 2>&1; then
  "$PY" -m uv pip install -q -p .venv/bin/python --compile-bytecode -r requirements.lock
  "$PY" -m uv pip install -q -p .venv/bin/python --no-deps -e .
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
fi
.venv/bin/python -m compileall -q isap checks dashboards
