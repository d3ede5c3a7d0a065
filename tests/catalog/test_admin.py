"""Smoke tests of every catalog ModelAdmin: list, search, add, change, delete."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from catalog.models import Author, Book


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


# --- Author -----------------------------------------------------------------


def test_author_changelist_shows_book_counts(admin_client, books):
    """The author list shows each author once, with their number of books."""
    response = admin_client.get(url("catalog_author_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Italo Calvino" in html
    calvino = Author.objects.get(name="Italo Calvino")
    assert f'?author__id__exact={calvino.pk}">10</a>' in html


def test_author_search_finds_name_substring(admin_client, books):
    """Searching authors matches a substring of the name, ignoring case."""
    response = admin_client.get(url("catalog_author_changelist"), {"q": "calv"})
    html = response.content.decode()
    assert "Italo Calvino" in html
    assert "Ursula Le Guin" not in html


def test_author_country_filter_keeps_that_country(admin_client, books):
    """The country filter lists only authors from the chosen country."""
    response = admin_client.get(url("catalog_author_changelist"), {"country": "Italy"})
    html = response.content.decode()
    assert "Italo Calvino" in html
    assert "Olga Tokarczuk" not in html


def test_author_add_creates_author(admin_client, cluster):
    """Posting the add form creates the author and redirects to the list."""
    response = admin_client.post(
        url("catalog_author_add"),
        {"name": "Stanisław Lem", "bio": "", "country": "Poland"},
    )
    assert response.status_code == 302
    cluster.wait_for_replay()
    assert Author.objects.filter(name="Stanisław Lem", country="Poland").exists()


def test_author_change_updates_author(admin_client, books, cluster):
    """Posting the change form saves the new values."""
    author = Author.objects.get(name="Olga Tokarczuk")
    response = admin_client.post(
        url("catalog_author_change", author.pk),
        {"name": "Olga Tokarczuk", "bio": "Nobel 2018", "country": "Poland"},
    )
    assert response.status_code == 302
    cluster.wait_for_replay()
    assert Author.objects.get(pk=author.pk).bio == "Nobel 2018"


def test_author_delete_removes_author_without_books(admin_client, cluster):
    """An author without books is deleted after confirmation."""
    author = Author.objects.create(name="Nobody Yet")
    cluster.wait_for_replay()
    delete = url("catalog_author_delete", author.pk)
    assert admin_client.get(delete).status_code == 200
    response = admin_client.post(delete, {"post": "yes"})
    assert response.status_code == 302
    cluster.wait_for_replay()
    assert not Author.objects.filter(pk=author.pk).exists()


def test_author_delete_refused_while_books_exist(admin_client, books, cluster):
    """Books protect their author: the delete page names them, nothing goes."""
    author = Author.objects.get(name="Italo Calvino")
    response = admin_client.post(
        url("catalog_author_delete", author.pk), {"post": "yes"}
    )
    assert response.status_code == 200
    assert "protected" in response.content.decode()
    cluster.wait_for_replay()
    assert Author.objects.filter(pk=author.pk).exists()


# --- Book -------------------------------------------------------------------


def test_book_changelist_lists_books_with_authors(admin_client, books):
    """The book list shows titles and their authors' names."""
    response = admin_client.get(url("catalog_book_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Garden of paths 29" in html
    assert "Ursula Le Guin" in html


def test_book_search_finds_title_substring(admin_client, books):
    """Searching books matches a substring of the title, ignoring case."""
    response = admin_client.get(url("catalog_book_changelist"), {"q": "PATHS 1"})
    html = response.content.decode()
    assert "Garden of paths 12" in html
    assert "Garden of paths 2<" not in html


def test_book_filters_by_author_and_published_range(admin_client, books, cluster):
    """The author and published-range filters narrow the list."""
    Book.objects.filter(pk=books[3].pk).update(published="2001-05-01")
    cluster.wait_for_replay()
    response = admin_client.get(
        url("catalog_book_changelist"),
        {
            "author__id__exact": books[3].author_id,
            "published_from": "2001-01-01",
            "published_to": "2001-12-31",
        },
    )
    html = response.content.decode()
    assert "Garden of paths 3<" in html
    assert "Garden of paths 6<" not in html


def test_book_add_form_does_not_list_every_author(admin_client, books):
    """The author field is an autocomplete: no <option> per author."""
    response = admin_client.get(url("catalog_book_add"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-ajax--url="/admin/autocomplete/"' in html
    assert "Italo Calvino" not in html


def test_book_add_creates_book(admin_client, books, cluster):
    """Posting the add form creates the book; a blank ISBN is stored as NULL."""
    author = books[0].author
    response = admin_client.post(
        url("catalog_book_add"),
        {"title": "Invisible Cities", "author": author.pk, "published": "", "isbn": ""},
    )
    assert response.status_code == 302
    cluster.wait_for_replay()
    book = Book.objects.get(title="Invisible Cities")
    assert book.author == author
    assert book.isbn is None


def test_book_change_updates_book(admin_client, books, cluster):
    """Posting the change form saves the new values."""
    book = books[0]
    response = admin_client.post(
        url("catalog_book_change", book.pk),
        {
            "title": "The Dispossessed",
            "author": book.author_id,
            "published": "1974-05-01",
            "isbn": "9780061054884",
        },
    )
    assert response.status_code == 302
    cluster.wait_for_replay()
    book.refresh_from_db()
    assert (book.title, str(book.published)) == ("The Dispossessed", "1974-05-01")


def test_book_delete_removes_book(admin_client, books, cluster):
    """A book is deleted after confirmation."""
    delete = url("catalog_book_delete", books[0].pk)
    assert admin_client.get(delete).status_code == 200
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    cluster.wait_for_replay()
    assert not Book.objects.filter(pk=books[0].pk).exists()


def test_author_autocomplete_finds_authors(admin_client, books):
    """The autocomplete behind Book.author answers with matching authors."""
    response = admin_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "catalog",
            "model_name": "book",
            "field_name": "author",
            "term": "tokar",
        },
    )
    assert response.status_code == 200
    assert [item["text"] for item in response.json()["results"]] == ["Olga Tokarczuk"]


# --- Users and groups --------------------------------------------------------


@pytest.mark.parametrize("name", ["auth_user", "auth_group"])
def test_auth_changelists_render_with_unfold(admin_client, name):
    """Users and groups are registered with unfold's ModelAdmin."""
    response = admin_client.get(url(f"{name}_changelist"))
    assert response.status_code == 200
    model_admin = response.context["cl"].model_admin
    assert model_admin.__class__.__module__ == "catalog.admin"


def test_user_add_creates_user(admin_client, cluster):
    """unfold's user creation form creates a user."""
    response = admin_client.post(
        url("auth_user_add"),
        {
            "username": "operator",
            "password1": "a-long-enough-password-1",
            "password2": "a-long-enough-password-1",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    cluster.wait_for_replay()
    assert User.objects.filter(username="operator").exists()


def test_group_add_creates_group(admin_client, cluster):
    """The group form creates a group."""
    response = admin_client.post(url("auth_group_add"), {"name": "editors"})
    assert response.status_code == 302
    cluster.wait_for_replay()
    assert Group.objects.filter(name="editors").exists()


def test_book_search_takes_a_bounded_number_of_words(admin_client, books):
    """A search of 1,300 words (2.6 KB of URL) ran one ILIKE per word, 25 s
    on 100,000 books: the first ten are searched, and the page says so."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    words = " ".join(f"w{n}" for n in range(1300))
    with CaptureQueriesContext(connections["replica"]) as replica:
        response = admin_client.get(url("catalog_book_changelist"), {"q": words})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Search takes at most 10 words" in page
    searches = [q["sql"] for q in replica if "catalog_book" in q["sql"]]
    assert searches and max(sql.count("LIKE") for sql in searches) <= 10
