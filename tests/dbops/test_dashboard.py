"""The admin index as a dashboard: record counts for staff, replica state,
replica share of reads and unapplied migrations for operators."""

from __future__ import annotations

from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console import dashboard
from dbops import tables
from dbops.models import LagSample


def _samples(count: int) -> None:
    LagSample.objects.bulk_create(
        LagSample(alias="x", taken_at="2000-01-01T00:00:00Z", reachable=True)
        for _ in range(count)
    )


def test_table_rows_exact_for_small_tables(db, cluster):
    _samples(3)
    cluster.wait_for_replay()
    [rows] = tables.table_rows(["dbops_lagsample"], using="replica")
    assert (rows.rows, rows.estimated) == (3, False)


def test_table_rows_estimated_for_big_tables(db, cluster):
    """At or over the threshold the count is pg_class.reltuples, marked so."""
    _samples(30)
    with connections["default"].cursor() as cursor:
        cursor.execute("ANALYZE dbops_lagsample")
    cluster.wait_for_replay()
    [rows] = tables.table_rows(["dbops_lagsample"], using="replica", exact_below=10)
    assert (rows.rows, rows.estimated) == (30, True)


def test_table_rows_leaves_out_missing_tables(db):
    assert tables.table_rows(["no_such_table"], using="default") == []


def test_record_counts_skip_models_that_do_not_exist(db):
    counts = dashboard.record_counts(["auth.User", "nosuch.Model"])
    assert [count.label for count in counts] == ["Users"]


def test_dashboard_without_ops_permission_shows_counts_only(plain_staff_client):
    html = plain_staff_client.get(reverse("admin:index")).content.decode()
    assert 'id="record-counts"' in html
    assert "Users" in html
    assert "Replicas now" not in html
    assert 'id="replica-share"' not in html


def test_dashboard_for_operators(ops_client):
    """Operators see the replicas now, the replica share of reads and the
    unapplied migrations (none)."""
    html = ops_client.get(reverse("admin:index")).content.decode()
    assert "Replicas now" in html
    assert 'data-replica="replica"' in html
    assert 'id="replica-share"' in html
    assert '<p class="font-semibold text-2xl' in html
    assert 'id="unapplied-count">0<' in html


def test_dashboard_query_budget(ops_client):
    """Nothing per row or per model. Primary: its WAL position (twice).
    Replica: the router's probe, session, user, permissions (two), record
    counts (estimates, then exact counts of the small tables), the replica's
    own probe, django_migrations."""
    url = reverse("admin:index")
    ops_client.get(url)
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        assert ops_client.get(url).status_code == 200
    assert len(primary) <= 3, [q["sql"][:80] for q in primary]
    assert len(replica) <= 9, [q["sql"][:80] for q in replica]
