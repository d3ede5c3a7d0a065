"""Query counters: per request, across processes, reset by baseline, and the
Prometheus exposition."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.urls import reverse

from catalog.models import Author
from dbops.ops import metrics

ROOT = Path(settings.BASE_DIR)


def test_tally_counts_reads_and_writes_per_alias(db):
    """Explicit queries land in the block's tally by alias and kind."""
    with metrics.request_tally() as tally:
        for _ in range(2):
            with connections["replica"].cursor() as cursor:
                cursor.execute("SELECT 1")
        with connections["default"].cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE counted (x int)")
    assert (tally.get("replica").reads, tally.get("replica").writes) == (2, 0)
    assert (tally.get("default").reads, tally.get("default").writes) == (0, 1)
    assert tally.get("replica").read_seconds > 0
    assert tally.replica_share == 1.0


def test_not_counted_leaves_queries_out(db):
    with metrics.request_tally() as tally, metrics.not_counted():
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    assert tally.queries == 0


def test_request_counts_two_replica_reads_and_one_primary_write(db, client, settings):
    """A request that reads twice on the replica and writes once on the
    primary counts exactly that (the totals are checked across processes
    below, where no other test's server can touch the counter files)."""
    settings.ROOT_URLCONF = "tests.dbops.ops_urls"
    counted = client.post("/counted/").json()
    assert counted == {
        "default": {"reads": 0, "writes": 1},
        "replica": {"reads": 2, "writes": 0},
    }


def test_server_timing_header_has_each_alias_time(admin_client, settings):
    """Devtools show staff where a page's time went: the database time per
    alias that served the request, and the whole request's."""
    settings.ROOT_URLCONF = "tests.dbops.ops_urls"
    response = admin_client.post("/counted/")
    header = response["Server-Timing"]
    entries = {
        name.strip(): dict(p.strip().split("=", 1) for p in params)
        for name, *params in (entry.split(";") for entry in header.split(","))
    }
    assert set(entries) == {"db-default", "db-replica", "total"}
    # The write, the session and the user, the WAL position after the write.
    assert re.fullmatch(r'"default: \d+ queries"', entries["db-default"]["desc"])
    assert entries["db-replica"]["desc"] == '"replica: 2 queries"'
    total = float(entries["total"]["dur"])
    assert 0 < float(entries["db-replica"]["dur"]) <= total


def test_server_timing_is_for_staff_only(db, client, settings):
    """Others are not told the servers' names and times."""
    settings.ROOT_URLCONF = "tests.dbops.ops_urls"
    assert "Server-Timing" not in client.post("/counted/")


@pytest.mark.parametrize(
    "name", ["admin:index", "admin:auth_user_changelist", "admin:auth_user_add"]
)
def test_admin_footer_shows_this_requests_counts(admin_client, name):
    """Every admin page (index, change list, change form) ends with the
    request's queries per alias."""
    html = admin_client.get(reverse(name)).content.decode()
    assert 'id="dbops-query-footer"' in html
    footer = html[html.index('id="dbops-query-footer"') :]
    assert re.search(r'data-alias="(default|replica)" data-reads="[1-9]', footer)


WORKER = """
import django
django.setup()
from django.db import connections, transaction
for _ in range(3):
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT 1")
# One transaction, and the table gone with it: behind a transaction pooler
# a temporary table lives on a pooled server connection, not this client's.
with transaction.atomic(), connections["default"].cursor() as cursor:
    cursor.execute("CREATE TEMP TABLE counted (x int) ON COMMIT DROP")
    cursor.execute("INSERT INTO counted VALUES (1)")
"""


def test_totals_add_up_across_two_worker_processes(db, tmp_path):
    """Two processes sharing PROMETHEUS_MULTIPROC_DIR (as gunicorn workers
    do) add up to one total: 2 x 3 replica reads and 2 x 2 primary writes."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=env)
        for _ in range(2)
    ]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    assert len(list(tmp_path.glob("counter_*.db"))) == 2

    totals = {row.alias: row for row in metrics.query_totals(path=tmp_path).rows}
    assert (totals["replica"].reads, totals["replica"].writes) == (6, 0)
    assert (totals["default"].reads, totals["default"].writes) == (0, 4)
    assert metrics.query_totals(path=tmp_path).replica_share == 1.0


def test_counters_reset_starts_page_totals_from_zero(db, tmp_path, admin_user):
    """A reset stores a baseline: the page's totals restart from zero while
    the underlying counters (and so /metrics) keep counting."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    run = [sys.executable, "-c", WORKER]
    subprocess.run(run, cwd=ROOT, env=env, check=True, timeout=60)

    totals = metrics.counters_reset(user=admin_user, path=tmp_path)
    assert totals.queries == 0
    assert totals.reset_by == admin_user.username
    assert totals.reset_at is not None

    subprocess.run(run, cwd=ROOT, env=env, check=True, timeout=60)
    rows = {row.alias: row for row in metrics.query_totals(path=tmp_path).rows}
    assert (rows["replica"].reads, rows["default"].writes) == (3, 2)
    raw = metrics._raw_totals(tmp_path)
    assert raw[("replica", "read")][0] == 6  # the counters never went back


