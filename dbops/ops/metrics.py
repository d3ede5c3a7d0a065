"""Per-alias query counts and time: this request's, and totals across every
process of the server.

Every query run through Django's cursors passes `count_queries` (an execute
wrapper put on each connection by `dbops.apps`), which adds it to:

* prometheus_client counters in multiprocess mode: each process writes its
  own memory-mapped file under PROMETHEUS_MULTIPROC_DIR and readers sum the
  files, so the workers of a gunicorn server add up to one total, which both
  the queries page and /metrics read;
* the current request's tally, a context variable that
  `QueryCountMiddleware` opens for each request (the admin footer shows it).

Prometheus counters must never go backwards, so the queries page's reset
stores a baseline instead (the totals at that moment, in a file next to the
counter files, so that wiping the directory at server start wipes both) and
the page shows the totals minus the baseline.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.utils.functional import empty
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from dbops.routing import statements
from dbops.routing.aliases import PRIMARY

READ, WRITE = "read", "write"
BASELINE_FILE = "query-counters-baseline.json"

# registry=None: in multiprocess mode the values live in the shared files and
# are read back through a MultiProcessCollector, never a process's registry.
QUERIES = Counter(
    "dbops_queries",
    "Queries run, per database alias and kind (read or write).",
    ["alias", "kind"],
    registry=None,
)
QUERY_SECONDS = Histogram(
    "dbops_query_duration_seconds",
    "Time spent executing queries, per database alias and kind.",
    ["alias", "kind"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
    registry=None,
)
QUERY_ERRORS = Counter(
    "dbops_query_errors",
    "Queries that raised a database error, per database alias.",
    ["alias"],
    registry=None,
)
ROUTING_DECISIONS = Counter(
    "dbops_routing_decisions",
    "Requests by where their reads went and why (reason 'replica', or why "
    "the primary served them, e.g. lag-seconds, own-write-not-replayed).",
    ["alias", "reason"],
    registry=None,
)
REPLICA_FAILOVERS = Counter(
    "dbops_replica_failovers",
    "Replica reads served by the primary instead, per replica and cause "
    "(connection, timeout, recovery-conflict, ...).",
    ["alias", "cause"],
    registry=None,
)


@dataclass
class AliasCount:
    alias: str
    reads: int = 0
    writes: int = 0
    read_seconds: float = 0.0
    write_seconds: float = 0.0

    @property
    def queries(self) -> int:
        return self.reads + self.writes

    @property
    def seconds(self) -> float:
        return self.read_seconds + self.write_seconds

    @property
    def milliseconds(self) -> float:
        return self.seconds * 1000

    @property
    def read_milliseconds(self) -> float:
        return self.read_seconds * 1000

    @property
    def write_milliseconds(self) -> float:
        return self.write_seconds * 1000

    def add(self, kind: str, count: float, seconds: float) -> None:
        if kind == WRITE:
            self.writes += int(count)
            self.write_seconds += seconds
        else:
            self.reads += int(count)
            self.read_seconds += seconds


class QueryTally:
    """Query counts and time per alias, for one request (or any block)."""

    def __init__(self) -> None:
        self._counts: dict[str, AliasCount] = {}

    def add(self, alias: str, kind: str, seconds: float, count: float = 1) -> None:
        entry = self._counts.get(alias)
        if entry is None:
            entry = self._counts[alias] = AliasCount(alias)
        entry.add(kind, count, seconds)

    def get(self, alias: str) -> AliasCount:
        return self._counts.get(alias) or AliasCount(alias)

    def rows(self) -> list[AliasCount]:
        """One row per alias that ran a query, the primary first."""
        return sorted(
            self._counts.values(), key=lambda c: (c.alias != PRIMARY, c.alias)
        )

    @property
    def queries(self) -> int:
        return sum(c.queries for c in self._counts.values())

    @property
    def replica_share(self) -> float | None:
        return replica_share(self.rows())


def replica_share(rows: Iterable[AliasCount]) -> float | None:
    """The fraction of reads that replicas served, None before any read."""
    rows = list(rows)
    reads = sum(row.reads for row in rows)
    if not reads:
        return None
    return sum(row.reads for row in rows if row.alias != PRIMARY) / reads


_tally: ContextVar[QueryTally | None] = ContextVar("dbops_query_tally", default=None)
_counting: ContextVar[bool] = ContextVar("dbops_query_counting", default=True)


@contextmanager
def request_tally() -> Iterator[QueryTally]:
    """Count the queries of the block (a request, or a test) in a new tally."""
    tally = QueryTally()
    token = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(token)


def current_tally() -> QueryTally | None:
    return _tally.get()


@contextmanager
def not_counted() -> Iterator[None]:
    """Leave the block's queries out of the counters (the lag sampler's own
    probes are monitoring overhead, not the console's load)."""
    token = _counting.set(False)
    try:
        yield
    finally:
        _counting.reset(token)


