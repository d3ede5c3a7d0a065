"""The one row estimator (console.bigtables.rows): the dashboard's cards,
the changelists' "about N" and the migrations page's table sizes agree."""

from __future__ import annotations

from django.db import connections

from catalog.models import Author, Book
from console.bigtables.paginator import EstimatedCountPaginator
from console.bigtables.rows import table_rows
from tests.waiting import eventually

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


def _reported(counter: str, table: str) -> int:
    """What the primary's statistics hold of `counter` for `table`."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            f"SELECT {counter} FROM pg_stat_user_tables WHERE relname = %s",
            [table],
        )
        return cursor.fetchone()[0]


def test_estimate_stays_close_after_whole_table_updates(db):
    """Updates leave dead row versions that triple the table's pages: an
    estimate from the pages alone said 59,880 for 20,000 rows after two
    whole-table updates. The primary's live rows correct it.

    A table of the test's own: no other backend has counts of it still to
    report, so waiting for this test's reports is enough.
    """
    table = "estimate_probe"
    _sql(
        f"CREATE TABLE {table} (id int PRIMARY KEY, title text)"
        " WITH (autovacuum_enabled = false)"
    )
    try:
        _sql(
            f"INSERT INTO {table} SELECT n, 'Book ' || n"
            f" FROM generate_series(1, {BOOKS}) AS n"
        )
        # A backend reports its counts to the statistics when it goes idle
        # (within ten seconds, later behind a pooler): wait for each report,
        # as ANALYZE's count would otherwise get the inserts added again.
        eventually(
            lambda: _reported("n_tup_ins", table) >= BOOKS,
            what="the inserts in the statistics",
        )
        _sql(f"ANALYZE {table}")
        for _ in range(2):
            _sql(f"UPDATE {table} SET title = 'Retitled'")
        eventually(
            lambda: _reported("n_tup_upd", table) >= 2 * BOOKS,
            what="the updates in the statistics",
        )
        [rows] = table_rows([table], using="default", exact_below=10_000)
    finally:
        _sql(f"DROP TABLE {table}")
    assert rows.estimated
    assert abs(rows.rows - BOOKS) <= BOOKS * 0.03, rows.rows
