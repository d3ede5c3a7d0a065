"""Time lag is never under-estimated: not by a process that was idle, not by a
replica whose clock is slow, not by an app host whose wall clock steps back.

Each test judges the read by what the servers hold (the row the primary
committed is missing on the replica while replay is paused), not only by the
console's own figure.
"""

from __future__ import annotations

import time

import pytest
from django.test import Client

from catalog.models import Author
from dbops import routing
from dbops.routing import rule
from dbops.routing.monitor import monitor
from tests.waiting import eventually

ROUTING_URLS = "tests.dbops.routing_urls"
LIMIT = 2.0


@pytest.fixture
def routing_urls(settings):
    settings.ROOT_URLCONF = ROUTING_URLS
    settings.REPLICA_MAX_LAG_SECONDS = LIMIT


def _replica_has(cluster, name: str) -> bool:
    found = cluster.execute(
        "replica",
        f"SELECT count(*) FROM catalog_author WHERE name = '{name}'",
        database=cluster.database,
    )
    return bool(found)


def _wait_past_the_limit(since: float) -> None:
    """Until the replica, missing a row committed at `since`, is truly
    further behind than the limit."""
    eventually(lambda: time.monotonic() - since > LIMIT + 0.5, timeout=10)


def test_idle_process_does_not_call_a_lagging_replica_current(
    db, cluster, routing_urls
):
    """A process saw the replica caught up, then served nothing while the
    primary committed and replay stayed paused: its next read must not come
    from the replica (the lag is bounded by the time since it last looked,
    not by the moment it first sees the primary past the replica: now)."""
    assert monitor.refresh().verdict("replica").serving
    cluster.pause_replay()
    committed_at = time.monotonic()
    Author.objects.create(name="committed while the process idled")
    _wait_past_the_limit(committed_at)
    assert not _replica_has(cluster, "committed while the process idled")

    page = Client().get("/read/").json()
    assert page == {"names": ["committed while the process idled"], "alias": "default"}
    verdict = monitor.snapshot().verdict("replica")
    assert verdict.reason == rule.LAG_SECONDS
    lag = monitor.snapshot().replica("replica").lag_seconds
    assert lag is not None and lag >= time.monotonic() - committed_at - 0.1


def test_replica_with_a_slow_clock_is_not_called_current(db, cluster, routing_urls):
    """The replica's clock runs 30 s slow (libfaketime), replay is paused
    and it is truly further behind than the limit: a fresh process (a new or
    recycled worker) does not serve from it, since its `now()` minus the
    last replayed commit goes negative; the process's own clock decides."""
    with cluster.clock_skewed("replica", "-30s"):
        skew = cluster.execute(
            "primary",
            "SELECT extract(epoch FROM now())::float8",
        )
        replica_now = cluster.execute(
            "replica", "SELECT extract(epoch FROM now())::float8"
        )
        assert float(skew) - float(replica_now) > 25  # the skew is real
        cluster.pause_replay()
        committed_at = time.monotonic()
        Author.objects.create(name="committed before the slow clock")
        _wait_past_the_limit(committed_at)
        assert not _replica_has(cluster, "committed before the slow clock")

        routing.reset()  # as a worker just started
        for _ in range(5):
            page = Client().get("/read/").json()
            assert page["alias"] == "default"
            assert page["names"] == ["committed before the slow clock"]
        assert not monitor.snapshot().verdict("replica").serving
        cluster.resume_replay()


def test_app_clock_stepped_back_does_not_hide_the_lag(
    db, cluster, routing_urls, monkeypatch
):
    """The app host's wall clock steps back 30 s (as NTP can) while replay is
    paused and the replica is over the limit: no read comes from it, and the
    lag the console reports is never below the truth.

    The step is made in this process: libfaketime 0.9.10 with only the wall
    clock faked (DONT_FAKE_MONOTONIC) breaks Python's time.sleep (EINVAL from
    clock_nanosleep), so gunicorn cannot run under it.
    """
    assert monitor.refresh().verdict("replica").serving
    cluster.pause_replay()
    committed_at = time.monotonic()
    Author.objects.create(name="committed before the step")
    monitor.refresh()  # the process sees the primary pass the replica
    _wait_past_the_limit(committed_at)
    assert monitor.refresh().verdict("replica").reason == rule.LAG_SECONDS

    wall_clock = time.time
    monkeypatch.setattr(time, "time", lambda: wall_clock() - 30)
    deadline = time.monotonic() + 3  # several checks after the step
    while time.monotonic() < deadline:
        page = Client().get("/read/").json()
        assert page == {"names": ["committed before the step"], "alias": "default"}
        lag = monitor.snapshot().replica("replica").lag_seconds
        assert lag is not None and lag >= time.monotonic() - committed_at - 0.1
        time.sleep(0.2)
