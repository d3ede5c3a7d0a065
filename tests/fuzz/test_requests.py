"""Property-based bad input at the request surface: odd paths and parameters
at the JSON views and ops pages, malformed form posts at the admin and the
notes pages. Never a 500, never a partial write, and a refusal that says
what was wrong."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.db import connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import Author, Book
from notes.models import Note

# Each example is a real request against the real pair: keep the count
# modest, and the data from earlier examples is fine to keep around.
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Any text, including NUL, surrogate-free unicode, control characters.
odd_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=400)
odd_param = st.one_of(
    odd_text,
    st.integers().map(str),
    st.sampled_from(["", "0", "-1", "1e9", "NaN", "%00", "../", "' OR 1=1 --"]),
)


def _count(model) -> int:
    return model.objects.using("default").count()


@pytest.fixture
def staff(admin_client, cluster):
    cluster.wait_for_replay()
    return admin_client


@FUZZ
@given(page=odd_param)
def test_fuzz_author_json_page_param(staff, page):
    """Any ?page= on the authors JSON is a 200 or a JSON 400/404 that says
    what was wrong."""
    response = staff.get("/catalog/authors/", {"page": page})
    assert response.status_code in {200, 400, 404}
    if response.status_code != 200:
        assert response.json()["error"]


@FUZZ
@given(segment=odd_text, page=odd_param)
def test_fuzz_books_json_path_and_param(staff, segment, page):
    """Odd path segments under /catalog/books/ are 404s or JSON answers."""
    response = staff.get(f"/catalog/books/{quote(segment, safe='')}/", {"page": page})
    assert response.status_code in {200, 400, 404}


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/admin/dbops/replication/",
            "/admin/dbops/queries/",
            "/admin/dbops/migrations/",
        ]
    ),
    params=st.dictionaries(odd_text.filter(bool), odd_param, max_size=3),
)
def test_fuzz_ops_pages_query_params(staff, path, params):
    """Ops pages ignore or refuse odd parameters; they never fail."""
    response = staff.get(path, params)
    assert response.status_code in {200, 400}


@FUZZ
@given(name=odd_text, bio=odd_text, country=odd_text)
def test_fuzz_author_add_form(staff, name, bio, country):
    """A malformed author form is refused with a message and writes nothing;
    a valid one writes exactly one author."""
    before = _count(Author)
    response = staff.post(
        "/admin/catalog/author/add/", {"name": name, "bio": bio, "country": country}
    )
    assert response.status_code in {200, 302}
    if response.status_code == 200:
        assert _count(Author) == before
        assert (
            "errornote" in response.content.decode()
            or "error" in response.content.decode()
        )
    else:
        assert _count(Author) == before + 1


@FUZZ
@given(
    title=odd_text,
    published=odd_param,
    isbn=odd_text,
    author=st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70).map(str), odd_text
    ),
)
def test_fuzz_book_add_form(staff, title, published, isbn, author):
    """Bad dates, unknown or absurd author ids and junk text never crash the
    book form and never write a partial row."""
    Author.objects.get_or_create(name="Fuzz Author")
    before = _count(Book)
    response = staff.post(
        "/admin/catalog/book/add/",
        {"title": title, "published": published, "isbn": isbn, "author": author},
    )
    assert response.status_code in {200, 302}
    assert _count(Book) == before + (1 if response.status_code == 302 else 0)


@FUZZ
@given(title=odd_text, content=odd_text)
def test_fuzz_note_create_page(staff, title, content):
    """The notes create page answers a form error or a redirect, and writes
    one note only on the redirect."""
    before = _count(Note)
    response = staff.post("/notes/create/", {"title": title, "content": content})
    assert response.status_code in {200, 302}
    assert _count(Note) == before + (1 if response.status_code == 302 else 0)


@FUZZ
@given(note_id=odd_text)
def test_fuzz_note_delete_path(staff, note_id):
    """Deleting a note by an odd id is a 404 (or 405, or 400 for a NUL
    byte in the path), never a 500."""
    response = staff.post(f"/notes/{quote(note_id, safe='')}/delete/")
    assert response.status_code in {302, 400, 404, 405}


def test_fuzz_connections_left_usable(staff):
    """After the fuzzing above the connections still work (no broken
    transaction left behind by a refused write)."""
    for alias in connections:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)


@FUZZ
@given(
    path=st.sampled_from(["/admin/catalog/book/", "/admin/catalog/author/"]),
    params=st.fixed_dictionaries(
        {},
        optional={
            "author__id__exact": odd_param,
            "published_from": odd_param,
            "published_to": odd_param,
            "country": odd_param,
            "q": odd_text,
            "o": odd_param,
            "p": odd_param,
            "has_isbn": odd_param,
            "no_such_filter": odd_param,
        },
    ),
)
def test_fuzz_changelist_filters(staff, path, params):
    """Odd filter, search, ordering and page parameters on the changelists
    give a page or Django's "?e=1" redirect, never a 500; a NUL byte, which
    no value can hold, a 400."""
    response = staff.get(path, params)
    nul = any("\x00" in value for value in params.values())
    assert response.status_code in ({400} if nul else {200, 302})


# Parameters that once gave a 500: integer overflow, NUL bytes, dates out of
# range, a regular expression PostgreSQL refuses.
CRAFTED = [
    ("/admin/catalog/book/", {"p": "99999999999999999999"}),
    ("/admin/catalog/book/", {"p": "-1"}),
    ("/admin/catalog/author/", {"country": "\x00"}),
    ("/admin/catalog/author/", {"q": "\x00"}),
    ("/admin/catalog/book/", {"q": "a\x00b"}),
    ("/admin/autocomplete/", {"term": "\x00", "app_label": "catalog",
                              "model_name": "book", "field_name": "author"}),
    ("/admin/catalog/book/", {"created_at__year": "0"}),
    ("/admin/catalog/book/", {"created_at__year": "10000"}),
    ("/admin/notes/note/", {"created_at__year": "9999"}),
    ("/admin/notes/note/", {"created_at__year": "9999", "created_at__month": "12"}),
    ("/admin/notes/note/", {"created_at__year": "2024", "created_at__month": "13"}),
    ("/admin/notes/note/", {"created_at__year": "-5"}),
    ("/admin/catalog/book/", {"title__regex": "("}),
    ("/admin/catalog/book/", {"title__iregex": "[a"}),
    ("/admin/catalog/book/", {"published__gte": "99999-01-01"}),
    ("/admin/catalog/book/", {"id__in": "1,x"}),
    ("/admin/catalog/book/", {"id": "99999999999999999999"}),
    ("/notes/", {"page": "99999999999999999999"}),
    ("/notes/", {"page": "\x00"}),
    ("/catalog/authors/", {"page": "99999999999999999999"}),
]  # fmt: skip


@pytest.mark.parametrize(("path", "params"), CRAFTED)
def test_crafted_parameters_answer_400_or_a_page(staff, path, params):
    """Crafted parameters get a 400 or a normal page, never a 500."""
    response = staff.get(path, params)
    assert response.status_code in {200, 302, 400, 404}, response.status_code
