"""Fault drills: a real two-worker gunicorn under a bounded load of staff
clients (write a note, read it back, read a changelist) while the database
misbehaves. Each drill asserts no 5xx where the design promises none, that
no client ever missed its own write, that every acknowledged write is on the
primary afterwards, and that the console recovers by itself."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime

import pytest
import requests
from django.db import connections

from dbops.cluster import Cluster
from notes.models import Note
from tests.live import PROJECT, LiveServer, Load, staff_session

pytestmark = pytest.mark.drill

RETRY_SECONDS = 2
CLIENTS = 3
PASSWORD = "drill-password-123"


def _start_server(
    tmp_path, django_user_model, cluster, workers: int = 2, **env: str
) -> LiveServer:
    """The drill's staff users, and a gunicorn (two workers) for them."""
    for number in range(CLIENTS + 1):
        django_user_model.objects.create_user(
            f"drill{number}", password=PASSWORD, is_staff=True, is_superuser=True
        )
    cluster.wait_for_replay()
    return LiveServer(
        tmp_path / "gunicorn.log",
        workers=workers,
        REPLICA_RETRY_SECONDS=str(RETRY_SECONDS),
        **env,
    ).start()


@pytest.fixture
def server(db, tmp_path, django_user_model, cluster):
    live = _start_server(
        tmp_path, django_user_model, cluster, REPLICA_MAX_LAG_SECONDS="1"
    )
    yield live
    live.stop()


def _sessions(server: LiveServer) -> list:
    return [staff_session(server.url, f"drill{n}", PASSWORD) for n in range(CLIENTS)]


def _assert_nothing_lost(result) -> None:
    assert result.acknowledged, "the load acknowledged no write at all"
    connections.close_all()  # the drill may have killed this process's own
    stored = Note.objects.using("default").filter(title__in=result.acknowledged)
    assert stored.count() == len(result.acknowledged)
    assert result.stale_reads == []


def _report(drill: str, result, extra: str) -> None:
    """One line per drill for the README's table (visible with `pytest -s`)."""
    print(
        f"\nDRILL {drill}: {result.requests} requests, "
        f"{len(result.server_errors)} 5xx, {len(result.stale_reads)} stale, "
        f"{len(result.acknowledged)} writes acknowledged and present; {extra}"
    )


def _first_replica_read_after(server: LiveServer, moment: datetime) -> float:
    """Seconds from `moment` to the first request whose reads the replica
    served, from the server's JSON request log."""
    for entry in server.request_log():
        logged = datetime.strptime(entry["time"], "%Y-%m-%d %H:%M:%S,%f")
        if logged >= moment and entry["route"]["alias"] == "replica":
            return (logged - moment).total_seconds()
    raise AssertionError("no read reached the replica again")


def _seconds_until_replica_serves(server: LiveServer, timeout: float) -> float:
    """Poll a changelist until its reads are routed to the replica again."""
    session = staff_session(server.url, f"drill{CLIENTS}", PASSWORD)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        response = session.get(server.url + "/admin/catalog/author/", timeout=10)
        assert response.status_code == 200
        last = [
            e for e in server.request_log() if e["path"] == "/admin/catalog/author/"
        ]
        if last and last[-1]["route"]["alias"] == "replica":
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"reads did not return to the replica in {timeout}s")


def test_drill_replica_stopped_under_load(server, cluster):
    """Stopping the replica under load costs no error page; reads return to
    it within REPLICA_RETRY_SECONDS of its restart."""
    load = Load(server.url, _sessions(server), seconds=8).start()
    time.sleep(2)
    cluster.stop("replica")
    time.sleep(3)
    cluster.start("replica")
    restarted_at = datetime.now()
    result = load.join()

    assert result.server_errors == []
    assert result.connection_errors == []
    _assert_nothing_lost(result)
    routes = {e["route"]["reason"] for e in server.request_log()}
    assert routes & {"down", "unreachable"}, routes
    _seconds_until_replica_serves(server, RETRY_SECONDS + 5)
    back_after = _first_replica_read_after(server, restarted_at)
    assert back_after <= RETRY_SECONDS + 1
    _report(
        "replica stopped 3 s",
        result,
        f"replica serving {back_after:.1f}s after restart",
    )


