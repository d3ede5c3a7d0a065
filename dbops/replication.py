"""What the operators see of replication: each replica's state and whether
the router uses it, the primary's view of its WAL senders, the lag history
and readiness.

The replica measurements come from `dbops.health`; this module gathers them
into the dataclasses that the replication page, the dashboard, /readyz,
/metrics and `manage.py dbops status` draw, and keeps the lag history (one
`LagSample` per replica per tick of `manage.py dbops sample`, on the
primary).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import DatabaseError, connections
from django.utils import timezone

from dbops import conf, consistency, health, routing
from dbops.models import LagSample

HISTORY_WINDOW = timedelta(hours=1)
RETENTION = timedelta(hours=24)
# A page view stores a sample when the newest one is older than this, so
# that the chart moves even without the sampler (and never faster).
VIEW_SAMPLE_SECONDS = 5.0


@dataclass(frozen=True)
class ReplicaRow:
    """One replica now: its measured state and the router's verdict."""

    status: health.ReplicaStatus
    verdict: str  # routing.SERVING, or why the router leaves it out
    over_lag: bool

    @property
    def alias(self) -> str:
        return self.status.alias

    @property
    def serving(self) -> bool:
        return self.verdict == routing.SERVING

    @property
    def ok(self) -> bool:
        """Reachable and within the lag limits (what /readyz calls ok)."""
        return self.status.reachable and not self.over_lag


@dataclass(frozen=True)
class Sender:
    """One row of the primary's `pg_stat_replication`."""

    application_name: str
    client_addr: str | None
    state: str
    sync_state: str
    sent_lsn: str | None
    write_lsn: str | None
    flush_lsn: str | None
    replay_lsn: str | None
    write_lag: float | None  # seconds; NULL in PostgreSQL once idle
    flush_lag: float | None
    replay_lag: float | None
    replay_lag_bytes: int | None


@dataclass(frozen=True)
class ReplicaNow:
    """The primary and every replica, measured together."""

    primary_up: bool
    primary_lsn: str | None
    replicas: list[ReplicaRow]
    max_lag_seconds: float
    max_lag_bytes: int
    checked_at: datetime = field(default_factory=timezone.now)

    @property
    def problems(self) -> list[str]:
        """What `dbops status` fails on: a replica down or over the limits."""
        found = [] if self.primary_up else ["primary is down"]
        for row in self.replicas:
            if not row.status.reachable:
                found.append(f"{row.alias} is down")
            elif row.over_lag:
                found.append(
                    f"{row.alias} is over the lag limit "
                    f"({row.status.lag_bytes} bytes, {row.status.lag_seconds} s)"
                )
        return found


@dataclass(frozen=True)
class ReplicationOverview:
    now: ReplicaNow
    senders: list[Sender]
    history: dict[str, list[LagSample]]  # alias -> the last hour, oldest first
    history_window: timedelta = HISTORY_WINDOW


def replicas_now(
    *,
    max_lag_seconds: float | None = None,
    max_lag_bytes: int | None = None,
    primary: str = routing.PRIMARY,
) -> ReplicaNow:
    """Measure the primary and each replica once (one query on the primary,
    and one on each replica plus one on the primary per replica)."""
    max_seconds = conf.max_lag_seconds() if max_lag_seconds is None else max_lag_seconds
    max_bytes = conf.max_lag_bytes() if max_lag_bytes is None else max_lag_bytes
    position = health.primary_lsn(primary)
    statuses = [
        health.replica_status(alias, primary=primary)
        for alias in conf.replica_aliases()
    ]
    # The router's own verdict, from the statuses just measured rather than
    # from another probe per replica.
    state = routing.RoutingState(probes={s.alias: s for s in statuses})
    rows = [
        ReplicaRow(
            status=status,
            verdict=routing.verdict(status.alias, state),
            over_lag=status.reachable
            and status.over_lag(max_seconds=max_seconds, max_bytes=max_bytes),
        )
        for status in statuses
    ]
    return ReplicaNow(
        primary_up=position is not None,
        primary_lsn=health.int_to_lsn(position) if position is not None else None,
        replicas=rows,
        max_lag_seconds=max_seconds,
        max_lag_bytes=max_bytes,
    )


