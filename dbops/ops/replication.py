"""What the operators see of replication: each replica's state and whether
the router uses it, the primary's view of its WAL senders, the lag history
and readiness.

The replica measurements come from `dbops.routing.monitor`, the verdicts
from `dbops.routing.rule`, the same as the router's; this module gathers them
into the dataclasses that the replication page, the dashboard, /readyz,
/metrics and `manage.py dbops status` draw, and keeps the lag history (one
`LagSample` per replica per tick of `manage.py dbops sample`, on the
primary).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError, connections
from django.utils import timezone

from dbops.models import LagSample
from dbops.ops import jobqueue, lockwaits
from dbops.routing import conf, consistency, outage, rule, scope
from dbops.routing.monitor import monitor

HISTORY_WINDOW = timedelta(hours=1)
RETENTION = timedelta(hours=24)


@dataclass(frozen=True)
class ReplicaRow:
    """One replica now: its measured state and the rule's verdict."""

    status: rule.ReplicaState
    verdict: rule.Verdict

    @property
    def alias(self) -> str:
        return self.status.alias

    @property
    def serving(self) -> bool:
        return self.verdict.serving

    @property
    def ok(self) -> bool:
        """What /readyz calls ok: the rule lets it serve reads."""
        return self.verdict.serving


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
    """The primary and every replica, as the router sees them."""

    primary: rule.PrimaryState
    replicas: list[ReplicaRow]
    limits: rule.Limits
    checked_at: datetime = field(default_factory=timezone.now)

    @property
    def primary_up(self) -> bool:
        return self.primary.reachable

    @property
    def primary_lsn(self) -> str | None:
        return rule.int_to_lsn(self.primary.position)

    @property
    def max_lag_seconds(self) -> float:
        return self.limits.max_lag_seconds

    @property
    def max_lag_bytes(self) -> int:
        return self.limits.max_lag_bytes

    @property
    def problems(self) -> list[str]:
        """What `dbops status` fails on: the primary down, or a replica that
        may not serve reads (other than for a client's own write)."""
        found = [] if self.primary_up else [f"primary is down: {self.primary.error}"]
        if self.primary.in_recovery:
            found.append(f"primary: {self.primary.error}")
        found += [
            f"{row.alias}: {row.verdict.detail}"
            for row in self.replicas
            if not row.serving
        ]
        return found


@dataclass(frozen=True)
class ReplicationOverview:
    now: ReplicaNow
    senders: list[Sender]
    history: dict[str, list[LagSample]]  # alias -> the last hour, oldest first
    history_window: timedelta = HISTORY_WINDOW
    lock_waits: list[lockwaits.LockWait] = field(default_factory=list)


def replicas_now(*, fresh: bool = False) -> ReplicaNow:
    """The shared replica state (at most REPLICA_CHECK_INTERVAL old, or
    measured now with `fresh`) with the rule's verdict for each replica."""
    snapshot = monitor.refresh() if fresh else scope.request_snapshot()
    limits = conf.limits()
    # The figures as of the check (a replica that had replayed the primary's
    # position then shows zero); the verdict bounds the lag as of now.
    rows = [
        ReplicaRow(status=state, verdict=snapshot.verdict(alias, limits=limits))
        for alias, state in snapshot.replicas.items()
    ]
    return ReplicaNow(primary=snapshot.primary, replicas=rows, limits=limits)


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


def senders(*, primary: str = conf.PRIMARY) -> list[Sender]:
    """The primary's WAL senders (empty when the primary is down)."""
    try:
        with connections[primary].cursor() as cursor:
            cursor.execute(SENDERS_SQL)
            return [Sender(*row) for row in cursor.fetchall()]
    except DatabaseError:
        return []


