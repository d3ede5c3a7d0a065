"""The replica badge in the header of every admin page: its words from the
replica rule, and the state in the markup as `data-replica-state`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from dbops.ops import replication
from dbops.routing import rule

LIMITS = rule.Limits(max_lag_seconds=5, max_lag_bytes=16 * 1024 * 1024)
PRIMARY = rule.PrimaryState(reachable=True, position=10_000, system_identifier="7")


def _row(alias: str, **state) -> replication.ReplicaRow:
    state.setdefault("lag_seconds", 0.0)
    replica = rule.ReplicaState(
        alias, reachable=state.pop("reachable", True), in_recovery=True, **state
    )
    return replication.ReplicaRow(
        status=replica, verdict=rule.may_serve(replica, PRIMARY, limits=LIMITS)
    )


def _badge(*rows) -> replication.Badge:
    now = replication.ReplicaNow(primary=PRIMARY, replicas=list(rows), limits=LIMITS)
    return replication.badge(now)


def test_badge_all_replicas_serving():
    badge = _badge(_row("replica"), _row("replica_2"))
    assert (badge.state, badge.text) == ("serving", "all replicas serving")


def test_badge_lagging_only_replica_reads_from_the_primary():
    badge = _badge(_row("replica", lag_seconds=29.2, lag_bytes=100))
    assert badge.state == "primary-only"
    assert badge.text == "replica 29 s behind, reads from the primary"
    assert "limit 5.0 s" in badge.detail


def test_badge_one_of_two_down_since():
    down_since = datetime(2026, 12, 2, 12, 51, tzinfo=UTC).timestamp()
    badge = _badge(
        _row("replica"),
        _row("replica_2", reachable=False, error="refused", down_since=down_since),
    )
    assert badge.state == "degraded"
    assert badge.text == "1 of 2 replicas serving; replica_2 down since 12:51 UTC"


def test_badge_no_replica_configured():
    assert _badge().state == "primary-only"


def _state_on(client, url: str) -> str:
    html = client.get(url).content.decode()
    found = re.findall(r'data-replica-state="([a-z-]+)"', html)
    assert len(found) == 1, found
    return found[0]


PAGES = ["/admin/", "/admin/catalog/author/", "/notes/"]


@pytest.mark.parametrize("url", PAGES)
def test_badge_on_every_page_follows_the_replica(admin_client, cluster, settings, url):
    """Healthy, paused past the limit and stopped: every page says so."""
    assert _state_on(admin_client, url) == "serving"
    settings.REPLICA_MAX_LAG_BYTES = 1
    cluster.pause_replay()
    admin_client.post("/notes/create/", {"title": "lag", "content": ""})
    cluster.wait_for_receive()
    assert _state_on(admin_client, url) == "primary-only"
    cluster.resume_replay()
    cluster.wait_for_replay()
    settings.REPLICA_MAX_LAG_BYTES = 16 * 1024 * 1024
    cluster.stop("replica")
    try:
        html = admin_client.get(url).content.decode()
        assert 'data-replica-state="primary-only"' in html
        assert "replica down since" in html
    finally:
        cluster.start("replica")
        cluster.wait_until_ready("replica")
