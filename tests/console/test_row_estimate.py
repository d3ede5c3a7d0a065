"""The one row estimator (console.bigtables.rows): the dashboard's cards,
the changelists' "about N" and the migrations page's table sizes agree."""

from __future__ import annotations

from django.db import connections

from catalog.models import Author, Book
from console.bigtables.paginator import EstimatedCountPaginator
from console.bigtables.rows import table_rows

BOOKS = 20_000


def _sql(statement: str) -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute(statement)


def test_dashboard_and_changelist_estimates_agree(db, cluster):
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
