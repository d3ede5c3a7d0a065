"""The two queries that feed the replica rule: one on the primary, one on
each replica, each bounded by a client-side deadline.

They run with failover off (a probe must fail on the replica itself rather
than quietly get the primary's answer) and are left out of the query
counters (monitoring, not the console's load). A failure is reported, never
raised.
"""

from __future__ import annotations

import time

from django.db import Error, connections

from dbops.ops import metrics
from dbops.routing import conf, deadline, failover, outage
from dbops.routing.rule import PrimaryState, ReplicaState, lsn_to_int

PRIMARY_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_lsn()::text END,
       (SELECT system_identifier::text FROM pg_control_system()),
       concat_ws(':', host(inet_server_addr()), inet_server_port())
"""

REPLICA_SQL = """
SELECT pg_is_in_recovery(),
       (SELECT system_identifier::text FROM pg_control_system()),
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END,
       pg_last_wal_receive_lsn()::text,
       pg_last_wal_replay_lsn()::text,
       (SELECT CASE WHEN count(*) = 0 THEN false
                    WHEN bool_or(status = 'streaming') THEN true END
        FROM pg_stat_wal_receiver),
       concat_ws(' ', inet_server_addr(), inet_server_port(),
                 pg_postmaster_start_time())
"""
# The WAL receiver's status is NULL to roles without pg_read_all_stats:
# then whether the replica streams is unknown (None), not "no".


def error_text(exc: BaseException) -> str:
    """The first line of a driver error, for logs and pages."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def close_quietly(alias: str) -> None:
    try:
        connections[alias].close()
    except Error:
        pass


def _fetch_row(alias: str, sql: str) -> tuple:
    with (
        failover.disabled(),
        metrics.not_counted(),
        connections[alias].cursor() as cursor,
    ):
        if alias in conf.replica_aliases():
            cursor.execute(sql)  # the backend bounds every replica round trip
            return cursor.fetchone()
        # The primary's own queries are not bounded (a slow write must
        # finish), but its check is monitoring: a hung primary, or a pooler
        # queueing for a primary that is down, must not hold up the reads
        # that replicas can serve.
        seconds = conf.read_timeout()
        with deadline.watch(connections[alias].connection.fileno(), seconds) as watch:
            try:
                cursor.execute(sql)
            except Error as exc:
                if watch.fired:
                    raise failover.NoAnswer(alias, seconds) from exc
                raise
        return cursor.fetchone()


def _row(alias: str, sql: str) -> tuple:
    """The probe's row, on a fresh connection if the persistent one broke.

    A reused connection may have died while the server is fine (a killed
    backend, a restart), so one failure on it proves nothing; only a fresh
    connection that fails counts. A server that did not answer in time is
    not asked again.
    """
    # Django recycles connections at the end of a request; a probe may run
    # on a thread of its own that has none, so it honours CONN_MAX_AGE here.
    connections[alias].close_if_unusable_or_obsolete()
    reused = connections[alias].connection is not None
    try:
        return _fetch_row(alias, sql)
    except failover.NoAnswer:
        raise  # a server that hangs would hang a fresh connection too
    except Error:
        close_quietly(alias)
        if not reused:
            raise
    return _fetch_row(alias, sql)


def check_primary(alias: str) -> PrimaryState:
    """The primary's current WAL position and cluster identity. A primary
    that gave no answer is not asked again within its back-off (`outage`)."""
    now = time.time()
    measured_at = time.monotonic()  # before the query: see rule.lag_seconds
    try:
        in_recovery, position, system_identifier, server = _row(alias, PRIMARY_SQL)
    except Error as exc:
        if isinstance(exc, failover.NoAnswer):
            outage.remember(alias, error_text(exc))
        close_quietly(alias)
        return PrimaryState(reachable=False, error=error_text(exc), checked_at=now)
    outage.forget(alias)
    return PrimaryState(
        reachable=True,
        position=lsn_to_int(position),
        system_identifier=system_identifier,
        in_recovery=in_recovery,
        server=server,
        error="a server in recovery (a replica) where the primary should be"
        if in_recovery
        else "",
        checked_at=now,
        measured_at=measured_at,
    )


def probe_replica(alias: str) -> ReplicaState:
    """The replica's raw state (no lag yet: that needs the primary's
    history, see `monitor`). Its clock is not asked: time lag is measured on
    this process's monotonic clock alone (`rule.lag_seconds`)."""
    now = time.time()
    try:
        row = _row(alias, REPLICA_SQL)
    except Error as exc:
        close_quietly(alias)
        return ReplicaState(
            alias, reachable=False, error=error_text(exc), checked_at=now
        )
    (
        in_recovery,
        system_identifier,
        paused,
        receive,
        replay,
        receiving,
        server,
    ) = row
    return ReplicaState(
        alias,
        reachable=True,
        # Which server answered: its cluster, address and start time.
        server=f"{system_identifier} {server}",
        in_recovery=in_recovery,
        system_identifier=system_identifier,
        replay_paused=paused,
        receiving=receiving,
        receive_position=lsn_to_int(receive),
        replay_position=lsn_to_int(replay),
        checked_at=now,
    )


def server_of(alias: str) -> str | None:
    """The server a fresh connection to `alias` reaches (None: none)."""
    try:
        row = _row(alias, REPLICA_SQL)
    except Error:
        return None
    finally:
        close_quietly(alias)
    return f"{row[1]} {row[6]}"


USER_POSITIONS_SQL = """
SELECT user_id, position FROM dbops_userwriteposition
WHERE written_at > now() - make_interval(secs => %s)
"""


def recent_user_positions(alias: str, *, max_age: float) -> dict[int, int]:
    """The write positions of users who wrote within `max_age` seconds, read
    on the primary with its check (a handful of rows: only recent writers).
    Empty where it cannot be read (before `migrate`, primary down)."""
    try:
        with metrics.not_counted(), connections[alias].cursor() as cursor:
            cursor.execute(USER_POSITIONS_SQL, [max_age])
            return dict(cursor.fetchall())
    except Error:
        return {}
