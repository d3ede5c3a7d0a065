"""The replication page and /readyz on the real pair: paused replay, lag
that returns to zero on an idle primary, a stopped replica, query budgets."""

from __future__ import annotations

import re
import time

from django.db import connections
from django.test.utils import CaptureQueriesContext

from dbops import routing
from dbops.models import LagSample
from dbops.ops import replication

URL = "/admin/dbops/replication/"


def _replica_cells(html: str, alias: str = "replica") -> dict[str, str]:
    row = re.search(rf'<tr data-replica="{alias}">(.*?)</tr>', html, re.S)
    assert row, f"no row for {alias}"
    cells = dict(re.findall(r'data-(lag-bytes|lag-seconds)="([^"]*)"', row.group(1)))
    cells["text"] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(1)))
    return cells


def _write_on_primary() -> None:
    LagSample.objects.create(
        alias="test-write", taken_at="2000-01-01T00:00:00Z", reachable=True
    )


def test_replication_overview_paused_replay_shows_byte_lag(db, cluster):
    """The collector: paused replay with a write on the primary is paused,
    reachable, in recovery and behind in bytes."""
    cluster.pause_replay()
    _write_on_primary()
    cluster.wait_for_receive()  # received, not replayed (a race otherwise)
    row = replication.replicas_now().replicas[0]
    assert row.status.reachable and row.status.in_recovery
    assert row.status.replay_paused is True
    assert row.status.lag_bytes > 0
    assert row.status.receive_lsn != row.status.replay_lsn


def test_replication_page_paused_replay_then_resumed_on_idle_primary(
    ops_client, client, cluster
):
    """With replay paused and a write on the primary, the page says paused and
    shows byte lag, as does /readyz; after resuming on an idle primary both
    show zero lag within a few seconds."""
    cluster.pause_replay()
    _write_on_primary()

    html = ops_client.get(URL).content.decode()
    cells = _replica_cells(html)
    assert "paused" in cells["text"]
    assert int(cells["lag-bytes"]) > 0
    ready = client.get("/readyz").json()["databases"]["replica"]
    assert ready["lag_bytes"] > 0
    assert ready["replay_paused"] is True

    cluster.resume_replay()
    deadline = time.monotonic() + 10
    while True:
        cells = _replica_cells(ops_client.get(URL).content.decode())
        ready = client.get("/readyz").json()["databases"]["replica"]
        zero_page = cells["lag-bytes"] == "0" and float(cells["lag-seconds"]) == 0
        zero_ready = ready["lag_bytes"] == 0 and ready["lag_seconds"] == 0
        if zero_page and zero_ready:
            break
        assert time.monotonic() < deadline, (cells, ready)
        time.sleep(0.2)
    assert "replaying" in cells["text"]
    assert "serving reads" in cells["text"]


def test_replication_page_stopped_replica_is_down_and_fast(ops_client, client, cluster):
    """A stopped replica: the page and /readyz say it is down, /readyz stays
    200 (the primary is up), and both answer within a couple of seconds."""
    cluster.stop("replica")
    try:
        started = time.monotonic()
        response = ops_client.get(URL)
        page_seconds = time.monotonic() - started
        assert response.status_code == 200
        cells = _replica_cells(response.content.decode())
        assert "down" in cells["text"]
        assert "not used" in cells["text"]

        started = time.monotonic()
        ready = client.get("/readyz")
        ready_seconds = time.monotonic() - started
        assert ready.status_code == 200
        body = ready.json()["databases"]
        assert body["default"]["ok"] is True
        assert body["replica"]["ok"] is False
        assert body["replica"]["reachable"] is False
        assert page_seconds < 3 and ready_seconds < 3
    finally:
        cluster.start("replica")
        cluster.wait_until_ready("replica")
        routing.reset()


def test_replication_page_lists_wal_senders(ops_client):
    """The primary's pg_stat_replication shows the streaming replica."""
    html = ops_client.get(URL).content.decode()
    assert "streaming" in html
    assert "async" in html


def test_replication_page_only_reads(ops_client, cluster):
    """Viewing the page stores nothing (the sampler keeps the history), so
    it hands out no read-your-writes cookie that would pin the operator's
    reads to the primary."""
    response = ops_client.get(URL)
    assert response.status_code == 200
    assert not LagSample.objects.using("default").exists()
    assert "console_wal" not in response.cookies
    assert "No samples in the last hour" in response.content.decode()


def test_replication_page_query_budget(ops_client):
    """The page costs a fixed handful of queries per alias (one replica).

    Primary: its WAL position (twice), the history, pg_stat_replication, and
    a sample insert when due. Replica: the router's probe, the session, the
    user, their permissions (two), the page's own probe."""
    ops_client.get(URL)  # warm the sample, session and routing
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        assert ops_client.get(URL).status_code == 200
    assert len(primary) <= 5, "\n".join(q["sql"][:90] for q in primary)
    assert len(replica) <= 6, "\n".join(q["sql"][:90] for q in replica)


def test_readyz_primary_down_is_503_and_fast(db, client, cluster):
    """With the primary stopped /readyz answers 503 quickly, naming no host."""
    cluster.stop("primary")
    try:
        connections["default"].close()
        started = time.monotonic()
        response = client.get("/readyz")
        assert time.monotonic() - started < 3
        assert response.status_code == 503
        body = response.json()
        assert body["databases"]["default"]["ok"] is False
        assert "127.0.0.1" not in response.content.decode()
    finally:
        cluster.start("primary")
        cluster.wait_until_ready("primary")
        for alias in connections:
            connections[alias].close()
        routing.reset()
