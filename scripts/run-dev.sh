#!/bin/sh
# A server with the console's two background processes beside it:
#   the replica lag sampler (`dbops sample`), which stores a lag sample per
#   replica every 5 seconds for the replication page's history chart, and
#   the job worker (`db_worker`, django-tasks), which runs big imports.
#
#   scripts/run-dev.sh runserver 127.0.0.1:8000     (make run)
#   scripts/run-dev.sh gunicorn                      (make serve)
#
# All run in the background so that a signal to this script (Ctrl-C, or a
# TERM from a process manager) is acted on at once: it stops all three; and
# when the server exits by itself the others are stopped too (SIGTERM, which
# both handle between ticks and jobs; a job cut short writes nothing).
set -eu
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"

# The query counters count from this start (see dbops/metrics.py).
"$PY" manage.py shell -c "from dbops.metrics import clear_process_files; clear_process_files()"

"$PY" manage.py dbops sample --every 5 &
sampler=$!
"$PY" manage.py db_worker --queue-name default &
worker=$!
case "${1:-runserver}" in
    gunicorn) "$PY" -m gunicorn -c gunicorn.conf.py & ;;
    *) "$PY" manage.py runserver "${2:-127.0.0.1:8000}" & ;;
esac
server=$!

trap 'kill "$server" "$sampler" "$worker" 2>/dev/null || true' INT TERM
trap 'kill "$sampler" "$worker" 2>/dev/null || true; wait' EXIT
wait "$server" || true
# A signal interrupts the first `wait`; this one lets the server finish.
wait "$server" 2>/dev/null || true
