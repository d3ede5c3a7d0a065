"""CSV import through the admin and the service: correct under replica lag,
all or nothing, with problems named by line and column, and cheap."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

from catalog.models import Author, Book
from console.bulk.pipeline import Problem
from tests.imports import import_csv

AUTHORS_URL = "/admin/catalog/author/"
BOOKS_URL = "/admin/catalog/book/"


def csv_bytes(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def authors_csv(count: int) -> bytes:
    return csv_bytes("name,bio,country", [f"Author {n},,Norway" for n in range(count)])


def books_csv(count: int, authors: int, prefix: str = "Book") -> bytes:
    rows = [
        f"{prefix} {n},Author {n % authors},2001-02-{n % 28 + 1:02d},978{n:07d}"
        for n in range(count)
    ]
    return csv_bytes("title,author,published,isbn", rows)


def preview(client, url: str, content: bytes, name: str = "data.csv"):
    upload = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(f"{url}import/", {"import_file": upload, "format": "0"})


def confirm(client, url: str, previewed):
    assert previewed.status_code == 200
    form = previewed.context.get("confirm_form")
    problems = previewed.context.get("problems")
    assert form is not None, f"no confirm form; problems: {problems}"
    return client.post(f"{url}process_import/", form.initial)


def stored_uploads() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM console_cache")
        return cursor.fetchone()[0]


def admin_import(client, url: str, content: bytes):
    response = confirm(client, url, preview(client, url, content))
    assert response.status_code == 302, response.content[:2000]
    return response


@pytest.fixture
def staff(admin_client, cluster):
    """A logged-in superuser whose session the replica already has."""
    cluster.wait_for_replay()
    cache.clear()
    yield admin_client
    cache.clear()


@pytest.fixture
def authors(db, cluster) -> list[Author]:
    made = Author.objects.bulk_create(Author(name=f"Author {n}") for n in range(10))
    cluster.wait_for_replay()
    return made


# --- Replica lag -------------------------------------------------------------


def test_admin_import_under_paused_replay_lands_every_row_once(staff, cluster):
    """Authors imported a moment ago are found for the books (on the primary),
    and a second import of the same rows with ids updates them."""
    cluster.pause_replay()
    try:
        admin_import(staff, AUTHORS_URL, authors_csv(200))
        admin_import(staff, BOOKS_URL, books_csv(2000, 200))

        primary = Book.objects.using("default")
        assert Author.objects.using("default").count() == 200
        assert primary.count() == 2000
        assert primary.values("title").distinct().count() == 2000

        rows = primary.order_by("id").values_list("id", "title", "author__name")
        renamed = [f"{pk},{title} (2nd ed.),{author}" for pk, title, author in rows]
        admin_import(staff, BOOKS_URL, csv_bytes("id,title,author", renamed))

        assert primary.count() == 2000
        assert primary.filter(title__endswith="(2nd ed.)").count() == 2000
        assert primary.filter(published__isnull=True).count() == 0  # column absent
    finally:
        cluster.resume_replay()


def test_service_import_under_paused_replay_reads_only_the_primary(db, cluster):
    """Outside a request nothing forces the primary; the import does, so the
    replica (which has not seen the authors) serves none of its reads."""
    cluster.pause_replay()
    try:
        assert import_csv(model=Author, file=authors_csv(200), dry_run=False).ok
        assert not Author.objects.filter(name="Author 1").exists(), "replica lags"

        with CaptureQueriesContext(connections["replica"]) as replica_queries:
            preview_outcome = import_csv(
                model=Book, file=books_csv(2000, 200), dry_run=True
            )
            outcome = import_csv(model=Book, file=books_csv(2000, 200), dry_run=False)

        assert preview_outcome.ok and preview_outcome.new == 2000
        assert outcome.ok and outcome.new == 2000
        assert len(replica_queries) == 0
        assert Book.objects.using("default").count() == 2000
    finally:
        cluster.resume_replay()


def test_import_command_under_paused_replay(db, cluster, tmp_path, capsys):
    """django-import-export's own `import` command works with the resources,
    on the primary, and reports problems by line."""
    authors_file = tmp_path / "authors.csv"
    authors_file.write_bytes(authors_csv(20))
    books_file = tmp_path / "books.csv"
    books_file.write_bytes(books_csv(100, 20))
    cluster.pause_replay()
    try:
        for resource, path in [("Author", authors_file), ("Book", books_file)]:
            call_command(
                "import", f"catalog.resources.{resource}Resource", str(path),
                "--noinput",
            )  # fmt: skip
        assert Book.objects.using("default").count() == 100

        bad = tmp_path / "bad.csv"
        bad.write_bytes(csv_bytes("title,author", ["Fine,Author 1", "Lost,Nobody"]))
        with pytest.raises(SystemExit):
            call_command(
                "import", "catalog.resources.BookResource", str(bad), "--noinput"
            )
        assert "line 3, author: no author named 'Nobody'" in (capsys.readouterr().err)
        assert Book.objects.using("default").count() == 100
    finally:
        cluster.resume_replay()


# --- All or nothing, with the line and the reason ----------------------------


def test_unknown_author_writes_nothing_and_names_line_and_reason(staff, authors):
    rows = [f"Title {n},Author {n % 10}" for n in range(100)]
    rows[41] = "Title 41,Nobody Atall"
    response = preview(staff, BOOKS_URL, csv_bytes("title,author", rows))

    assert response.context["problems"] == [
        Problem(43, "author", "no author named 'Nobody Atall'; import the author first")
    ]
    assert "confirm_form" not in response.context
    assert b"Nobody Atall" in response.content
    assert Book.objects.using("default").count() == 0


@pytest.mark.parametrize(
    ("header", "good", "bad", "expected"),
    [
        (
            "title,author,published",
            "Fine,Author 2,2001-01-01",
            "Late,Author 1,31/12/2020",
            Problem(3, "published", "'31/12/2020' is not a date in YYYY-MM-DD form"),
        ),
        (
            "title,author",
            "Fine,Author 2",
            f"{'x' * 301},Author 1",
            Problem(
                3, "title", "Ensure this value has at most 300 characters (it has 301)."
            ),
        ),
        (
            "title,author",
            "Fine,Author 2",
            ",Author 1",
            Problem(3, "title", "This field cannot be blank."),
        ),
        (
            "id,title,author",
            ",Fine,Author 2",
            "999999,Ghost,Author 1",
            Problem(
                3,
                "id",
                "there is no book with id 999999; leave id empty to add a new one",
            ),
        ),
        (
            "title,author",
            "Fine,Author 2",
            "Extra,Author 1,surplus",
            Problem(3, "", "3 values, but the header has 2 columns"),
        ),
    ],
)
def test_bad_row_writes_nothing(staff, authors, header, good, bad, expected):
    response = preview(staff, BOOKS_URL, csv_bytes(header, [good, bad]))

    assert response.context["problems"] == [expected]
    assert "confirm_form" not in response.context
    assert Book.objects.using("default").count() == 0


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("title,published", "Wrong header on line 1: missing column 'author'."),
        ("titel,author", "Wrong header on line 1: unknown column 'titel'; missing"),
    ],
)
def test_wrong_header_writes_nothing(staff, authors, header, reason):
    response = preview(staff, BOOKS_URL, csv_bytes(header, ["A,Author 1"]))

    [problem] = response.context["problems"]
    assert problem.line is None and problem.reason.startswith(reason)
    assert "The columns are id,title,author,published,isbn" in problem.reason
    assert Book.objects.using("default").count() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "title,author\nCaf\xe9,Author 1\n".encode("latin-1"),
            "not UTF-8 text: line 2",
        ),
        (b"", "The submitted file is empty."),
        (b"PK\x03\x04\x14\x00\x00\x00binary", "This is a binary file"),
        (b"title,author\n", "No valid data to import"),
    ],
)
def test_unreadable_file_gets_a_clear_message(staff, authors, content, message):
    response = preview(staff, BOOKS_URL, content)

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["import_file"])
    assert Book.objects.using("default").count() == 0
    assert stored_uploads() == 0


def test_utf8_with_bom_imports(staff, authors):
    content = "\ufeff".encode() + csv_bytes("title,author", ["Él,Author 1"])
    admin_import(staff, BOOKS_URL, content)

    assert Book.objects.using("default").get().title == "Él"


def test_file_over_the_upload_limit_is_refused(staff, authors, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    response = preview(staff, BOOKS_URL, books_csv(100, 10))

    [error] = response.context["form"].errors["import_file"]
    assert error.startswith("The file is ") and "the limit is 1000" in error
    assert Book.objects.using("default").count() == 0


def test_rows_changed_after_the_preview_fail_the_confirm_and_write_nothing(
    staff, authors
):
    content = csv_bytes("title,author", ["One,Author 1", "Two,Author 2"])
    previewed = preview(staff, BOOKS_URL, content)
    Author.objects.filter(name="Author 2").delete()

    response = confirm(staff, BOOKS_URL, previewed)

    assert response.status_code == 200
    assert response.context["problems"] == [
        Problem(3, "author", "no author named 'Author 2'; import the author first")
    ]
    assert Book.objects.using("default").count() == 0


def test_confirm_runs_once_and_clears_the_upload(staff, authors):
    previewed = preview(staff, BOOKS_URL, csv_bytes("title,author", ["A,Author 1"]))
    first = confirm(staff, BOOKS_URL, previewed)
    second = confirm(staff, BOOKS_URL, previewed)

    assert first.status_code == 302 and second.status_code == 302
    assert second.url.endswith("/import/")
    assert Book.objects.using("default").count() == 1
    assert stored_uploads() == 0


def test_reimport_of_authors_without_ids_is_refused_not_duplicated(staff):
    admin_import(staff, AUTHORS_URL, authors_csv(3))
    response = preview(staff, AUTHORS_URL, authors_csv(3))

    problems = response.context["problems"]
    assert [(p.line, p.column) for p in problems] == [
        (2, "name"),
        (3, "name"),
        (4, "name"),
    ]
    assert "already exists" in problems[0].reason
    assert Author.objects.using("default").count() == 3


def test_author_reimport_with_ids_updates(staff):
    admin_import(staff, AUTHORS_URL, authors_csv(3))
    rows = Author.objects.using("default").order_by("id").values_list("id", "name")
    content = csv_bytes("id,name,country", [f"{pk},{name},Chile" for pk, name in rows])

    admin_import(staff, AUTHORS_URL, content)

    assert (
        list(Author.objects.using("default").values_list("country", flat=True))
        == ["Chile"] * 3
    )


def test_preview_shows_a_bounded_number_of_rows(staff, authors):
    response = preview(staff, BOOKS_URL, books_csv(500, 10))

    assert response.context["total_rows"] == 500
    assert response.context["preview_rows"] == 100
    assert b"The first 100 are shown." in response.content
    assert Book.objects.using("default").count() == 0


# --- Cost ----------------------------------------------------------------------


def _import_queries(rows: int, *, dry_run: bool) -> int:
    with CaptureQueriesContext(connections["default"]) as queries:
        outcome = import_csv(model=Book, file=books_csv(rows, 10), dry_run=dry_run)
    assert outcome.ok and outcome.new == rows
    Book.objects.all().delete()
    return len(queries)


@pytest.mark.parametrize("dry_run", [True, False])
def test_import_query_count_does_not_grow_with_rows(authors, dry_run):
    assert _import_queries(1000, dry_run=dry_run) == _import_queries(
        100, dry_run=dry_run
    )


def test_admin_preview_and_confirm_query_counts_do_not_grow_with_rows(staff, authors):
    def counts(rows: int) -> tuple[int, int]:
        with CaptureQueriesContext(connections["default"]) as previewing:
            previewed = preview(staff, BOOKS_URL, books_csv(rows, 10))
        with CaptureQueriesContext(connections["default"]) as confirming:
            confirm(staff, BOOKS_URL, previewed)
        Book.objects.all().delete()
        return len(previewing), len(confirming)

    counts(10)  # warms the per-process caches (content types for the admin log)
    assert counts(1000) == counts(100)


def test_import_command_reports_progress(db, authors, tmp_path, settings, caplog):
    settings.IMPORT_BATCH_ROWS = 50
    path = tmp_path / "books.csv"
    path.write_bytes(books_csv(100, 10))

    with caplog.at_level("INFO", logger="console.bulk"):
        call_command("import", "catalog.resources.BookResource", str(path), "--noinput")

    assert [r.getMessage() for r in caplog.records][:2] == [
        "books: 50 of 100 rows merged",
        "books: 100 of 100 rows merged",
    ]


EXPIRED = b"already imported, or it expired"


@pytest.mark.parametrize(
    ("forged", "message"),
    [
        ({"import_file_name": "0" * 32}, EXPIRED),  # expired, or never stored
        ({"import_file_name": "../../etc/passwd"}, EXPIRED),
        ({"import_file_name": "a\x00b"}, b"Null characters are not allowed."),
        ({"format": "7"}, EXPIRED),
        ({"format": "csv"}, EXPIRED),
    ],
)
def test_forged_confirm_is_refused_without_error(staff, authors, forged, message):
    previewed = preview(staff, BOOKS_URL, csv_bytes("title,author", ["A,Author 1"]))
    data = {**previewed.context["confirm_form"].initial, **forged}

    response = staff.post(f"{BOOKS_URL}process_import/", data, follow=True)

    assert response.status_code == 200
    assert message in response.content
    assert Book.objects.using("default").count() == 0


def test_nul_byte_past_the_first_kilobytes_is_a_problem_on_its_line(staff, authors):
    """A NUL byte after the first 4 KB (the binary-file sniff) is a problem
    named by its line in the preview, and nothing can be confirmed."""
    rows = [f"Book {n},Author 0,,{n:013d}" for n in range(200)]
    rows[150] = "Bad\x00title,Author 0,,9999999999999"
    content = csv_bytes("title,author,published,isbn", rows)
    assert content.index(b"\x00") > 4096

    previewed = preview(staff, BOOKS_URL, content)
    assert previewed.context.get("confirm_form") is None
    [problem] = previewed.context["problems"]
    assert problem.line == 152
    assert "NUL" in problem.reason
    assert Book.objects.using("default").count() == 0


def test_unterminated_quote_is_refused_with_its_line(staff, authors):
    """An unterminated quote would swallow the rest of the file into one
    title: the preview refuses the file and names the line it opens on."""
    rows = ["One,Author 0,,1", '"Two,Author 0,,2', "Three,Author 0,,3"]
    previewed = preview(
        staff, BOOKS_URL, csv_bytes("title,author,published,isbn", rows)
    )
    assert previewed.context.get("confirm_form") is None
    assert b"Line 3 opens a quoted value that is never closed" in previewed.content
    assert Book.objects.using("default").count() == 0


def test_import_command_without_noinput_asks_only_a_terminal(db, authors, tmp_path):
    """No terminal to confirm on (a script, a pipe, the CSV on stdin): a
    clear error that names --noinput, no traceback, nothing imported."""
    from django.core.management.base import CommandError

    path = tmp_path / "books.csv"
    path.write_bytes(books_csv(3, 1))
    with pytest.raises(CommandError, match="--noinput"):
        call_command("import", "catalog.resources.BookResource", str(path))
    assert not Book.objects.using("default").exists()