def test_clear_process_files_empties_totals(tmp_path, admin_user):
    (tmp_path / "counter_1.db").write_bytes(b"")
    (tmp_path / metrics.BASELINE_FILE).write_text("{}")
    metrics.clear_process_files(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_queries_page_shows_totals_and_this_request(ops_client):
    """The queries page shows the totals and this request's counts, with
    the replica share of reads."""
    html = ops_client.get(reverse("admin:dbops_queries")).content.decode()
    assert "Totals across all server processes" in html
    assert "This request" in html
    assert "Replica share of reads" in html
    assert 'data-alias="replica"' in html


def test_queries_page_reset_button_resets_totals(resetting_client):
    """After the reset POST the page says who reset the counters."""
    response = resetting_client.post(reverse("admin:dbops_queries_reset"), follow=True)
    html = response.content.decode()
    assert "Query counters reset." in html
    assert "when resetter reset the counters" in html


def test_queries_page_query_budget(ops_client, settings):
    """The totals come from files, not the database: the page costs only the
    session, user and permission queries (routing reuses the shared state)."""
    settings.REPLICA_CHECK_INTERVAL = 60
    from django.test.utils import CaptureQueriesContext

    ops_client.get(reverse("admin:dbops_queries"))
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        ops_client.get(reverse("admin:dbops_queries"))
    assert len(primary) == 0, [q["sql"] for q in primary]
    assert len(replica) <= 5, [q["sql"][:80] for q in replica]


def test_metrics_exposition_has_counters_and_replica_gauges(
    db, client, settings, tmp_path, monkeypatch
):
    """/metrics: the per-alias query counters and durations of every process
    sharing the directory, and the replicas' lag and up gauges."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=env, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    settings.METRICS_TOKEN = "scrape-me"
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    body = response.content.decode()
    assert 'dbops_queries_total{alias="replica",kind="read"} 3.0' in body
    assert 'dbops_queries_total{alias="default",kind="write"} 2.0' in body
    assert 'dbops_query_duration_seconds_bucket{alias="replica",kind="read",le=' in body
    assert 'dbops_query_duration_seconds_count{alias="replica",kind="read"} 3.0' in body
    assert 'dbops_query_duration_seconds_sum{alias="replica",kind="read"}' in body
    assert 'dbops_replica_up{alias="replica"} 1.0' in body
    assert 'dbops_replica_lag_bytes{alias="replica"}' in body
    assert 'dbops_replica_lag_seconds{alias="replica"}' in body
    assert "dbops_primary_up 1.0" in body


def test_metrics_exposition_replica_down(db, client, settings, cluster):
    """A stopped replica is reported down (0), without lag values."""
    from dbops import routing

    settings.METRICS_TOKEN = "scrape-me"
    cluster.stop("replica")
    try:
        response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
        body = response.content.decode()
        assert 'dbops_replica_up{alias="replica"} 0.0' in body
        assert 'dbops_replica_lag_bytes{alias="replica"}' not in body
    finally:
        cluster.start("replica")
        cluster.wait_until_ready("replica")
        routing.reset()


def _scrape(client, settings) -> str:
    settings.METRICS_TOKEN = "scrape-me"
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert response.status_code == 200
    return response.content.decode()


def _value(body: str, line_start: str) -> float:
    for line in body.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_routing_decisions_by_reason_and_failovers_by_cause(
    db, cluster, settings
):
    """/metrics counts each request's routing (alias and reason) and each
    replica read served by the primary (replica and cause)."""
    settings.ROOT_URLCONF = "tests.dbops.routing_urls"
    client = Client()
    replica = 'dbops_routing_decisions_total{alias="replica",reason="replica"}'
    lost = 'dbops_replica_failovers_total{alias="replica",cause="connection"}'
    before = _scrape(client, settings)
    client.get("/read/")
    client.get("/read/")
    Author.objects.create(name="Ted Chiang")
    cluster.wait_for_replay()
    assert Author.objects.using("replica").count() == 1  # opens the connection
    cluster.execute(
        "replica",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'console'",
    )
    assert Author.objects.using("replica").count() == 1  # served by the primary
    after = _scrape(client, settings)
    assert _value(after, replica) - _value(before, replica) == 2
    if not settings.TEST_POOLER_PORT:  # behind PgBouncer the pooler reconnects
        assert _value(after, lost) - _value(before, lost) == 1


def test_replica_share_of_the_last_minutes(tmp_path):
    """Since start most reads went to the replica; in the last five minutes
    (replay paused, say) none did: the page shows both."""
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    notes = {
        start: {"default": 10, "replica": 90},
        start + timedelta(minutes=4): {"default": 20, "replica": 180},
        start + timedelta(minutes=6): {"default": 60, "replica": 180},
    }
    for at, reads in notes.items():
        metrics.note_reads(path=tmp_path, now=at, reads=reads)
    now = start + timedelta(minutes=10)
    current = {"default": 110, "replica": 180}
    recent = metrics.recent_replica_share(path=tmp_path, now=now, reads=current)
    assert recent.since == start + timedelta(minutes=4)
    assert recent.share == 0.0
    assert metrics.share_between({}, current) == 180 / 290
    # Notes older than RECENT_KEEP are dropped as new ones come.
    later = start + metrics.RECENT_KEEP + timedelta(minutes=5)
    metrics.note_reads(path=tmp_path, now=later, reads=current)
    kept = metrics.recent_replica_share(path=tmp_path, now=later, reads=current)
    assert kept.since == start + timedelta(minutes=6)


def test_replica_share_counts_a_restarted_counter_from_zero():
    assert metrics.share_between({"default": 50, "replica": 500}, {"replica": 5}) == 1.0
    assert metrics.share_between({"default": 5}, {"default": 5}) is None
