#!/usr/bin/env bash
# Installs the Debian packages the console needs when they are missing:
#   postgres  - PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup)
#   chromium  - the browser that the Playwright tests drive
#   pgbouncer - the connection pooler the routing tests and drills run behind
#   faketime  - libfaketime, which skews a server's clock in the clock drills
# As root it installs them with apt-get; otherwise it stops and says what to
# install.
set -euo pipefail

missing=()
for need in "$@"; do
  case "$need" in
    postgres)
      if [ -z "${PG_BINDIR:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        missing+=(postgresql postgresql-contrib)
      fi ;;
    chromium)
      [ -x /usr/bin/chromium ] || missing+=(chromium) ;;
    pgbouncer)
      command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer) ;;
    faketime)
      ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || missing+=(faketime) ;;
    *) echo "unknown need: $need" >&2; exit 2 ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  echo "(or set PG_BINDIR to a directory holding initdb, pg_ctl and pg_basebackup)" >&2
  exit 1
fi
echo "Installing ${missing[*]} with apt-get ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
