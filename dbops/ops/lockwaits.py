"""Statements that wait on a table lock, per server.

A migration's ACCESS EXCLUSIVE lock is replayed on the replicas: reads of
that table wait on every server until it ends, and nothing else looks
wrong (every server answers its probe). This collector says which table,
how many statements wait, the longest wait and how long the lock has been
held, each server read on itself with its own clock (so that no skew
enters), a down replica left out rather than waited for. /readyz and the
replication page show this summary; the whole lock-wait tree belongs to an
activity page of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import Error, connections

from dbops.ops import metrics
from dbops.routing import PRIMARY
from dbops.routing.failover import disabled as failover_disabled

LOCK_WAITS_SQL = """
SELECT c.relname,
       count(*)::int,
       EXTRACT(EPOCH FROM max(now() - a.query_start))::float8,
       EXTRACT(EPOCH FROM max(now() - b.xact_start))::float8
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
JOIN pg_class c ON c.oid = l.relation
LEFT JOIN LATERAL (
    SELECT min(h.xact_start) AS xact_start
    FROM pg_stat_activity h
    WHERE h.pid = ANY(pg_blocking_pids(l.pid))
) b ON true
WHERE NOT l.granted
  AND l.locktype = 'relation'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
GROUP BY c.relname
ORDER BY 3 DESC
LIMIT 10
"""
# On a replica the holder is replay (the startup process, no xact_start):
# the held time is then unknown, and the wait says enough.


@dataclass(frozen=True)
class LockWait:
    server: str  # the alias
    table: str
    waiting: int  # statements waiting on it
    longest_wait_seconds: float
    held_seconds: float | None  # since the holder's transaction began

    def words(self) -> str:
        held = (
            f", the lock held for {self.held_seconds:.0f} s"
            if self.held_seconds is not None
            else ""
        )
        statements = f"{self.waiting} statement{'s' if self.waiting != 1 else ''}"
        return (
            f"{self.server}: reads of {self.table} wait on a lock ({statements}, "
            f"the longest for {self.longest_wait_seconds:.1f} s{held})"
        )

    def as_json(self) -> dict:
        return {
            "server": self.server,
            "table": self.table,
            "waiting": self.waiting,
            "longest_wait_seconds": round(self.longest_wait_seconds, 1),
            "held_seconds": None
            if self.held_seconds is None
            else round(self.held_seconds, 1),
        }


def lock_waits(aliases: list[str]) -> list[LockWait]:
    """The tables statements wait on, on each of `aliases` that answers."""
    found: list[LockWait] = []
    for alias in aliases:
        try:
            with (
                failover_disabled(),
                metrics.not_counted(),
                connections[alias].cursor() as cursor,
            ):
                cursor.execute(LOCK_WAITS_SQL)
                rows = cursor.fetchall()
        except Error:
            continue  # down or hung: the replica rule says so already
        found += [LockWait(alias, *row) for row in rows]
    return sorted(found, key=lambda wait: -wait.longest_wait_seconds)


def servers_answering(now) -> list[str]:
    """The aliases of a `replication.ReplicaNow` worth asking: the primary if
    it answered, and the replicas that did."""
    primary = [PRIMARY] if now.primary_up else []
    return primary + [row.alias for row in now.replicas if row.status.reachable]
