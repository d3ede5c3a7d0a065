"""The one row estimator (console.bigtables.rows): the dashboard's cards,
the changelists' "about N" and the migrations page's table sizes agree."""

from __future__ import annotations

import time

import pytest
from django.db import connections

from catalog.models import Author, Book
from console.bigtables.paginator import EstimatedCountPaginator
from console.bigtables.rows import estimated_rows, table_rows

BOOKS = 20_000


def _sql(statement: str) -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute(statement)


@pytest.fixture
def no_autovacuum(db):
    """Updates leave their dead rows in place, as between two autovacuums of
    a busy table (an autovacuum would refresh the statistics and hide the
    fault)."""
    _sql("ALTER TABLE catalog_book SET (autovacuum_enabled = off)")
    try:
        yield
    finally:
        _sql("ALTER TABLE catalog_book RESET (autovacuum_enabled)")


def _estimate_settles(expected: int, tolerance: float = 0.03, timeout: float = 15):
    """The estimate once it is within `tolerance` of `expected`, waiting for
    the server's statistics (backends report them up to a second late)."""
    deadline = time.monotonic() + timeout
    while True:
        estimate = estimated_rows(["catalog_book"])["catalog_book"]
        if estimate is not None and abs(estimate - expected) <= tolerance * expected:
            return estimate
        if time.monotonic() > deadline:
            pytest.fail(f"estimate {estimate} is not within 3% of {expected} rows")
        time.sleep(0.1)


def test_dashboard_and_changelist_estimates_agree(no_autovacuum, cluster):
    """The dashboard card and the changelist's paginator say the same number."""
    author = Author.objects.create(name="Prolific")
    Book.objects.bulk_create(
        Book(title=f"Book {n}", author=author) for n in range(BOOKS)
    )
    _sql("ANALYZE catalog_book")
    cluster.wait_for_replay()
    rows = table_rows(["catalog_book"], using="replica", exact_below=10_000)
    card = {r.table: r for r in rows}
    paginator = EstimatedCountPaginator(Book.objects.using("replica").all(), 50)
    assert card["catalog_book"].estimated
    assert card["catalog_book"].rows == paginator.count
