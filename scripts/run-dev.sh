#!/bin/sh
# The development server with the replica lag sampler beside it (`make run`).
#
# The sampler stores a lag sample per replica every 5 seconds for the
# replication page's history chart; it is stopped (SIGTERM, which it handles
# between ticks) whenever the server exits, Ctrl-C included.
set -eu
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"

# The query counters count from this start (see dbops/metrics.py).
"$PY" manage.py shell -c "from dbops.metrics import clear_process_files; clear_process_files()"

"$PY" manage.py dbops sample --every 5 &
sampler=$!
trap 'kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true' EXIT INT TERM

"$PY" manage.py runserver "${1:-127.0.0.1:8000}"