def count_queries(execute, sql, params, many, context):
    """Execute wrapper: count the query by alias and kind, and time it."""
    if not _counting.get():
        return execute(sql, params, many, context)
    alias = context["connection"].alias
    kind = WRITE if statements.is_write(sql) else READ
    started = time.perf_counter()
    try:
        result = execute(sql, params, many, context)
    except Exception:
        QUERY_ERRORS.labels(alias).inc()
        raise
    seconds = time.perf_counter() - started
    QUERIES.labels(alias, kind).inc()
    QUERY_SECONDS.labels(alias, kind).observe(seconds)
    tally = _tally.get()
    if tally is not None:
        tally.add(alias, kind, seconds)
    return result


def server_timing(tally: QueryTally, total_seconds: float) -> str:
    """A `Server-Timing` header value: the database time of each alias that
    served the request and the whole request's, so that a browser's devtools
    show where a page's time went."""

    def entry(name: str, seconds: float, desc: str) -> str:
        return f'{name};dur={seconds * 1000:.2f};desc="{desc}"'

    entries = [
        entry(
            f"db-{row.alias}",
            row.seconds,
            f"{row.alias}: {row.queries} quer{'y' if row.queries == 1 else 'ies'}",
        )
        for row in tally.rows()
    ]
    return ", ".join([*entries, entry("total", total_seconds, "request")])


def _known_staff(request) -> bool:
    """Whether the request's user, if the request looked it up, is staff.

    Never looks the user up itself: a view that did not (the health
    endpoints) would pay the session and user queries for a header, and
    with the servers down get an error instead of its answer.
    """
    user = getattr(request, "user", None)
    if getattr(user, "_wrapped", user) is empty:  # AuthenticationMiddleware's lazy user
        return False
    return bool(user is not None and user.is_staff)


class QueryCountMiddleware:
    """Opens a fresh query tally for each request and tells staff's browsers
    the time per alias (`Server-Timing`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        with request_tally() as tally:
            response = self.get_response(request)
        # Staff only: others are not told the servers' names and times.
        # Until the headers: a streamed body's queries come after them.
        if _known_staff(request):
            response["Server-Timing"] = server_timing(
                tally, time.perf_counter() - started
            )
        return response


# --- Totals across processes -------------------------------------------------


def metrics_dir() -> Path:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        raise RuntimeError(
            "PROMETHEUS_MULTIPROC_DIR is not set: console/settings.py sets it "
            "before prometheus_client is imported"
        )
    return Path(path)


@dataclass(frozen=True)
class QueryTotals:
    rows: list[AliasCount]
    reset_at: datetime | None = None
    reset_by: str = ""

    @property
    def queries(self) -> int:
        return sum(row.queries for row in self.rows)

    @property
    def replica_share(self) -> float | None:
        return replica_share(self.rows)

    def get(self, alias: str) -> AliasCount:
        return next((r for r in self.rows if r.alias == alias), AliasCount(alias))


def _raw_totals(path: Path) -> dict[tuple[str, str], list[float]]:
    """{(alias, kind): [count, seconds]} summed over every process's file."""
    totals: dict[tuple[str, str], list[float]] = {}
    for metric in multiprocess.MultiProcessCollector(None, path=str(path)).collect():
        for sample in metric.samples:
            if sample.name == "dbops_queries_total":
                slot = 0
            elif sample.name == "dbops_query_duration_seconds_sum":
                slot = 1
            else:
                continue
            key = (sample.labels["alias"], sample.labels["kind"])
            totals.setdefault(key, [0.0, 0.0])[slot] += sample.value
    return totals


@dataclass(frozen=True)
class _Baseline:
    values: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    reset_at: datetime | None = None
    reset_by: str = ""


