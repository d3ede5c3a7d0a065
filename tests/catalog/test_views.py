"""The read-only JSON views: /catalog/authors/ and /catalog/books/<id>/."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from catalog.models import Author, Book
from catalog.views import PAGE_SIZE


@pytest.fixture
def sixty_authors(db, cluster) -> list[Author]:
    authors = Author.objects.bulk_create(
        Author(name=f"Author {number:02d}", country="Chile") for number in range(60)
    )
    cluster.wait_for_replay()
    return authors


def test_authors_first_page_links_to_next(admin_client, sixty_authors):
    """Page 1 holds PAGE_SIZE authors by name, has_next and a next link."""
    response = admin_client.get(reverse("catalog:authors"))
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == PAGE_SIZE
    assert body["results"][0] == {
        "id": sixty_authors[0].pk,
        "name": "Author 00",
        "country": "Chile",
        "books": reverse("catalog:books", args=[sixty_authors[0].pk]),
    }
    assert (body["page"], body["has_next"], body["previous"]) == (1, True, None)
    assert body["next"] == "http://testserver/catalog/authors/?page=2"


def test_authors_last_page_has_no_next(admin_client, sixty_authors):
    """The last page holds the rest and no next link."""
    body = admin_client.get(reverse("catalog:authors"), {"page": 2}).json()
    assert [row["name"] for row in body["results"]][0] == f"Author {PAGE_SIZE}"
    assert len(body["results"]) == 60 - PAGE_SIZE
    assert (body["has_next"], body["next"]) == (False, None)
    assert body["previous"] == "http://testserver/catalog/authors/?page=1"


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", "100001"])
def test_authors_bad_page_is_400(admin_client, page):
    """A page that is not a sensible positive integer is a 400 JSON error."""
    response = admin_client.get(reverse("catalog:authors"), {"page": page})
    assert response.status_code == 400
    assert "page" in response.json()["error"]


def test_authors_page_past_end_is_404(admin_client, sixty_authors):
    """A page after the last one is a 404 JSON error."""
    response = admin_client.get(reverse("catalog:authors"), {"page": 3})
    assert response.status_code == 404
    assert response.json() == {"error": "page out of range"}


def test_authors_empty_first_page_is_ok(admin_client):
    """With no authors, page 1 is an empty list, not an error."""
    body = admin_client.get(reverse("catalog:authors")).json()
    assert (body["results"], body["has_next"]) == ([], False)


def test_books_of_author_in_id_order(admin_client, books):
    """An author's books come in id order, with the author alongside."""
    author = books[0].author
    body = admin_client.get(reverse("catalog:books", args=[author.pk])).json()
    assert body["author"] == {"id": author.pk, "name": author.name}
    expected = [book.pk for book in books if book.author_id == author.pk]
    assert [row["id"] for row in body["results"]] == expected
    assert set(body["results"][0]) == {"id", "title", "published", "isbn"}


def test_books_paginate_past_page_size(admin_client, books, cluster):
    """More books than a page: page 2 has the rest."""
    author = books[0].author
    Book.objects.bulk_create(
        Book(title=f"More {number}", author=author) for number in range(PAGE_SIZE)
    )
    cluster.wait_for_replay()
    url = reverse("catalog:books", args=[author.pk])
    first = admin_client.get(url).json()
    second = admin_client.get(url, {"page": 2}).json()
    assert (len(first["results"]), first["has_next"]) == (PAGE_SIZE, True)
    assert (len(second["results"]), second["has_next"]) == (10, False)


def test_books_unknown_author_is_404(admin_client, db):
    """An author id that does not exist is a 404 JSON error."""
    response = admin_client.get(reverse("catalog:books", args=[999_999]))
    assert response.status_code == 404
    assert "999999" in response.json()["error"]


@pytest.mark.parametrize("name, args", [("authors", []), ("books", [1])])
def test_json_views_refuse_anonymous_with_401(client, db, name, args):
    """Without a login the answer is a 401 JSON error, not a login page."""
    response = client.get(reverse(f"catalog:{name}", args=args))
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required"}


@pytest.mark.parametrize("name, args", [("authors", []), ("books", [1])])
def test_json_views_refuse_non_staff_with_403(client, cluster, db, name, args):
    """A logged-in user who is not staff gets a 403 JSON error."""
    client.force_login(User.objects.create_user("reader", password="x"))
    cluster.wait_for_replay()
    response = client.get(reverse(f"catalog:{name}", args=args))
    assert response.status_code == 403
    assert response.json() == {"error": "staff only"}


def test_json_views_refuse_post(admin_client, db):
    """The views are read-only: POST is 405."""
    assert admin_client.post(reverse("catalog:authors")).status_code == 405


@pytest.mark.parametrize(
    "name, args, permissions",
    [
        ("authors", [], []),
        ("books", [1], ["view_author"]),
        ("books", [1], ["view_book"]),
    ],
)
def test_json_views_refuse_staff_without_the_view_permission(
    cluster, db, name, args, permissions
):
    """Staff status alone shows no data: the models' view permissions, as
    on every other page (the views checked is_staff only)."""
    from tests.clients import logged_in_client

    client = logged_in_client(cluster, "staff-only", *permissions)
    response = client.get(reverse(f"catalog:{name}", args=args))
    assert response.status_code == 403
    assert "needs catalog.view_" in response.json()["error"]


def test_json_views_serve_staff_with_the_view_permissions(cluster, books):
    from tests.clients import logged_in_client

    client = logged_in_client(cluster, "viewer", "view_author", "view_book")
    author = books[0].author_id
    assert client.get(reverse("catalog:authors")).status_code == 200
    assert client.get(reverse("catalog:books", args=[author])).status_code == 200
