#!/usr/bin/env bash
# Set up (if needed) and start the dashboard and the HTTP API on an embedded SQLite database with demo data.
# Data lives in ./.isap-data unless ISAP_DATA_DIR or ISAP_DATABASE_URL say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export ISAP_DATA_DIR=${ISAP_DATA_DIR:-$PWD/.isap-data}
.venv/bin/isap db upgrade
# demo data goes only into an empty store or one it made; a store holding real data is refused and started as it is
.venv/bin/isap demo load || echo "run.sh: no demo data loaded; starting the dashboard on the data already there" >&2
# the HTTP API (docs/api.md) beside it, on the next port unless API_PORT says otherwise
exec .venv/bin/isap dashboard --port "${PORT:-8501}" --api-port "${API_PORT:-$(( ${PORT:-8501} + 1 ))}" "$@"
