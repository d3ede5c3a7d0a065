"""Property-based bad input at the CSV import: bad quoting, wrong encodings,
huge fields, formula cells, binary junk, mixed line endings. Whatever the
file, the import never raises, never writes part of a file, and a refusal
names a line (or the whole file) and a reason."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from catalog.models import Author, Book
from tests.imports import import_csv

# Huge fields are part of the point: the size health check would fail the
# run now and then (it did, on a fresh clone), not the console.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
AUTHOR = "Known Author"

cell_text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(["=1+1", "+SUM(A1)", "-2", "@cmd", "\t=x", '"quoted"', "a,b"]),
    st.text(alphabet="xyz", min_size=5_000, max_size=20_000),  # huge field
)
book_row = st.fixed_dictionaries(
    {
        "title": cell_text,
        "author": st.sampled_from([AUTHOR, "Nobody At All", ""]),
        "published": st.sampled_from(
            ["", "1999-12-31", "2001-02-30", "31/12/1999", "x"]
        ),
        "isbn": cell_text,
    }
)


def _csv_line(values: list[str]) -> str:
    return ",".join('"' + value.replace('"', '""') + '"' for value in values)


@st.composite
def malformed_csv(draw) -> bytes:
    """A books CSV, then broken in one or more of the ways files break."""
    header = draw(
        st.sampled_from(
            [
                ["title", "author", "published", "isbn"],
                ["id", "title", "author", "published", "isbn"],
                ["title", "published"],  # a required column missing
                ["Title", "Author"],  # wrong case
                ["title", "author", "title"],  # duplicated column
            ]
        )
    )
    rows = draw(st.lists(book_row, max_size=8))
    lines = [_csv_line(header)] + [
        _csv_line([row.get(column, "") for column in header]) for row in rows
    ]
    newline = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    if newline == "mixed":
        text = "".join(
            line + ("\r\n" if n % 2 else "\n") for n, line in enumerate(lines)
        )
    else:
        text = newline.join(lines) + newline
    if draw(st.booleans()):  # bad quoting: a stray quote somewhere
        position = draw(st.integers(0, len(text)))
        text = text[:position] + '"' + text[position:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):  # binary junk spliced in
        junk = draw(st.binary(min_size=1, max_size=64))
        position = draw(st.integers(0, len(data)))
        data = data[:position] + junk + data[position:]
    return data


@pytest.fixture
def known_author(db, cluster):
    Author.objects.get_or_create(name=AUTHOR)
    cluster.wait_for_replay()


@FUZZ
@given(data=st.one_of(malformed_csv(), st.binary(max_size=2_000)))
def test_fuzz_csv_import_all_or_nothing_with_reasons(known_author, data):
    """Any file: no exception; either every row is written, or none is and
    each problem names where (a line, or the file) and why."""
    before = Book.objects.using("default").count()
    outcome = import_csv(model=Book, file=data, dry_run=False)
    after = Book.objects.using("default").count()
    if outcome.ok:
        assert after - before == outcome.new
    else:
        assert after == before
        assert all(problem.reason.strip() for problem in outcome.problems)
        assert all(
            problem.line is None or problem.line >= 1 for problem in outcome.problems
        )


@FUZZ
@given(data=malformed_csv())
def test_fuzz_csv_preview_in_admin_never_fails(admin_client, known_author, data):
    """Uploading any of these files to the admin's import page answers a
    page (problems or a preview), never a 500, and writes nothing."""
    assume(len(data) < 1_000_000)
    before = Book.objects.using("default").count()
    response = admin_client.post(
        "/admin/catalog/book/import/",
        {"format": "0", "import_file": _upload(data)},
    )
    assert response.status_code == 200
    page = response.content.decode()
    form = response.context.get("form")
    # A preview, a list of problems by line, or the form saying what is wrong.
    shown = ("import-summary" in page, "import-problems" in page)
    assert any(shown) or (form is not None and form.errors)
    assert Book.objects.using("default").count() == before


def _upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("books.csv", data, content_type="text/csv")


@st.composite
def long_csv_with_a_flaw(draw) -> tuple[bytes, str]:
    """A valid books CSV of some kilobytes, then one flaw past its start: a
    NUL byte (past the binary sniff too), or a quote that is never closed."""
    count = draw(st.integers(60, 400))
    lines = ["title,author,published,isbn"] + [
        f"Book {n},{AUTHOR},,{n:013d}" for n in range(count)
    ]
    text = "\n".join(lines) + "\n"
    flaw = draw(st.sampled_from(["nul", "open-quote"]))
    line = draw(st.integers(2, count + 1))
    start = sum(len(lines[n]) + 1 for n in range(line - 1))
    if flaw == "nul":
        position = start + draw(st.integers(0, len(lines[line - 1]) - 1))
        text = text[:position] + "\x00" + text[position:]
    else:
        text = text[:start] + '"' + text[start:]
    return text.encode(), flaw


@FUZZ
@given(case=long_csv_with_a_flaw())
def test_fuzz_flaw_anywhere_is_a_problem_and_writes_nothing(known_author, case):
    """A NUL byte or an unclosed quote anywhere in the file is a problem
    that names a line; nothing is written, the preview never passes."""
    data, _ = case
    before = Book.objects.using("default").count()
    preview = import_csv(model=Book, file=data, dry_run=True)
    outcome = import_csv(model=Book, file=data, dry_run=False)
    assert not preview.ok and not outcome.ok
    assert Book.objects.using("default").count() == before
    assert all(problem.reason.strip() for problem in outcome.problems)