def _read_baseline(path: Path) -> _Baseline:
    try:
        data = json.loads((path / BASELINE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return _Baseline()
    values = {
        (entry["alias"], entry["kind"]): [entry["count"], entry["seconds"]]
        for entry in data.get("values", [])
    }
    return _Baseline(
        values=values,
        reset_at=datetime.fromisoformat(data["reset_at"]),
        reset_by=data.get("reset_by", ""),
    )


def query_totals(*, path: Path | None = None) -> QueryTotals:
    """Totals per alias across every process since the server started (or
    since the last reset), primary first."""
    path = path or metrics_dir()
    baseline = _read_baseline(path)
    rows: dict[str, AliasCount] = {}
    for (alias, kind), (count, seconds) in sorted(_raw_totals(path).items()):
        base_count, base_seconds = baseline.values.get((alias, kind), (0, 0.0))
        row = rows.setdefault(alias, AliasCount(alias))
        # A counter below its baseline was restarted (its files were wiped
        # but not the baseline): show it from zero rather than negative.
        if count < base_count:
            base_count, base_seconds = 0, 0.0
        row.add(kind, count - base_count, max(seconds - base_seconds, 0.0))
    ordered = sorted(rows.values(), key=lambda c: (c.alias != PRIMARY, c.alias))
    return QueryTotals(ordered, reset_at=baseline.reset_at, reset_by=baseline.reset_by)


def counters_reset(*, user, path: Path | None = None) -> QueryTotals:
    """Start the queries page's totals from zero (the Prometheus counters
    keep counting; see the module docstring). Returns the new totals."""
    path = path or metrics_dir()
    values = [
        {"alias": alias, "kind": kind, "count": count, "seconds": seconds}
        for (alias, kind), (count, seconds) in _raw_totals(path).items()
    ]
    data = {
        "reset_at": datetime.now(UTC).isoformat(),
        "reset_by": user.get_username(),
        "values": values,
    }
    # Written aside and renamed, so that a reader never sees half a file.
    partial = path / f".{BASELINE_FILE}.{os.getpid()}"
    partial.write_text(json.dumps(data))
    os.replace(partial, path / BASELINE_FILE)
    return query_totals(path=path)


# --- The replica share of the last minutes -----------------------------------
#
# The totals count since the server started, so a replica that stopped
# serving ten minutes ago still shows most reads. The sampler (`dbops
# sample`) notes the read totals per alias on each tick in a file next to
# the counters; pages take the share of the reads since the note about
# RECENT_WINDOW ago.

RECENT_FILE = "query-reads-recent.json"
RECENT_WINDOW = timedelta(minutes=5)
RECENT_KEEP = timedelta(minutes=15)


@dataclass(frozen=True)
class RecentShare:
    share: float | None  # None: no reads in the window, or no notes yet
    since: datetime | None  # the note the share counts from


def read_totals(path: Path | None = None) -> dict[str, int]:
    """Reads per alias across every process since the server started."""
    totals = _raw_totals(path or metrics_dir())
    return {alias: int(v[0]) for (alias, kind), v in totals.items() if kind == READ}


def share_between(then: dict[str, int], now: dict[str, int]) -> float | None:
    """The replica share of the reads made between two notes (a counter
    below its earlier note was restarted: it counts from zero)."""
    reads = {
        alias: count - (then.get(alias, 0) if count >= then.get(alias, 0) else 0)
        for alias, count in now.items()
    }
    total = sum(reads.values())
    if not total:
        return None
    return sum(n for alias, n in reads.items() if alias != PRIMARY) / total


def _notes(path: Path) -> list[dict]:
    try:
        return json.loads((path / RECENT_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return []


def note_reads(
    *,
    path: Path | None = None,
    now: datetime | None = None,
    reads: dict[str, int] | None = None,
) -> None:
    """Note the read totals now (the sampler's tick), keeping RECENT_KEEP."""
    path = path or metrics_dir()
    now = now or datetime.now(UTC)
    reads = read_totals(path) if reads is None else reads
    notes = [
        note
        for note in _notes(path)
        if now - datetime.fromisoformat(note["at"]) <= RECENT_KEEP
    ]
    notes.append({"at": now.isoformat(), "reads": reads})
    partial = path / f".{RECENT_FILE}.{os.getpid()}"
    partial.write_text(json.dumps(notes))
    os.replace(partial, path / RECENT_FILE)


def recent_replica_share(
    *,
    path: Path | None = None,
    now: datetime | None = None,
    reads: dict[str, int] | None = None,
    window: timedelta = RECENT_WINDOW,
) -> RecentShare:
    """The replica share of the reads since the newest note at least
    `window` old (or the oldest note, if none is that old yet)."""
    path = path or metrics_dir()
    now = now or datetime.now(UTC)
    notes = _notes(path)
    if not notes:
        return RecentShare(None, None)
    old_enough = [n for n in notes if now - datetime.fromisoformat(n["at"]) >= window]
    base = old_enough[-1] if old_enough else notes[0]
    current = read_totals(path) if reads is None else reads
    return RecentShare(
        share_between(base["reads"], current), datetime.fromisoformat(base["at"])
    )


# --- Process lifecycle (gunicorn hooks) ----------------------------------------


def clear_process_files(path: Path | None = None) -> None:
    """Remove every process's counter files and the baseline: for the server's
    start (gunicorn's `on_starting`), so that totals count from that start."""
    path = path or metrics_dir()
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.suffix == ".db" or entry.name == BASELINE_FILE:
            entry.unlink(missing_ok=True)


# --- /metrics ----------------------------------------------------------------


class _HealthCollector:
    """The replicas' state at scrape time, as gauges (measured by the caller,
    not kept in the shared files, so a scrape never shows a stale lag)."""

    def __init__(self, primary_up: bool, replicas: Iterable, jobs=None) -> None:
        self.primary_up = primary_up
        self.replicas = list(replicas)
        self.jobs = jobs  # a jobqueue.JobQueue, or None: not known

    def collect(self):
        primary = GaugeMetricFamily(
            "dbops_primary_up", "1 if the primary answered its last check."
        )
        primary.add_metric([], 1 if self.primary_up else 0)
        up = GaugeMetricFamily(
            "dbops_replica_up", "1 if the replica answered its probe.", labels=["alias"]
        )
        serving = GaugeMetricFamily(
            "dbops_replica_serving",
            "1 if the replica may serve reads; `reason` says why not.",
            labels=["alias", "reason"],
        )
        paused = GaugeMetricFamily(
            "dbops_replica_replay_paused",
            "1 if WAL replay is paused on the replica.",
            labels=["alias"],
        )
        lag_bytes = GaugeMetricFamily(
            "dbops_replica_lag_bytes",
            "WAL bytes between the primary's current position and the "
            "replica's replay.",
            labels=["alias"],
        )
        lag_seconds = GaugeMetricFamily(
            "dbops_replica_lag_seconds",
            "How long the replica has been missing what the primary had "
            "(0 once it replayed the primary's current position).",
            labels=["alias"],
        )
        for row in self.replicas:
            status = row.status
            up.add_metric([status.alias], 1 if status.reachable else 0)
            serving.add_metric(
                [status.alias, row.verdict.reason], 1 if row.serving else 0
            )
            if not status.reachable:
                continue
            paused.add_metric([status.alias], 1 if status.replay_paused else 0)
            if status.lag_bytes is not None:
                lag_bytes.add_metric([status.alias], status.lag_bytes)
            if status.lag_seconds is not None:
                lag_seconds.add_metric([status.alias], status.lag_seconds)
        yield from (primary, up, serving, paused, lag_bytes, lag_seconds)
        if self.jobs is not None:
            workers = GaugeMetricFamily(
                "dbops_job_workers_live",
                "Job workers heard from within JOB_WORKER_STALE_SECONDS.",
            )
            workers.add_metric([], len(self.jobs.live_workers))
            waiting = GaugeMetricFamily(
                "dbops_jobs_waiting", "Jobs ready to run, not yet taken by a worker."
            )
            waiting.add_metric([], self.jobs.waiting)
            yield from (workers, waiting)


def exposition(*, primary_up: bool, replicas: Iterable, jobs=None) -> tuple[bytes, str]:
    """The /metrics body and content type: the shared query counters of every
    process plus the replicas' state and verdicts as given (ReplicaRows)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir()))
    registry.register(_HealthCollector(primary_up, replicas, jobs))
    return generate_latest(registry), CONTENT_TYPE_LATEST
