"""Exports from the changelist: its filters, CSV streamed from a replica,
XLSX and JSON in memory up to a limit, formulae escaped, and a round trip."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from catalog.models import Author, Book
from tests.imports import import_csv

BOOKS_URL = "/admin/catalog/book/"
AUTHORS_URL = "/admin/catalog/author/"
HEADER = ["id", "title", "author", "published", "isbn"]
FORMULA = '=HYPERLINK("http://example.com","x")'


@pytest.fixture
def shelf(db, cluster) -> list[Author]:
    """30 books by three authors; some titles look like spreadsheet formulae."""
    authors = Author.objects.bulk_create(
        [
            Author(name="Italo Calvino"),
            Author(name="Olga Tokarczuk"),
            Author(name=FORMULA),
        ]
    )
    titles = ["=1+2", "+SUM(A1)", "-3", "@cmd", "\tTabbed"] + [
        f"Garden of paths {n}" for n in range(25)
    ]
    Book.objects.bulk_create(
        Book(title=title, author=authors[n % 3], isbn=f"978{n:07d}")
        for n, title in enumerate(titles)
    )
    cluster.wait_for_replay()
    return authors


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def changelist_count(client, query: str) -> int:
    response = client.get(BOOKS_URL + query)
    assert response.status_code == 200
    return response.context["cl"].queryset.count()


@pytest.mark.parametrize("query", ["?author__id__exact={pk}", "?q=Garden", ""])
def test_csv_export_row_count_equals_filtered_changelist(admin_client, shelf, query):
    query = query.format(pk=shelf[0].pk)
    expected = changelist_count(admin_client, query)

    rows = read_csv(admin_client.get(f"{BOOKS_URL}export/file/{query}"))

    assert rows[0] == HEADER
    assert len(rows) - 1 == expected
    assert expected in {10, 25, 30}


def test_changelist_links_to_the_streaming_export_with_its_filters(admin_client, shelf):
    query = f"?author__id__exact={shelf[0].pk}"
    response = admin_client.get(BOOKS_URL + query)

    assert b"Export CSV (streaming)" in response.content
    assert f"export/file/{query}".encode() in response.content


def test_csv_export_streams_from_the_replica(admin_client, shelf):
    with (
        CaptureQueriesContext(connections["replica"]) as replica,
        CaptureQueriesContext(connections["default"]) as primary,
    ):
        rows = read_csv(admin_client.get(f"{BOOKS_URL}export/file/"))

    assert len(rows) == 31
    assert any('"catalog_book"' in query["sql"] for query in replica)
    assert not any('"catalog_book"' in query["sql"] for query in primary)


def test_csv_export_escapes_formulae(admin_client, shelf):
    rows = read_csv(admin_client.get(f"{BOOKS_URL}export/file/"))

    titles = {row[1] for row in rows[1:]}
    assert {"'=1+2", "'+SUM(A1)", "'-3", "'@cmd", "'\tTabbed"} <= titles
    assert "'" + FORMULA in {row[2] for row in rows[1:]}


def test_export_form_csv_redirects_to_the_streaming_download(admin_client, shelf):
    query = f"?author__id__exact={shelf[1].pk}"
    response = admin_client.post(
        f"{BOOKS_URL}export/{query}",
        {
            "format": "0",
            "resource": "0",
            "bookresource_id": "on",
            "bookresource_title": "on",
        },
    )

    assert response.status_code == 303
    params = parse_qs(urlsplit(response.url).query)
    assert params["_format"] == ["csv"] and params["_fields"] == ["id", "title"]
    rows = read_csv(admin_client.get(response.url))
    assert rows[0] == ["id", "title"]
    assert len(rows) - 1 == changelist_count(admin_client, query) == 10


def test_xlsx_export_escapes_formulae(admin_client, shelf):
    response = admin_client.get(f"{BOOKS_URL}export/file/?_format=xlsx")

    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert len(rows) == 31
    assert "'=1+2" in {row[1] for row in rows}
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_json_export_follows_the_filters(admin_client, shelf):
    response = admin_client.get(f"{BOOKS_URL}export/file/?_format=json&q=Garden")

    assert response.status_code == 200
    assert len(json.loads(response.content)) == 25


def test_in_memory_export_over_the_limit_is_refused(admin_client, shelf, settings):
    settings.EXPORT_MAX_IN_MEMORY_ROWS = 20
    response = admin_client.get(f"{BOOKS_URL}export/file/?_format=xlsx", follow=True)

    assert b"30 rows are too many for XLSX" in response.content
    assert read_csv(admin_client.get(f"{BOOKS_URL}export/file/?_format=csv"))[30]


def test_author_export_stays_in_its_columns(admin_client, shelf):
    rows = read_csv(admin_client.get(f"{AUTHORS_URL}export/file/"))

    assert rows[0] == ["id", "name", "bio", "country"]
    assert len(rows) == 4


def test_export_imports_back_unchanged(admin_client, shelf):
    """Escaped cells are unescaped on import: a round trip changes nothing."""
    before = list(
        Book.objects.order_by("id").values_list("id", "title", "author__name")
    )
    exported = b"".join(admin_client.get(f"{BOOKS_URL}export/file/").streaming_content)

    outcome = import_csv(model=Book, file=exported, dry_run=False)

    assert outcome.ok and (outcome.new, outcome.updated, outcome.unchanged) == (
        0,
        0,
        30,
    )
    after = Book.objects.using("default").order_by("id")
    assert list(after.values_list("id", "title", "author__name")) == before


def test_export_form_offers_the_three_formats_and_the_columns(admin_client, shelf):
    response = admin_client.get(f"{BOOKS_URL}export/?q=Garden")

    assert response.status_code == 200
    form = response.context["form"]
    assert [label for _, label in form.fields["format"].choices][1:] == [
        "csv",
        "xlsx",
        "json",
    ]
    assert "bookresource_author" in form.fields
    # The columns as the admin names them: the model's verbose names.
    labels = [form.fields[f"bookresource_{name}"].label for name in ("id", "isbn")]
    assert labels == ["ID", "ISBN"]


@pytest.mark.parametrize("path", ["export/file/", "export/"])
def test_export_with_filters_it_cannot_apply_goes_back_to_the_list(
    admin_client, shelf, path
):
    response = admin_client.get(f"{BOOKS_URL}{path}?published__gte=not-a-date&nope=1")

    assert response.status_code == 302
    assert response.url.endswith("/admin/catalog/book/?e=1")


def test_json_export_carries_values_unescaped(admin_client, shelf):
    """Formula escaping is for spreadsheets: JSON has the values as stored."""
    response = admin_client.get(f"{BOOKS_URL}export/file/?_format=json")

    titles = {row["title"] for row in json.loads(response.content)}
    assert {"=1+2", "+SUM(A1)", "-3", "@cmd", "\tTabbed"} <= titles
    assert FORMULA in {row["author"] for row in json.loads(response.content)}


def test_csv_export_whose_replica_dies_mid_file_continues_on_the_primary(
    admin_client, db, cluster
):
    """Replica backends killed after the first chunk: the file goes on from
    the primary after the last row sent, every row exactly once."""
    author = Author.objects.create(name="Ursula K. Le Guin")
    Book.objects.bulk_create(
        Book(title=f"Book {n}", author=author, isbn=f"{n:013d}") for n in range(5000)
    )
    cluster.wait_for_replay()
    response = admin_client.get(f"{BOOKS_URL}export/file/")
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    text = next(chunks) + next(chunks)  # the header, then the first page
    cluster.execute(
        "replica",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'console'",
    )
    text += b"".join(chunks)

    rows = list(csv.reader(io.StringIO(text.decode())))
    ids = [int(row[0]) for row in rows[1:]]
    assert len(ids) == 5000
    assert ids == sorted(set(ids))
