#!/usr/bin/env bash
# Set up (if needed) and start the dashboard on an embedded SQLite database with demo data.
# Data lives in ./.isap-data unless ISAP_DATA_DIR or ISAP_DATABASE_URL say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export ISAP_DATA_DIR=${ISAP_DATA_DIR:-$PWD/.isap-data}
.venv/bin/isap db upgrade
.venv/bin/isap demo load
exec .venv/bin/isap dashboard --port "${PORT:-8501}" "$@"
