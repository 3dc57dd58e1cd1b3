#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. Extra arguments go to pytest.
#   --fast   only the unit tier and the integration tier on SQLite (CONTRIBUTING.md): minutes, not the
#            quarter hour the whole suite takes; no browser, Prefect server of its own, PostgreSQL or office suite
set -euo pipefail
cd "$(dirname "$0")/.."
FAST_TIERS="unit or (integration and not postgres)"
args=()
for arg in "$@"; do
  if [ "$arg" = "--fast" ]; then
    args+=(-m "$FAST_TIERS")
  else
    args+=("$arg")
  fi
done
bash scripts/setup.sh
# pytest keeps its assert-rewritten test modules, and Python its compiled ones, only where bytecode may be
# written; without them every run compiles the suite again (__pycache__ is ignored by git)
unset PYTHONDONTWRITEBYTECODE
exec .venv/bin/python -m pytest ${args[@]+"${args[@]}"}
