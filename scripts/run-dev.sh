#!/bin/sh
# The development server with the replica lag sampler beside it (`make run`).
#
# The sampler stores a lag sample per replica every 5 seconds for the
# replication page's history chart. Both run in the background so that a
# signal to this script (Ctrl-C, or a TERM from a process manager) is acted
# on at once: it stops both; and when the server exits by itself the sampler
# is stopped too (SIGTERM, which it handles between ticks).
set -eu
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"

# The query counters count from this start (see dbops/metrics.py).
"$PY" manage.py shell -c "from dbops.metrics import clear_process_files; clear_process_files()"

"$PY" manage.py dbops sample --every 5 &
sampler=$!
"$PY" manage.py runserver "${1:-127.0.0.1:8000}" &
server=$!

trap 'kill "$server" "$sampler" 2>/dev/null || true' INT TERM
trap 'kill "$sampler" 2>/dev/null || true; wait' EXIT
wait "$server" || true
# A signal interrupts the first `wait`; this one lets the server finish.
wait "$server" 2>/dev/null || true