def test_drill_replay_paused_past_lag_limit_under_load(server, cluster):
    """With replay paused past REPLICA_MAX_LAG_SECONDS, reads move to the
    primary without errors, every writer still sees its own note, and reads
    return to the replica once it has caught up."""
    load = Load(server.url, _sessions(server), seconds=8).start()
    time.sleep(1)
    cluster.pause_replay()
    time.sleep(4)
    cluster.resume_replay()
    resumed_at = datetime.now()
    result = load.join()

    assert result.server_errors == []
    assert result.connection_errors == []
    _assert_nothing_lost(result)
    reasons = {e["route"]["reason"] for e in server.request_log()}
    assert reasons & {"lag-seconds", "lag-bytes"}, reasons
    assert "own-write-not-replayed" in reasons
    _seconds_until_replica_serves(server, 5)
    back_after = _first_replica_read_after(server, resumed_at)
    _report(
        "replay paused 4 s", result, f"replica serving {back_after:.1f}s after resume"
    )


def test_drill_replica_connections_killed_mid_request(server, cluster):
    """pg_terminate_backend on the console's replica connections while under
    load: broken reads are retried on the primary, no error page."""
    load = Load(server.url, _sessions(server), seconds=6).start()
    for _ in range(10):
        time.sleep(0.4)
        cluster.execute(
            "replica",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'console'",
        )
    result = load.join()

    assert result.server_errors == []
    assert result.connection_errors == []
    _assert_nothing_lost(result)
    _report("replica backends killed 10x", result, "")


