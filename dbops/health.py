"""Replica state and lag, measured on the servers themselves.

Two readings share one SQL probe of the replica:

* `probe(alias)`: what the router needs, in one query on the replica and
  none on the primary, so that routing costs at most one query per request
  per replica.
* `replica_status(alias)`: what operators need (ops pages, /readyz,
  /metrics), which adds the primary's own WAL position for an exact byte lag.

Time lag is `now() - pg_last_xact_replay_timestamp()` only while the replica
has received WAL it has not replayed; when it has replayed all it received it
is zero. The naive formula alone grows forever on an idle primary.

Unreachable replicas are remembered process-wide and skipped for
`REPLICA_RETRY_SECONDS`, so a dead replica costs one failed connect per
process per retry period, not one per query.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace

from django.db import Error, connections

from dbops import conf, failover

logger = logging.getLogger("dbops.routing")

PROBE_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END,
       pg_last_wal_receive_lsn()::text,
       pg_last_wal_replay_lsn()::text,
       CASE
         WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
           THEN 0
         ELSE COALESCE(
           EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
       END::float8
"""


def lsn_to_int(lsn: str | None) -> int | None:
    """'16/B374D848' -> the byte position as an integer (None stays None)."""
    if not lsn:
        return None
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def int_to_lsn(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class ReplicaStatus:
    alias: str
    reachable: bool
    in_recovery: bool | None = None
    replay_paused: bool | None = None
    receive_lsn: str | None = None
    replay_lsn: str | None = None
    primary_lsn: str | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    error: str = ""
    checked_at: float = field(default_factory=time.time)

    @property
    def replay_position(self) -> int | None:
        return lsn_to_int(self.replay_lsn)

    def over_lag(self, *, max_seconds: float, max_bytes: int) -> bool:
        return (self.lag_seconds or 0) > max_seconds or (
            self.lag_bytes or 0
        ) > max_bytes


class _DownList:
    """Replicas found unreachable, and until when they are skipped."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def mark(self, alias: str, reason: str) -> None:
        with self._lock:
            newly = alias not in self._until
            self._until[alias] = time.monotonic() + conf.retry_seconds()
        if newly:
            logger.warning(
                "replica marked down",
                extra={"event": "replica_down", "alias": alias, "reason": reason},
            )

    def is_down(self, alias: str) -> bool:
        until = self._until.get(alias)
        return until is not None and time.monotonic() < until

    def clear(self, alias: str) -> None:
        with self._lock:
            was_down = self._until.pop(alias, None) is not None
        if was_down:
            logger.info(
                "replica back up", extra={"event": "replica_up", "alias": alias}
            )

    def reset(self) -> None:
        with self._lock:
            self._until.clear()


down_list = _DownList()


class _PrimaryPosition:
    """The highest WAL position this process has seen on the primary.

    Lets the router's probe measure byte lag against the primary without a
    query on the primary: on a streaming replica the received position runs
    ahead of replay (that is exactly what a paused replay looks like), and
    this process's own writes and status checks push the mark further.
    """

    def __init__(self) -> None:
        self.position = 0

    def observe(self, position: int | None) -> None:
        if position and position > self.position:
            self.position = position


primary_position = _PrimaryPosition()


def _close_quietly(alias: str) -> None:
    try:
        connections[alias].close()
    except Error:
        pass


def _run_probe(alias: str) -> tuple:
    with failover.disabled(), connections[alias].cursor() as cursor:
        cursor.execute(PROBE_SQL)
        return cursor.fetchone()


def _probe_row(alias: str) -> tuple:
    """The probe's row, on a fresh connection if the persistent one broke.

    A reused connection may have died while the server is fine (killed
    backend, server restart), so one failure on it proves nothing; only a
    fresh connection that fails marks the replica down.
    """
    reused = connections[alias].connection is not None
    try:
        return _run_probe(alias)
    except Error:
        _close_quietly(alias)
        if not reused:
            raise
    return _run_probe(alias)


def probe(alias: str) -> ReplicaStatus:
    """One query on the replica: its replay state and lag (see module doc).

    An unreachable replica is marked down and reported as not reachable; it
    never raises. `Error` rather than `DatabaseError`: a dead persistent
    connection raises InterfaceError, which is not a DatabaseError.
    """
    try:
        in_recovery, paused, receive, replay, lag_seconds = _probe_row(alias)
    except Error as exc:
        _close_quietly(alias)
        down_list.mark(alias, reason=str(exc).strip().splitlines()[0])
        return ReplicaStatus(alias=alias, reachable=False, error=type(exc).__name__)
    down_list.clear(alias)
    replay_position = lsn_to_int(replay)
    reference = max(lsn_to_int(receive) or 0, primary_position.position)
    lag_bytes = max(reference - replay_position, 0) if replay_position else None
    return ReplicaStatus(
        alias=alias,
        reachable=True,
        in_recovery=in_recovery,
        replay_paused=paused,
        receive_lsn=receive,
        replay_lsn=replay,
        lag_bytes=lag_bytes,
        lag_seconds=round(lag_seconds, 3),
    )


def primary_lsn(using: str = "default") -> int | None:
    """The primary's current WAL write position, or None if it is down."""
    try:
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            position = lsn_to_int(cursor.fetchone()[0])
    except Error:
        _close_quietly(using)
        return None
    primary_position.observe(position)
    return position


def replica_status(using: str, *, primary: str = "default") -> ReplicaStatus:
    """The replica's full status, with byte lag against the primary's position."""
    primary_now = primary_lsn(primary)
    status = probe(using)
    if not status.reachable:
        return status
    replay = status.replay_position
    lag_bytes = status.lag_bytes
    if primary_now is not None and replay is not None:
        lag_bytes = max(primary_now - replay, 0)
    return replace(
        status,
        primary_lsn=int_to_lsn(primary_now) if primary_now else None,
        lag_bytes=lag_bytes,
    )
