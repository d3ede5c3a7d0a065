#!/usr/bin/env bash
# A server with the console's two background processes beside it:
#   the replica lag sampler (`dbops sample`), which stores a lag sample per
#   replica every 5 seconds for the replication page's history chart, and
#   the job worker (`db_worker`, django-tasks), which runs big imports and
#   is started again should it exit.
#
#   scripts/run-dev.sh runserver 127.0.0.1:8000     (make run)
#   scripts/run-dev.sh gunicorn                      (make serve)
#   scripts/run-dev.sh --check runserver 127.0.0.1:8000
#       exits 1, saying why, when this checkout already serves or the
#       address is taken; `make run` and `make serve` call it before their
#       setup, so that a second one touches nothing of the first.
#
# One console per checkout: the three processes hold a lock
# (var/run-dev.lock, or $CONSOLE_RUN_LOCK) for as long as any of them
# lives. A second start would otherwise clear the live server's query
# counters (var/metrics) and then fail on the port.
#
# All run in the background so that a signal to this script (Ctrl-C, or a
# TERM from a process manager) is acted on at once: it stops all three; and
# when the server exits by itself the others are stopped too (SIGTERM, which
# both handle between ticks and jobs; a job cut short writes nothing). The
# script exits with the server's status.
set -eu
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
LOCK="${CONSOLE_RUN_LOCK:-var/run-dev.lock}"

check=0
if [ "${1:-}" = "--check" ]; then
    check=1
    shift
fi
mode="${1:-runserver}"
case "$mode" in
    gunicorn) address="${BIND:-127.0.0.1:8000}" ;;
    *) address="${2:-127.0.0.1:8000}" ;;
esac

refuse() {
    echo "run-dev: $1" >&2
    exit 1
}

mkdir -p "$(dirname "$LOCK")"
exec 9>>"$LOCK"
if ! flock --nonblock 9; then
    holder="$(cat "$LOCK" 2>/dev/null || true)"
    refuse "the console is already running from this checkout (${holder:-pid unknown}).
Stop it first (Ctrl-C in its terminal), or use the running one."
fi
case "$address" in
    *:*) host="${address%:*}" port="${address##*:}" ;;
    *) host=127.0.0.1 port="$address" ;;
esac
if (exec 8<>"/dev/tcp/$host/$port") 2>/dev/null; then
    refuse "$address is in use by another program.
Stop it, or give this console another address (make run uses 127.0.0.1:8000; BIND=host:port for make serve)."
fi
if [ "$check" = 1 ]; then
    exit 0
fi
echo "pid $$, $mode on $address, started $(date -u '+%Y-%m-%d %H:%M UTC')" >"$LOCK"

# The query counters count from this start (see dbops/ops/metrics.py).
"$PY" manage.py shell -c "from dbops.ops.metrics import clear_process_files; clear_process_files()"

# The job worker outlives primary outages by itself (console/bulk/workers.py);
# should it exit all the same, it is started again, as systemd's
# Restart=always does in production (docs/deploy/).
supervise() {
    child=""
    trap '[ -n "$child" ] && kill "$child" 2>/dev/null; wait; exit 0' INT TERM
    while :; do
        "$@" &
        child=$!
        status=0
        wait "$child" || status=$?
        echo "run-dev: $* exited ($status); starting it again in 2 s" >&2
        sleep 2
    done
}

"$PY" manage.py dbops sample --every 5 &
sampler=$!
supervise "$PY" manage.py db_worker --queue-name default &
worker=$!
case "$mode" in
    gunicorn) "$PY" -m gunicorn -c gunicorn.conf.py & ;;
    *) "$PY" manage.py runserver "$address" & ;;
esac
server=$!

trap 'kill "$server" "$sampler" "$worker" 2>/dev/null || true' INT TERM
trap 'kill "$sampler" "$worker" 2>/dev/null || true; wait' EXIT
status=0
wait "$server" || status=$?
# A signal interrupts the first `wait`; this one lets the server finish.
wait "$server" 2>/dev/null || true
exit "$status"
