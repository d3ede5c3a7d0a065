"""Query budgets: the admin pages cost a fixed number of queries, whatever
the number of rows on the page (counted on every alias)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Author, Book
from tests.catalog.queries import all_queries

CHANGELIST_BUDGET = 8
CHANGE_FORM_BUDGET = 7


@pytest.fixture(autouse=True)
def steady_routing(settings):
    """Pages as production serves them between two replica checks: the
    routing measurement (once a second per process) is not the page's."""
    settings.REPLICA_CHECK_INTERVAL = 60


def queries_for(client, url: str, **params) -> int:
    with all_queries() as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured)


def make_books(count: int) -> None:
    """`count` more books, each by a new author."""
    start = Author.objects.using("default").count()
    authors = Author.objects.bulk_create(
        Author(name=f"Author {start + number}") for number in range(count)
    )
    Book.objects.bulk_create(
        Book(title=f"Book {number}", author=author)
        for number, author in enumerate(authors)
    )


@pytest.mark.parametrize(
    "url_name", ["admin:catalog_book_changelist", "admin:catalog_author_changelist"]
)
def test_changelist_queries_do_not_grow_with_rows(admin_client, cluster, url_name):
    """1 book or 30 books by 30 authors: the same queries, within budget (the
    authors' book counts are an annotation, not a query each)."""
    url = reverse(url_name)
    make_books(1)
    cluster.wait_for_replay()
    one = queries_for(admin_client, url)
    make_books(29)
    cluster.wait_for_replay()
    thirty = queries_for(admin_client, url)
    assert thirty == one
    assert thirty <= CHANGELIST_BUDGET


def test_book_search_queries_within_budget(admin_client, books):
    """A search costs no more queries than the plain list."""
    url = reverse("admin:catalog_book_changelist")
    assert queries_for(admin_client, url, q="garden") <= CHANGELIST_BUDGET


def test_author_search_queries_within_budget(admin_client, books):
    """An author search costs no more queries than the plain list."""
    url = reverse("admin:catalog_author_changelist")
    assert queries_for(admin_client, url, q="calvino") <= CHANGELIST_BUDGET


def test_book_change_form_queries_within_budget(admin_client, books):
    """The book form reads the book and its one author, never all authors."""
    url = reverse("admin:catalog_book_change", args=[books[0].pk])
    with all_queries() as captured:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert len(captured) <= CHANGE_FORM_BUDGET
    author_reads = captured.matching('from "catalog_author"')
    assert all("IN (" in sql for _, sql in author_reads)


def test_author_change_form_queries_within_budget(admin_client, books):
    """The author form costs a handful of queries."""
    author = books[0].author
    url = reverse("admin:catalog_author_change", args=[author.pk])
    assert queries_for(admin_client, url) <= CHANGE_FORM_BUDGET