SENDERS_SQL = """
SELECT application_name, client_addr::text, state, sync_state,
       sent_lsn::text, write_lsn::text, flush_lsn::text, replay_lsn::text,
       EXTRACT(EPOCH FROM write_lag)::float8,
       EXTRACT(EPOCH FROM flush_lag)::float8,
       EXTRACT(EPOCH FROM replay_lag)::float8,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint
FROM pg_stat_replication
ORDER BY application_name, client_addr, pid
"""


def senders(*, primary: str = routing.PRIMARY) -> list[Sender]:
    """The primary's WAL senders (empty when the primary is down)."""
    try:
        with connections[primary].cursor() as cursor:
            cursor.execute(SENDERS_SQL)
            return [Sender(*row) for row in cursor.fetchall()]
    except DatabaseError:
        return []


def lag_history(
    *, window: timedelta = HISTORY_WINDOW, primary: str = routing.PRIMARY
) -> dict[str, list[LagSample]]:
    """The samples of the last `window` per replica alias, oldest first.

    Read on the primary: the replicas lag (the chart is about exactly that)
    and one of them may be the one that is down.
    """
    history: dict[str, list[LagSample]] = {
        alias: [] for alias in conf.replica_aliases()
    }
    try:
        samples = LagSample.objects.using(primary).filter(
            taken_at__gte=timezone.now() - window
        )
        for sample in samples.order_by("taken_at", "id"):
            history.setdefault(sample.alias, []).append(sample)
    except DatabaseError:
        pass
    return history


def replication_overview(*, store_sample: bool = True) -> ReplicationOverview:
    """Everything the replication page shows. With `store_sample`, a sample
    per replica is stored from this measurement when the newest is older
    than VIEW_SAMPLE_SECONDS."""
    now = replicas_now()
    history = lag_history()
    if store_sample and now.primary_up and _history_is_old(history, now.checked_at):
        new = store_samples(now)
        for sample in new:
            history.setdefault(sample.alias, []).append(sample)
    return ReplicationOverview(now=now, senders=senders(), history=history)


def _history_is_old(history: dict[str, list[LagSample]], at: datetime) -> bool:
    newest = [samples[-1].taken_at for samples in history.values() if samples]
    if len(newest) < len(history):
        return True
    return (at - min(newest)).total_seconds() >= VIEW_SAMPLE_SECONDS


def store_samples(
    now: ReplicaNow, *, primary: str = routing.PRIMARY
) -> list[LagSample]:
    """Store one sample per replica from a measurement, on the primary.

    This is the console's bookkeeping, not the client's write: it must not
    send the client's next reads to the primary (read-your-writes).
    """
    samples = [
        LagSample(
            alias=row.alias,
            taken_at=now.checked_at,
            reachable=row.status.reachable,
            replay_paused=row.status.replay_paused,
            lag_bytes=row.status.lag_bytes,
            lag_seconds=row.status.lag_seconds,
        )
        for row in now.replicas
    ]
    if not samples:
        return []
    with consistency.not_the_clients_write():
        LagSample.objects.using(primary).bulk_create(samples)
    return samples


def prune_samples(
    *, older_than: timedelta = RETENTION, primary: str = routing.PRIMARY
) -> int:
    """Delete samples older than the retention; returns how many."""
    cutoff = timezone.now() - older_than
    deleted, _ = LagSample.objects.using(primary).filter(taken_at__lt=cutoff).delete()
    return deleted


# --- /readyz --------------------------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    primary_up: bool
    replicas: list[ReplicaRow]
    seconds: float

    def as_json(self) -> dict:
        """The /readyz body: no hostnames, ports or error texts, which could
        name servers or users to anyone who can reach the endpoint."""
        databases: dict[str, dict] = {routing.PRIMARY: {"ok": self.primary_up}}
        for row in self.replicas:
            databases[row.alias] = {
                "ok": row.ok,
                "reachable": row.status.reachable,
                "serving": row.serving,
                "replay_paused": row.status.replay_paused,
                "lag_bytes": row.status.lag_bytes,
                "lag_seconds": row.status.lag_seconds,
            }
        return {
            "status": "ok" if self.primary_up else "unavailable",
            "databases": databases,
            "checked_in_ms": round(self.seconds * 1000, 1),
        }


def readiness() -> Readiness:
    """Ready while the primary answers; the replicas are reported, not
    required (reads fall back to the primary without them)."""
    started = time.perf_counter()
    now = replicas_now()
    return Readiness(
        primary_up=now.primary_up,
        replicas=now.replicas,
        seconds=time.perf_counter() - started,
    )
