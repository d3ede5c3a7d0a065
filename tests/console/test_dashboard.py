"""The admin index as a dashboard: record counts for staff, replica state,
replica share of reads and unapplied migrations for operators."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Author, Book
from console import dashboard
from console.bigtables import rows as tables
from dbops.models import LagSample
from notes.models import Note


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
    assert 'id="unapplied-count">0<' in html


def _shown_counts(html: str) -> dict[str, int]:
    """Each record card's label and the number it shows."""
    cards = re.findall(
        r'<p class="text-sm[^"]*">([^<]+)</p>\s*<p [^>]*data-rows="\d+">\s*~?([\d,]+)',
        html,
    )
    return {label: int(number.replace(",", "")) for label, number in cards}


def test_dashboard_shows_the_counts_of_the_tables(ops_client, cluster):
    """The numbers on the cards are the tables' rows, read on the replica."""
    author = Author.objects.create(name="Counted", country="NO")
    Book.objects.bulk_create(
        Book(title=f"Counted {n}", author=author) for n in range(3)
    )
    Note.objects.create(title="Counted")
    cluster.wait_for_replay()
    html = ops_client.get(reverse("admin:index")).content.decode()
    users = get_user_model().objects.count()
    assert _shown_counts(html) == {"Authors": 1, "Books": 3, "Notes": 1, "Users": users}


def test_dashboard_replica_share_is_the_share_of_the_counted_reads(ops_client):
    html = ops_client.get(reverse("admin:index")).content.decode()
    share = re.search(
        r'id="replica-share">\s*(\d+)%\s*</p>\s*<p[^>]*>\s*of ([\d,]+) queries', html
    )
    assert share is not None, "the share and its query count are shown"
    percent, queries = int(share.group(1)), int(share.group(2).replace(",", ""))
    assert 0 <= percent <= 100 and queries > 0


def test_dashboard_query_budget(ops_client):
    """Nothing per row or per model. Primary: its state and WAL position, the
    row estimates (its statistics), django_migrations, one more, and the job
    queue (its live workers, the jobs waiting: two). Replica:
    the router's probe, session, user, permissions (two), exact counts of the
    small tables, the replica's own probe, django_migrations."""
    url = reverse("admin:index")
    ops_client.get(url)
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        assert ops_client.get(url).status_code == 200
    assert len(primary) <= 6, [" ".join(q["sql"].split())[:100] for q in primary]
    assert len(replica) <= 8, [q["sql"][:80] for q in replica]
