"""The trigram indexes serve the searches Django actually generates.

On a small table the planner may prefer reading everything, or walking the
primary key in ORDER BY order and filtering. With sequential and plain index
scans switched off (for one transaction), the only cheap plan left is a
bitmap scan of an index that matches the search expression; an index that
did not match it would not appear in the plan, which is what these tests
catch.
"""

from __future__ import annotations

import pytest
from django.db import connections, transaction
from django.urls import reverse

from catalog.models import Author, Book
from notes.models import Note
from tests.catalog.queries import all_queries


def plan(sql: str, params=None) -> str:
    """EXPLAIN of `sql` on the primary, with full scans discouraged."""
    with transaction.atomic(using="default"):
        with connections["default"].cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            return "\n".join(row[0] for row in cursor.fetchall())


def test_admin_book_search_uses_title_trigram_index(admin_client, books):
    """The admin's own search queries (UPPER(title) LIKE ..., for the count
    and for the page) use the index."""
    with all_queries() as captured:
        admin_client.get(reverse("admin:catalog_book_changelist"), {"q": "garden"})
    searches = captured.matching("select", "like", 'from "catalog_book"')
    assert len(searches) == 2
    for _, sql in searches:
        assert "catalog_book_title_trgm" in plan(sql)


@pytest.mark.parametrize(
    ("model", "field", "index"),
    [
        (Book, "title", "catalog_book_title_trgm"),
        (Author, "name", "catalog_author_name_trgm"),
        (Note, "title", "notes_note_title_trgm"),
    ],
)
def test_icontains_search_uses_trigram_index(db, model, field, index):
    """`icontains` on each searched column is served by its trigram index."""
    queryset = model.objects.using("default").filter(**{f"{field}__icontains": "abc"})
    sql, params = queryset.query.sql_with_params()
    assert index in plan(sql, params)
