"""/healthz and /readyz: open, fast, and saying nothing secret."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dbops import routing


def _capture_all():
    return [CaptureQueriesContext(connections[alias]) for alias in connections]


@contextmanager
def _unreachable_servers():
    """Every alias pointed at a port where nothing listens, as when the
    primary and the replicas are all down."""
    ports = {alias: connections[alias].settings_dict["PORT"] for alias in connections}
    for alias in connections:
        connections[alias].close()
        connections[alias].settings_dict["PORT"] = 1
    try:
        yield
    finally:
        for alias, port in ports.items():
            connections[alias].close()
            connections[alias].settings_dict["PORT"] = port
        routing.reset()


def _queries_of(client: Client, url: str):
    contexts = _capture_all()
    for context in contexts:
        context.__enter__()
    try:
        response = client.get(url)
    finally:
        for context in contexts:
            context.__exit__(None, None, None)
    return response, [query["sql"] for context in contexts for query in context]


def test_healthz_touches_no_database(db, client):
    """Liveness answers without a single query on any alias."""
    response, queries = _queries_of(client, "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert queries == []
    assert "no-cache" in response["Cache-Control"]


def test_healthz_of_a_signed_in_browser_touches_no_database(admin_client):
    """A session cookie does not make liveness read the session or the user
    (and, for them, probe the replicas)."""
    response, queries = _queries_of(admin_client, "/healthz")
    assert response.status_code == 200
    assert queries == []


def test_health_endpoints_of_a_signed_in_browser_with_every_server_down(
    admin_client,
):
    """Liveness stays 200 and readiness answers its 503, never a 500: a
    session cookie makes neither look the user up."""
    with _unreachable_servers():
        assert admin_client.get("/healthz").status_code == 200
        response = admin_client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["databases"]["default"]["ok"] is False


def test_readyz_of_a_signed_in_browser_reads_no_session(admin_client):
    """Readiness measures the servers, not the visitor: no session or user
    query, whoever asks."""
    _, queries = _queries_of(admin_client, "/readyz")
    assert queries
    assert not [sql for sql in queries if "django_session" in sql]
    assert not [sql for sql in queries if "auth_user" in sql]


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
    """On the primary its check (WAL position), the recent writers'
    positions, the job queue (live workers, jobs waiting) and the lock
    waits; on each replica one probe and its lock waits: measured anew here
    since the tests' check interval is 0."""
    client.get("/readyz")
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        client.get("/readyz")
    assert len(primary) == 5
    assert len(replica) == 2


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
