"""EstimatedCountPaginator: exact when cheap, estimated or capped when not."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.paginator import EmptyPage
from django.db import connections
from django.urls import reverse

from catalog.models import Book
from catalog.paginator import AT_LEAST, ESTIMATE, EXACT, EstimatedCountPaginator
from tests.catalog.queries import all_queries


class SmallLimitPaginator(EstimatedCountPaginator):
    count_limit = 10


def analyze(cluster, table: str = "catalog_book") -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    cluster.wait_for_replay()


def test_paginator_counts_exactly_below_limit(books):
    """Under the limit the count is exact, whatever the table statistics say."""
    paginator = EstimatedCountPaginator(Book.objects.all(), 10)
    assert (paginator.count, paginator.precision) == (30, EXACT)
    assert paginator.num_pages == 3


def test_paginator_caps_count_of_filtered_queryset(books):
    """A filter matching more than count_limit rows reads "more than N"."""
    paginator = SmallLimitPaginator(Book.objects.filter(title__icontains="garden"), 5)
    assert (paginator.count, paginator.precision) == (11, AT_LEAST)


def test_paginator_estimates_big_unfiltered_table(books, cluster):
    """A whole table over count_limit is estimated from pg_class, not counted."""
    analyze(cluster)
    queryset = Book.objects.all()
    with all_queries() as captured:
        paginator = SmallLimitPaginator(queryset, 5)
        count = paginator.count
    assert (count, paginator.precision) == (30, ESTIMATE)
    assert not captured.matching("count(")
    assert {alias for alias, _ in captured.matching("reltuples")} == {queryset.db}


def test_paginator_counts_table_never_analyzed(books):
    """Without statistics (a fresh table) the capped exact count is used."""
    paginator = SmallLimitPaginator(Book.objects.all(), 5)
    assert (paginator.count, paginator.precision) == (11, AT_LEAST)


def test_paginator_accepts_pages_past_inexact_end(books, cluster):
    """When the end is only estimated, a later page is empty, not an error."""
    analyze(cluster)
    paginator = SmallLimitPaginator(Book.objects.all(), 5)
    assert len(paginator.page(6).object_list) == 5
    assert list(paginator.page(50).object_list) == []
    with pytest.raises(EmptyPage):
        paginator.page(0)


def test_paginator_rejects_pages_past_exact_end(books):
    """An exact count keeps Django's bounds check."""
    paginator = EstimatedCountPaginator(Book.objects.all(), 10)
    with pytest.raises(EmptyPage):
        paginator.page(4)


def test_book_changelist_never_counts_whole_table(admin_client, cluster):
    """Over 10,000 books the unfiltered list shows "about N" and runs no
    COUNT(*) of catalog_book on any alias; the estimate runs where the list
    is read."""
    call_command("populate", authors=20, books=12_000, notes=0, verbosity=0)
    cluster.wait_for_replay()
    with all_queries() as captured:
        response = admin_client.get(reverse("admin:catalog_book_changelist"))
    assert response.status_code == 200
    assert not captured.matching("count(", "catalog_book")
    html = response.content.decode()
    assert "about 12,000 books" in " ".join(html.split())
    list_aliases = {a for a, _ in captured.matching('from "catalog_book"', "limit")}
    estimate_aliases = {a for a, _ in captured.matching("reltuples")}
    assert estimate_aliases == list_aliases


def test_book_changelist_search_says_more_than_limit(admin_client, cluster):
    """A search matching over 10,000 books says "more than 10,000"."""
    call_command("populate", authors=20, books=12_000, notes=0, verbosity=0)
    cluster.wait_for_replay()
    response = admin_client.get(reverse("admin:catalog_book_changelist"), {"q": "e"})
    assert "more than 10,000 books" in " ".join(response.content.decode().split())
