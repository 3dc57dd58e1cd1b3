#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. Extra arguments go to pytest.
#   With no arguments, the whole suite runs in two parts, each spread over a pytest-xdist worker per core: the unit
#   and integration tiers, then the e2e tier (its tests spend most of their time waiting on the servers, browsers
#   and office suites they start, so two run beside each other): a module at a time, so that a module's servers
#   and costly files are made once (`--dist loadscope`), the longest modules first (tests/conftest.py; without
#   `--no-loadscope-reorder`, xdist orders them by their number of tests). Both parts run; the exit status is the
#   first part's that failed.
#   --fast   only the unit tier and the integration tier on SQLite (CONTRIBUTING.md): minutes, not the
#            quarter hour the whole suite takes; no browser, Prefect server of its own, PostgreSQL or office suite.
#            The whole fast tier is spread over a pytest-xdist worker per core (`-n auto`); given test files, or
#            `-n`, it is not (a worker starts the stack of its own: seconds a single file does not win back)
set -euo pipefail
cd "$(dirname "$0")/.."
FAST_TIERS="unit or (integration and not postgres)"
args=()
fast=0
spread=1
for arg in "$@"; do
  case "$arg" in
    --fast) fast=1; args+=(-m "$FAST_TIERS") ;;
    -n|-n*|--numprocesses|--numprocesses=*|no:xdist) spread=0; args+=("$arg") ;;
    *) if [ -e "${arg%%::*}" ]; then spread=0; fi; args+=("$arg") ;;
  esac
done
if [ "$fast" = 1 ] && [ "$spread" = 1 ]; then
  args+=(-n auto)
fi
bash scripts/setup.sh
# pytest keeps its assert-rewritten test modules, and Python its compiled ones, only where bytecode may be
# written; without them every run compiles the suite again (__pycache__ is ignored by git)
unset PYTHONDONTWRITEBYTECODE
if [ "$#" = 0 ]; then
  status=0
  .venv/bin/python -m pytest -m "not e2e" -n auto || status=$?
  .venv/bin/python -m pytest -m e2e -n auto --dist loadscope --no-loadscope-reorder || { part=$?; [ "$status" != 0 ] || status=$part; }
  exit "$status"
fi
exec .venv/bin/python -m pytest ${args[@]+"${args[@]}"}
