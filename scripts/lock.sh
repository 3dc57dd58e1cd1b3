#!/usr/bin/env bash
# Regenerate requirements.lock from pyproject.toml (run after changing a dependency there).
# scripts/setup.sh installs exactly these versions, so every machine runs the combination the tests passed on.
# Versions already locked are kept where pyproject.toml still allows them; `bash scripts/lock.sh --upgrade`
# moves everything to the newest allowed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -m uv --version >/dev/null 2>&1 || "$PY" -m pip install -q --disable-pip-version-check uv
"$PY" -m uv pip compile -q pyproject.toml --extra test --extra dask --universal --python-version 3.11 \
  --no-header -o requirements.lock "$@"
{
  echo "# The exact versions scripts/setup.sh installs: isap's dependencies with its test and dask extras."
  echo "# Regenerate after changing pyproject.toml with:  bash scripts/lock.sh"
  echo "# (python3 -m uv pip compile pyproject.toml --extra test --extra dask --universal --python-version 3.11"
  echo "#  --no-header -o requirements.lock), then run scripts/setup.sh and the tests."
  cat requirements.lock
} > requirements.lock.new
mv requirements.lock.new requirements.lock
