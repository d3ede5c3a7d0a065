"""Notes import and export as `id,title,content`, all or nothing."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from notes.models import Note

NOTES_URL = "/admin/notes/note/"


@pytest.fixture
def staff(admin_client, cluster):
    cluster.wait_for_replay()
    cache.clear()
    return admin_client


def admin_import(client, content: bytes):
    upload = SimpleUploadedFile("notes.csv", content, content_type="text/csv")
    previewed = client.post(
        f"{NOTES_URL}import/", {"import_file": upload, "format": "0"}
    )
    return previewed, previewed.context.get("confirm_form")


def test_notes_import_then_update_by_id(staff):
    content = b'title,content\nShopping,"milk\neggs"\nIdeas,\n'
    previewed, form = admin_import(staff, content)
    assert staff.post(f"{NOTES_URL}process_import/", form.initial).status_code == 302

    notes = Note.objects.using("default").order_by("title")
    assert [(n.title, n.content) for n in notes] == [
        ("Ideas", ""),
        ("Shopping", "milk\neggs"),
    ]
    ideas = notes.get(title="Ideas")
    content = f"id,title,content\n{ideas.pk},Ideas,More\n".encode()
    previewed, form = admin_import(staff, content)
    assert staff.post(f"{NOTES_URL}process_import/", form.initial).status_code == 302
    assert notes.get(pk=ideas.pk).content == "More"
    assert notes.count() == 2


def test_notes_line_numbers_count_lines_inside_quotes(staff):
    """A quoted value with line breaks spans several lines of the file; the
    problem is reported at the line where its record starts."""
    content = b'title,content\nOne,"a\nb\nc"\n,no title\n'
    previewed, form = admin_import(staff, content)

    assert form is None
    [problem] = previewed.context["problems"]
    assert (problem.line, problem.column) == (5, "title")
    assert Note.objects.using("default").count() == 0


def test_notes_export_streams_every_note(staff, cluster):
    Note.objects.bulk_create(Note(title=f"Note {n}", content="=cmd") for n in range(5))
    cluster.wait_for_replay()

    response = staff.get(f"{NOTES_URL}export/file/")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert rows[0] == ["id", "title", "content"]
    assert len(rows) == 6
    assert {row[2] for row in rows[1:]} == {"'=cmd"}


def test_notes_import_takes_a_one_megabyte_content(db):
    """Note.content is unbounded: a 1 MB value is imported, not refused by
    the csv module's field size limit."""
    from tests.imports import import_csv

    body = "x" * 1_000_000
    outcome = import_csv(
        model=Note,
        file=f'title,content\nBig,"{body}"\n'.encode(),
        dry_run=False,
    )
    assert outcome.ok, outcome.problems
    assert len(Note.objects.using("default").get(title="Big").content) == 1_000_000
