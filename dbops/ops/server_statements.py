"""What each server spent its time on, from PostgreSQL's own
`pg_stat_statements`: the primary and every replica, each read on the
server itself (a replica's statistics are its own, not the primary's).

A replica that the monitor knows is down is not asked (the page must not
wait for it); one that fails now is reported, never answered for by the
primary. A server without the extension, or without the library loaded,
gets the step that would enable it instead of a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import Error, connections

from dbops.ops import replication
from dbops.routing import failover, probes
from dbops.routing.aliases import PRIMARY

TOP = 20

# The statements of this database (the statistics hold the whole server's),
# by the time they took in all. `rows` is what they returned or changed.
TOP_SQL = """
SELECT query, calls, total_exec_time, mean_exec_time, rows
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND toplevel
ORDER BY total_exec_time DESC
LIMIT %s
"""

NOT_INSTALLED = (
    "pg_stat_statements is not installed in this database: "
    "run CREATE EXTENSION pg_stat_statements on the primary "
    "(migration dbops 0003 does when its user may)."
)
NOT_LOADED = (
    "pg_stat_statements is not loaded on this server: add it to "
    "shared_preload_libraries in postgresql.conf and restart the server."
)


@dataclass(frozen=True)
class Statement:
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int


@dataclass(frozen=True)
class ServerStatements:
    alias: str
    statements: list[Statement]
    problem: str = ""  # why there is no table


def problem_of(exc: Error) -> str:
    """What an operator should do about a failed read of the statistics."""
    code = getattr(exc.__cause__, "pgcode", None)
    if code == "42P01":  # undefined_table: the extension was never created
        return NOT_INSTALLED
    if code == "55000":  # object_not_in_prerequisite_state: not preloaded
        return NOT_LOADED
    return f"unreachable: {probes.error_text(exc)}"


def top_statements(alias: str, limit: int = TOP) -> ServerStatements:
    try:
        with failover.disabled(), connections[alias].cursor() as cursor:
            cursor.execute(TOP_SQL, [limit])
            rows = cursor.fetchall()
    except Error as exc:
        return ServerStatements(alias, [], problem_of(exc))
    return ServerStatements(alias, [Statement(*row) for row in rows])


def every_server(limit: int = TOP) -> list[ServerStatements]:
    """The primary first, then each replica."""
    now = replication.replicas_now()
    servers = [top_statements(PRIMARY, limit)]
    for row in now.replicas:
        if row.status.reachable:
            servers.append(top_statements(row.alias, limit))
        else:
            servers.append(ServerStatements(row.alias, [], f"down: {row.status.error}"))
    return servers
