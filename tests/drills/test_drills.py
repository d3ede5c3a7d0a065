"""Fault drills: a real two-worker gunicorn under a bounded load of staff
clients (write a note, read it back, read a changelist) while the database
misbehaves. Each drill asserts no 5xx where the design promises none, that
no client ever missed its own write, that every acknowledged write is on the
primary afterwards, and that the console recovers by itself."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from django.db import connections

from notes.models import Note
from tests.live import LiveServer, Load, staff_session

pytestmark = pytest.mark.drill

RETRY_SECONDS = 2
CLIENTS = 3
PASSWORD = "drill-password-123"


@pytest.fixture
def server(db, tmp_path, django_user_model, cluster):
    for number in range(CLIENTS + 1):
        django_user_model.objects.create_user(
            f"drill{number}", password=PASSWORD, is_staff=True, is_superuser=True
        )
    cluster.wait_for_replay()
    live = LiveServer(
        tmp_path / "gunicorn.log",
        REPLICA_RETRY_SECONDS=str(RETRY_SECONDS),
        REPLICA_MAX_LAG_SECONDS="1",
    ).start()
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