def lag_history(
    *, window: timedelta = HISTORY_WINDOW, primary: str = conf.PRIMARY
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


def replication_overview() -> ReplicationOverview:
    """Everything the replication page shows. It only reads: the history is
    what the sampler (`dbops sample`) stored."""
    now = replicas_now()
    return ReplicationOverview(
        now=now,
        senders=senders(),
        history=lag_history(),
        lock_waits=lockwaits.lock_waits(lockwaits.servers_answering(now)),
    )


def store_samples(now: ReplicaNow, *, primary: str = conf.PRIMARY) -> list[LagSample]:
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
    *, older_than: timedelta = RETENTION, primary: str = conf.PRIMARY
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
    jobs: jobqueue.JobQueue | None = None  # None: the primary cannot say
    lock_waits: list[lockwaits.LockWait] = field(default_factory=list)

    def as_json(self) -> dict:
        """The /readyz body: no hostnames, ports or error texts, which could
        name servers or users to anyone who can reach the endpoint."""
        databases: dict[str, dict] = {conf.PRIMARY: {"ok": self.primary_up}}
        for row in self.replicas:
            databases[row.alias] = {
                "ok": row.ok,
                "reachable": row.status.reachable,
                "serving": row.serving,
                "replay_paused": row.status.replay_paused,
                "lag_bytes": row.status.lag_bytes,
                "lag_seconds": rule.bound_for_display(row.status.lag_seconds),
            }
        body: dict[str, object] = {
            "status": "ok" if self.primary_up else "unavailable",
            "databases": databases,
            "checked_in_ms": round(self.seconds * 1000, 1),
        }
        body["lock_waits"] = [wait.as_json() for wait in self.lock_waits]
        if self.jobs is not None:
            body["jobs"] = {
                "ok": not self.jobs.stranded,
                "live_workers": len(self.jobs.live_workers),
                "waiting": self.jobs.waiting,
            }
        return body


def readiness() -> Readiness:
    """Ready while the primary answers; the replicas are reported, not
    required (reads fall back to the primary without them)."""
    started = time.perf_counter()
    now = replicas_now()
    jobs = jobqueue.job_queue() if now.primary_up else None
    waits = lockwaits.lock_waits(lockwaits.servers_answering(now))
    return Readiness(
        # The shared state may be up to an interval old: a primary that
        # stopped answering this request's own queries since is down now.
        primary_up=now.primary_up and outage.unanswered(conf.PRIMARY) is None,
        replicas=now.replicas,
        jobs=jobs,
        lock_waits=waits,
        seconds=time.perf_counter() - started,
    )


# --- the header badge -----------------------------------------------------------

SERVING, DEGRADED, PRIMARY_ONLY = "serving", "degraded", "primary-only"


@dataclass(frozen=True)
class Badge:
    """The replicas' state at a glance, for the header of every admin page."""

    state: str  # SERVING, DEGRADED or PRIMARY_ONLY (the data-replica-state)
    text: str
    detail: str  # the whole story, for the badge's title
    variant: str  # unfold's label colour


def badge(now: ReplicaNow) -> Badge:
    if not now.replicas:
        return Badge(
            PRIMARY_ONLY,
            "no replica: reads from the primary",
            "No replica is configured.",
            "info",
        )
    left_out = [row for row in now.replicas if not row.serving]
    detail = "; ".join(f"{row.alias}: {row.verdict.detail}" for row in left_out)
    if not left_out:
        text = "replica serving" if len(now.replicas) == 1 else "all replicas serving"
        return Badge(SERVING, text, "Every replica serves reads.", "success")
    first = f"{left_out[0].alias} {_in_short(left_out[0])}"
    if len(left_out) == len(now.replicas):
        more = f" (+{len(left_out) - 1} more)" if len(left_out) > 1 else ""
        return Badge(
            PRIMARY_ONLY, f"{first}{more}, reads from the primary", detail, "danger"
        )
    serving = len(now.replicas) - len(left_out)
    return Badge(
        DEGRADED,
        f"{serving} of {len(now.replicas)} replicas serving; {first}",
        detail,
        "warning",
    )


def _in_short(row: ReplicaRow) -> str:
    status, reason = row.status, row.verdict.reason
    if reason == rule.DOWN:
        if status.down_since:
            moment = datetime.fromtimestamp(status.down_since, tz=UTC)
            return f"down since {moment:%H:%M} UTC"
        return "down"
    if reason == rule.LAG_SECONDS:
        if status.lag_seconds is None:
            return "time lag not known yet"
        return f"{rule.format_seconds(status.lag_seconds)} behind"
    if reason == rule.LAG_BYTES:
        return f"{rule.format_bytes(status.lag_bytes or 0)} behind"
    if reason == rule.PROMOTED:
        return "promoted"
    return row.verdict.detail
