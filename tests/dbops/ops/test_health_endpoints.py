"""/healthz and /readyz: open, fast, and saying nothing secret."""

from __future__ import annotations

from django.db import connections
from django.test.utils import CaptureQueriesContext


def _capture_all():
    return [CaptureQueriesContext(connections[alias]) for alias in connections]


def test_healthz_touches_no_database(db, client):
    """Liveness answers without a single query on any alias."""
    contexts = _capture_all()
    for context in contexts:
        context.__enter__()
    try:
        response = client.get("/healthz")
    finally:
        for context in contexts:
            context.__exit__(None, None, None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert sum(len(context) for context in contexts) == 0
    assert "no-cache" in response["Cache-Control"]


def test_readyz_reports_each_alias(db, client):
    """Each alias has `ok`; replicas also have their lag in bytes and seconds."""
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["databases"]["default"] == {"ok": True}
    replica = body["databases"]["replica"]
    assert replica["ok"] is True
    assert isinstance(replica["lag_bytes"], int)
    assert isinstance(replica["lag_seconds"], float | int)
    assert "no-cache" in response["Cache-Control"]


def test_readyz_leaks_no_hosts_or_credentials(db, client, settings):
    text = client.get("/readyz").content.decode()
    for alias in connections:
        config = settings.DATABASES[alias]
        for secret in (config["HOST"], str(config["PORT"]), config["USER"]):
            assert secret and secret not in text
    assert "postgres" not in text


def test_readyz_query_budget(db, client):
    """On the primary its check (WAL position) and the recent writers'
    positions, on each replica one probe: measured anew here since the
    tests' check interval is 0."""
    client.get("/readyz")
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        client.get("/readyz")
    assert len(primary) == 2
    assert len(replica) == 1


def test_readyz_replica_over_lag_limit_is_not_ok(db, client, cluster, settings):
    """A replica over the lag limits is reported not ok, and /readyz stays
    200: reads fall back to the primary."""
    from dbops.models import LagSample

    settings.REPLICA_MAX_LAG_BYTES = 1
    cluster.pause_replay()
    LagSample.objects.create(alias="w", taken_at="2000-01-01T00:00:00Z", reachable=True)
    response = client.get("/readyz")
    assert response.status_code == 200
    replica = response.json()["databases"]["replica"]
    assert replica["reachable"] is True
    assert replica["ok"] is False
    assert replica["serving"] is False