def test_drill_idle_primary_connections_killed_between_requests(server, cluster):
    """Killed idle connections to the primary are replaced by the next
    request (connection health checks), not turned into error pages."""
    session = _sessions(server)[0]
    for attempt in range(4):
        response = session.post(
            server.url + "/notes/create/",
            data={"title": f"after kill {attempt}", "content": ""},
            headers={"X-CSRFToken": session.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302
        cluster.execute(
            "primary",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'console' AND state = 'idle'",
        )
    connections.close_all()  # this process's own connections were killed too
    stored = Note.objects.using("default").filter(title__startswith="after kill")
    assert stored.count() == 4


def test_drill_primary_restarted_under_load(server, cluster):
    """A primary restart under load: writes fail only while it is down, the
    console recovers by itself within seconds, and no acknowledged write is
    lost."""
    load = Load(server.url, _sessions(server), seconds=10).start()
    time.sleep(2)
    restart_started = time.monotonic() - load._started
    cluster.restart("primary")
    restart_done = time.monotonic() - load._started
    result = load.join()

    _assert_nothing_lost(result)
    statuses = {status for _, status in result.timeline if status >= 500}
    assert statuses <= {503}, "a primary outage answers 503, never a 500"
    recovered_by = restart_done + 3
    late_errors = [
        t for t, status in result.timeline if t > recovered_by and status >= 500
    ]
    assert late_errors == []
    assert any(t > recovered_by and status < 500 for t, status in result.timeline)
    _report(
        "primary restarted",
        result,
        f"restart took {restart_done - restart_started:.1f}s, all 503",
    )


def _server_seconds(server: LiveServer) -> list[float]:
    """Server-side durations of the logged requests (queueing for a busy
    worker left out: that is the load's, not the console's)."""
    return [entry["duration_ms"] / 1000 for entry in server.request_log()]


def test_drill_replica_cut_off_from_its_primary_under_load(server, cluster):
    """The replica's primary_conninfo pointed at a dead port while clients
    write and read: it has replayed all it received, but falls behind the
    primary; past the 1 s limit its reads move to the primary, /readyz shows
    the lag, and reads return once it streams again."""
    load = Load(server.url, _sessions(server), seconds=9).start()
    time.sleep(1)
    readyz = []
    with cluster.cut_off("replica"):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            readyz.append(requests.get(server.url + "/readyz", timeout=5).json())
            time.sleep(0.25)
    reconnected_at = datetime.now()
    result = load.join()

    assert result.server_errors == []
    assert result.connection_errors == []
    _assert_nothing_lost(result)
    reasons = {e["route"]["reason"] for e in server.request_log()}
    assert reasons & {"lag-seconds", "lag-bytes"}, reasons
    behind = [r["databases"]["replica"] for r in readyz]
    assert any(not r["serving"] and r["lag_seconds"] > 1 for r in behind), behind
    _seconds_until_replica_serves(server, 10)
    back_after = _first_replica_read_after(server, reconnected_at)
    worst = max(r["lag_seconds"] or 0 for r in behind)
    _report(
        "replica cut off 5 s",
        result,
        f"lag seen up to {worst:.1f} s, reads on the primary past 1 s; "
        f"replica serving {back_after:.1f}s after it streamed again",
    )


def test_drill_hung_replica_under_load(db, tmp_path, django_user_model, cluster):
    """The replica's processes stopped (SIGSTOP) for 6 s under load: no
    error page, and no request waits on it much longer than
    REPLICA_READ_TIMEOUT (1 s here; reconnecting to a hung server waits for
    the 2 s connect timeout at most once per retry period)."""
    live = _start_server(tmp_path, django_user_model, cluster, REPLICA_READ_TIMEOUT="1")
    try:
        load = Load(live.url, _sessions(live), seconds=10).start()
        time.sleep(2)
        with cluster.frozen("replica"):
            time.sleep(6)
        result = load.join()
        assert result.server_errors == []
        assert result.connection_errors == []
        _assert_nothing_lost(result)
        slowest = max(_server_seconds(live))
        assert slowest < 2 + 1, f"a request waited {slowest:.1f} s"
        timeouts = [
            e
            for e in live.routing_events()
            if "no answer within" in e.get("reason", "")
        ]
        assert timeouts, "the hang was never met"
        _seconds_until_replica_serves(live, RETRY_SECONDS + 8)
    finally:
        live.stop()
    _report(
        "replica hung (SIGSTOP) 6 s",
        result,
        f"slowest request {slowest:.1f} s on the server (read timeout 1 s)",
    )


def _read_until(stop, session, url: str, statuses: list[int]) -> None:
    """A reader that never writes, so that its reads go to the replica."""
    while not stop.is_set():
        try:
            statuses.append(session.get(url, timeout=15).status_code)
        except requests.RequestException:
            statuses.append(0)


def test_drill_recovery_conflicts_under_load(server, cluster):
    """With max_standby_streaming_delay = 0 on the replica and short ACCESS
    EXCLUSIVE locks taken on the primary, replay cancels replica reads; they
    are served by the primary, never a 500."""
    reader = staff_session(server.url, f"drill{CLIENTS}", PASSWORD)
    stop, reads = threading.Event(), []
    readers = [
        threading.Thread(
            target=_read_until,
            args=(stop, reader, server.url + "/admin/catalog/author/", reads),
        )
        for _ in range(2)
    ]
    cluster.set_replica_conf("replica", "max_standby_streaming_delay", "0")
    try:
        load = Load(server.url, _sessions(server), seconds=20).start()
        for thread in readers:
            thread.start()
        locks, conflicts = 0, []
        deadline = time.monotonic() + 18
        while time.monotonic() < deadline and len(conflicts) < 10:
            cluster.execute(
                "primary",
                "BEGIN; LOCK TABLE catalog_author IN ACCESS EXCLUSIVE MODE; COMMIT",
                database=cluster.database,
            )
            locks += 1
            conflicts = [
                e
                for e in server.routing_events()
                if e.get("cause") == "recovery-conflict"
            ]
            time.sleep(0.01)
        result = load.stop()
    finally:
        stop.set()
        for thread in readers:
            thread.join(30)
        cluster.set_replica_conf("replica", "max_standby_streaming_delay", None)

    assert result.server_errors == []
    assert result.connection_errors == []
    assert set(reads) == {200}, sorted(set(reads))
    _assert_nothing_lost(result)
    assert conflicts, f"no recovery conflict in {locks} locks"
    _report(
        "recovery conflicts",
        result,
        f"+{len(reads)} replica reads, all 200; {len(conflicts)} cancelled by "
        f"replay and served by the primary ({locks} locks taken)",
    )


FAILOVER_PORT_OFFSET = 20  # a cluster of its own, beside the suite's


def _manage(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture
def failover_cluster(settings, tmp_path):
    """A primary with two replicas of its own, migrated, with staff users;
    DATABASE_URL names the primary and replica_2 (the one to promote), as a
    deployment under a failover manager does. Destroyed afterwards."""
    port = settings.TEST_CLUSTER["primary_port"] + FAILOVER_PORT_OFFSET
    pair = Cluster(
        root=PROJECT / "var" / f"pgcluster-failover-{port}",
        primary_port=port,
        replica_port=port + 1,
        replicas=2,
        database=settings.TEST_CLUSTER["database"],
    )
    pair.destroy()
    pair.up()
    url = (
        f"postgres://postgres@{pair.host}:{pair.port('primary')},"
        f"{pair.host}:{pair.port('replica_2')}/{pair.database}"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CONSOLE_TEST_PORT": str(port),
        "CONSOLE_TEST_POOLER": "0",
        "DATABASE_POOLER": "",
        "CONSOLE_TEST_DATABASE_URL": url,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    _manage(env, "migrate", "--noinput")
    _manage(env, "createcachetable")
    users = "; ".join(
        f"User.objects.create_user('drill{n}', password='{PASSWORD}', "
        "is_staff=True, is_superuser=True)"
        for n in range(CLIENTS + 1)
    )
    _manage(env, "shell", "-c", f"from django.contrib.auth.models import User; {users}")
    for role in pair.replica_roles:
        pair.wait_for_replay(role)
    try:
        yield pair, env
    finally:
        pair.destroy()


def test_drill_primary_failover_under_load(failover_cluster, tmp_path):
    """The primary stops (a clean shutdown streams all its WAL first) and a
    failover manager promotes replica_2 while staff clients loop: requests
    that need a primary get 503s (never a 500) until libpq finds the new
    one; every acknowledged write is on the new primary; once the remaining
    replica follows the new primary, reads go back to it (old write
    positions pin nobody); the replication page names the new primary."""
    pair, env = failover_cluster
    live = LiveServer(
        tmp_path / "gunicorn.log",
        REPLICA_RETRY_SECONDS=str(RETRY_SECONDS),
        REPLICA_MAX_LAG_SECONDS="1",
        **{
            name: env[name]
            for name in (
                "CONSOLE_TEST_PORT",
                "CONSOLE_TEST_POOLER",
                "DATABASE_POOLER",
                "CONSOLE_TEST_DATABASE_URL",
            )
        },
    ).start()
    try:
        load = Load(live.url, _sessions(live), seconds=12).start()
        time.sleep(3)
        pair.stop("primary")
        stopped_at = time.monotonic() - load._started
        pair.promote("replica_2")
        promoted_at = time.monotonic() - load._started
        # What the failover manager does next: the other replica follows
        # the new primary (on its new timeline).
        pair.follow("replica", "replica_2")
        result = load.join()

        statuses = {status for _, status in result.timeline if status >= 500}
        assert statuses <= {503}, "a failover answers 503, never a 500"
        assert result.connection_errors == []
        assert result.stale_reads == []
        after = [t for t, _ in result.writes if t > stopped_at]
        assert after, "no write succeeded after the switch"
        first_write = min(after) - stopped_at
        stored = pair.execute(
            "replica_2",
            "SELECT count(*) FROM notes_note WHERE title = ANY(ARRAY["
            + ",".join(f"'{title}'" for title in result.acknowledged)
            + "])",
            database=pair.database,
        )
        assert stored == len(result.acknowledged)
        pair.wait_for_replay_from("replica_2", "replica")
        _seconds_until_replica_serves(live, 15)
        operator = staff_session(live.url, f"drill{CLIENTS}", PASSWORD)
        page = operator.get(live.url + "/admin/dbops/replication/", timeout=10).text
        assert f"{pair.host}:{pair.port('replica_2')}" in page
    finally:
        live.stop()
    errors = len([s for _, s in result.timeline if s >= 500])
    _report(
        "primary failover",
        result,
        f"{errors} answered 503 (none 500); first acknowledged write "
        f"{first_write:.2f} s after the old primary was down (promotion took "
        f"{promoted_at - stopped_at:.2f} s); 0 writes lost; reads back on the "
        "replica once it followed the new primary",
    )


class _Prober(threading.Thread):
    """/healthz and /readyz polled while a drill runs: (seconds since the
    start, path, status or 0, seconds taken)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, str, int, float]] = []
        self.started = time.monotonic()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.25):
            for path in ("/healthz", "/readyz"):
                sent = time.monotonic()
                try:
                    status = requests.get(self.url + path, timeout=15).status_code
                except requests.RequestException:
                    status = 0
                took = time.monotonic() - sent
                self.samples.append((sent - self.started, path, status, took))

    def finish(self) -> list[tuple[float, str, int, float]]:
        self._stop_event.set()
        self.join()
        return self.samples


def test_drill_hung_primary_under_load(db, tmp_path, django_user_model, cluster):
    """Every process of the primary stopped (SIGSTOP) for 6 s under load on
    four workers: reads go on from the replica at its speed, writes get a
    fast 503, /readyz says 503 within a few seconds, /healthz keeps
    answering, no worker is killed, no acknowledged write is lost and no
    client misses its own write. (Before: every worker waited the whole
    hang, /readyz said ready, gunicorn killed the workers.)"""
    _primary_unanswering_drill(
        "primary frozen 6 s, 4 workers",
        lambda: cluster.frozen("primary"),  # SIGCONT in its finally
        tmp_path,
        django_user_model,
        cluster,
    )


def test_drill_pgbouncer_pause_of_the_primary_under_load(
    db, tmp_path, django_user_model, cluster, pooler
):
    """PgBouncer's PAUSE of the primary's database for 6 s (a switchover's
    first step): to the console the primary hangs; the same promises hold.
    Runs in make test's PgBouncer pass."""
    if pooler is None:
        pytest.skip("needs the PgBouncer pass (CONSOLE_TEST_POOLER=1)")
    _primary_unanswering_drill(
        "PgBouncer PAUSE of the primary 6 s, 4 workers",
        lambda: pooler.paused("primary"),  # RESUME in its finally
        tmp_path,
        django_user_model,
        cluster,
    )


def _primary_unanswering_drill(
    name: str, fault, tmp_path, django_user_model, cluster
) -> None:
    server = _start_server(tmp_path, django_user_model, cluster, workers=4)
    try:
        load = Load(server.url, _sessions(server), seconds=12).start()
        prober = _Prober(server.url)
        prober.start()
        time.sleep(2)
        frozen_at = time.monotonic() - prober.started
        with fault():
            time.sleep(6)
        thawed_at = time.monotonic() - prober.started
        result = load.join()
        probes = prober.finish()
        log = server.log_path.read_text()
    finally:
        server.stop()

    reads = [d for d in result.durations if d[0].startswith("GET")]
    # A read needs the primary while the replica lacks its client's own last
    # write (sent just before the freeze): a 503 then, at most one per
    # client; every other read is served by the replica.
    refused = [r for r in reads if r[1] != 200]
    assert all(status == 503 for _, status, _ in refused), refused
    assert len(refused) <= CLIENTS, refused
    served = [r for r in reads if r[1] == 200]
    # The first read of a worker to meet the hang waits one health check.
    assert max(r[2] for r in served) < 3.5, [r for r in served if r[2] > 3]
    # A statement in flight when the primary froze: one read timeout, then a
    # fresh connection's connect timeout to find that it answers nothing.
    assert result.slowest() < 5, result.slowest()
    assert result.connection_errors == []
    assert all(e.endswith("503") for e in result.server_errors)
    _assert_nothing_lost(result)
    assert "WORKER TIMEOUT" not in log
    during = [p for p in probes if frozen_at <= p[0] <= thawed_at]
    ready_503 = [p[0] - frozen_at for p in during if p[1] == "/readyz" and p[2] == 503]
    assert ready_503 and ready_503[0] < 4, during
    health = [p for p in probes if p[1] == "/healthz"]
    assert all(p[2] == 200 for p in health), health
    slowest_health = max(p[3] for p in health)
    assert slowest_health < 3, slowest_health
    _report(
        name,
        result,
        f"slowest read served {max(r[2] for r in served):.1f} s, slowest request "
        f"{result.slowest():.1f} s, {len(result.server_errors) - len(refused)} "
        f"writes and {len(refused)} own-write reads refused (503), /readyz 503 "
        f"after {ready_503[0]:.1f} s, slowest /healthz "
        f"{slowest_health:.1f} s, no worker killed",
    )
