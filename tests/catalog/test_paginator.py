"""EstimatedCountPaginator: exact when cheap, estimated or capped when not."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.paginator import EmptyPage
from django.db import connections
from django.urls import reverse

from catalog.models import Book
from console.bigtables.paginator import (
    AT_LEAST,
    ESTIMATE,
    EXACT,
    EstimatedCountPaginator,
)
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
    # The statistics that the estimate reads are kept only by the primary.
    assert {alias for alias, _ in captured.matching("reltuples")} == {"default"}


def test_paginator_counts_table_never_analyzed(books):
    """Without statistics (a fresh table) the capped exact count is used."""
    paginator = SmallLimitPaginator(Book.objects.all(), 5)
    assert (paginator.count, paginator.precision) == (11, AT_LEAST)


def test_paginator_shows_last_rows_past_inexact_end(books, cluster):
    """When the end is only estimated, a page past it shows the last rows:
    a link to the estimated last page never leads to an empty page."""
    analyze(cluster)
    queryset = Book.objects.order_by("-id")
    paginator = SmallLimitPaginator(queryset, 5)
    assert len(paginator.page(6).object_list) == 5
    assert list(paginator.page(50).object_list) == list(queryset)[-5:]
    with pytest.raises(EmptyPage):
        paginator.page(0)


class SeekingPaginator(SmallLimitPaginator):
    seek_from_row = 5


@pytest.mark.parametrize(
    "ordering", [("-id",), ("id",), ("title", "id"), ("-author_id", "-pk")]
)
def test_deep_pages_seek_to_the_same_rows_as_offset(books, ordering):
    """Every page found by seeking holds exactly the rows OFFSET would give,
    in either direction and with several key columns."""
    queryset = Book.objects.select_related("author").order_by(*ordering)
    expected = list(queryset)
    paginator = SeekingPaginator(queryset, 4)
    for number in range(1, 9):
        page = list(paginator.page(number).object_list)
        assert page == expected[(number - 1) * 4 : number * 4], number


def test_deep_page_reads_no_offset_of_whole_rows(books):
    """A deep page: one OFFSET over the key column alone, then the page's
    rows from that key with a row comparison, no OFFSET."""
    queryset = Book.objects.select_related("author").order_by("-id")
    with all_queries() as captured:
        rows = list(SeekingPaginator(queryset, 4).page(5).object_list)
    assert rows == list(queryset)[16:20]
    [(_, boundary)] = captured.matching("offset")
    assert boundary.startswith(
        'SELECT "catalog_book"."id" AS "id" FROM "catalog_book" '
    )
    [(_, page)] = captured.matching('("catalog_book"."id") <=')
    assert "OFFSET" not in page.upper() and "JOIN" in page.upper()


def test_orderings_that_cannot_seek_use_offset(books):
    """A nullable, mixed-direction or non-unique ordering pages by OFFSET."""
    from console.bigtables.paginator import seek_keys

    assert seek_keys(Book.objects.order_by("published", "-id")) is None
    assert seek_keys(Book.objects.order_by("title", "-id")) is None
    assert seek_keys(Book.objects.order_by("title")) is None
    assert seek_keys(Book.objects.order_by("-title", "-id")) is not None


def test_paginator_rejects_pages_past_exact_end(books):
    """An exact count keeps Django's bounds check."""
    paginator = EstimatedCountPaginator(Book.objects.all(), 10)
    with pytest.raises(EmptyPage):
        paginator.page(4)


def test_book_changelist_never_counts_whole_table(admin_client, cluster):
    """Over 10,000 books the unfiltered list shows "about N" and runs no
    COUNT(*) of catalog_book on any alias; the list is read on the replica,
    the estimate on the primary (whose statistics it reads)."""
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
    assert (list_aliases, estimate_aliases) == ({"replica"}, {"default"})


def test_book_changelist_search_says_more_than_limit(admin_client, cluster):
    """A search matching over 10,000 books says "more than 10,000"."""
    call_command("populate", authors=20, books=12_000, notes=0, verbosity=0)
    cluster.wait_for_replay()
    response = admin_client.get(reverse("admin:catalog_book_changelist"), {"q": "e"})
    assert "more than 10,000 books" in " ".join(response.content.decode().split())


def test_page_links_separate_thousands():
    """Page 20,101, not 20101; the current page unlinked, the gap as is."""
    from types import SimpleNamespace

    from console.bigtables.templatetags import page_link

    cl = SimpleNamespace(
        paginator=SimpleNamespace(ELLIPSIS="…", num_pages=20101),
        page_num=1500,
        get_query_string=lambda params: f"?p={params['p']}",
    )
    assert ">20,101</a>" in page_link(cl, 20101) and 'class="end"' in page_link(
        cl, 20101
    )
    assert page_link(cl, 1500).endswith(">1,500</span>")
    assert page_link(cl, "…") == "…"


def test_changelist_last_page_link_shows_rows(admin_client, cluster):
    """On an estimated 12,000 books the last page link leads to books."""
    call_command("populate", authors=20, books=12_000, notes=0, verbosity=0)
    cluster.wait_for_replay()
    url = reverse("admin:catalog_book_changelist")
    html = admin_client.get(url).content.decode()
    assert 'href="?p=240"' in html
    last = admin_client.get(url, {"p": 240}).content.decode()
    assert last.count('name="_selected_action"') == 50
