"""Several replicas on real servers: the routing cost stays one check per
server per interval, reads spread over the replicas that may serve, and
one paused, one stopped and one hung replica leave the primary serving
without a long wait."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.db import connections
from django.test import Client

from dbops.routing import probes
from dbops.routing.monitor import monitor

ROUTING_URLS = "tests.dbops.routing_urls"


@pytest.fixture
def routing_urls(settings):
    settings.ROOT_URLCONF = ROUTING_URLS


def test_three_replicas_cost_one_probe_each_per_interval_and_none_between(
    three_replicas, routing_urls, query_log, settings, monkeypatch
):
    """With three replicas, the first read after the interval measures the
    primary once and each replica once (on the monitor's probe threads);
    the reads after it measure nothing and run no routing query."""
    settings.REPLICA_CHECK_INTERVAL = 60
    probed = []
    real_probe = probes.probe_replica

    def counted(alias):
        probed.append(alias)
        return real_probe(alias)

    monkeypatch.setattr(probes, "probe_replica", counted)
    monitor.reset()
    query_log.clear()
    for _ in range(5):
        Client().get("/read/")
    assert query_log.primary_checks() == 1
    assert sorted(probed) == ["replica", "replica_2", "replica_3"]
    probed.clear()
    query_log.clear()
    for _ in range(5):
        Client().get("/read/")
    routing = [sql for _, sql in query_log.entries if "catalog_author" not in sql]
    assert routing == []
    assert probed == []


def test_three_replicas_share_the_reads(three_replicas, routing_urls):
    served = Counter(Client().get("/read/").json()["alias"] for _ in range(60))
    assert set(served) == {"replica", "replica_2", "replica_3"}


def test_paused_stopped_and_hung_replicas_leave_the_primary_serving(
    three_replicas, cluster, routing_urls, settings
):
    """replica paused past the byte limit, replica_2 stopped, replica_3
    hung (SIGSTOP): every read is served by the primary, the first within
    about REPLICA_READ_TIMEOUT, the next at once; each verdict says why."""
    settings.REPLICA_READ_TIMEOUT = 1
    settings.REPLICA_MAX_LAG_BYTES = 4096
    Client().get("/read/")  # warm connections to all three
    cluster.pause_replay("replica")
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO catalog_author (name, bio, country, created_at) "
            "SELECT 'after the pause ' || n, repeat('x', 200), '', now() "
            "FROM generate_series(1, 100) AS n"
        )
    cluster.wait_for_receive("replica")
    cluster.stop("replica_2")
    try:
        with cluster.frozen("replica_3"):
            timings = []
            for _ in range(3):
                started = time.monotonic()
                page = Client().get("/read/").json()
                timings.append(time.monotonic() - started)
                assert page["alias"] == "default"
                assert len(page["names"]) == 100
            snapshot = monitor.snapshot()
    finally:
        cluster.start("replica_2")
        cluster.wait_until_ready("replica_2")
    assert timings[0] < 1 + 0.75, timings
    assert max(timings[1:]) < 0.5, timings
    reasons = {alias: snapshot.verdict(alias).reason for alias in snapshot.replicas}
    assert reasons == {
        "replica": "lag-bytes",
        "replica_2": "down",
        "replica_3": "down",
    }
    assert "no answer within 1 s" in snapshot.replicas["replica_3"].error
