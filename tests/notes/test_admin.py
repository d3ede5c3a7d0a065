"""Smoke tests and query budget of the Note admin."""

from __future__ import annotations

from django.urls import reverse

from notes.models import Note
from tests.catalog.queries import all_queries

CHANGELIST_BUDGET = 10


def url(name: str, *args) -> str:
    return reverse(f"admin:notes_note_{name}", args=args)


def test_note_changelist_lists_notes(admin_client, notes):
    """The note list shows every note, with the date hierarchy."""
    response = admin_client.get(url("changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "newer" in html and "older" in html
    assert response.context["cl"].date_hierarchy == "created_at"


def test_note_search_finds_title_substring(admin_client, notes):
    """Searching notes matches a substring of the title, ignoring case."""
    response = admin_client.get(url("changelist"), {"q": "NEW"})
    titles = [note.title for note in response.context["cl"].result_list]
    assert titles == ["newer"]


def test_note_add_creates_note(admin_client, db, cluster):
    """Posting the add form creates the note."""
    response = admin_client.post(url("add"), {"title": "added", "content": ""})
    assert response.status_code == 302
    cluster.wait_for_replay()
    assert Note.objects.filter(title="added").exists()


def test_note_change_updates_note(admin_client, notes, cluster):
    """Posting the change form saves the new values."""
    note = notes[0]
    response = admin_client.post(
        url("change", note.pk), {"title": "renamed", "content": "new text"}
    )
    assert response.status_code == 302
    cluster.wait_for_replay()
    note.refresh_from_db()
    assert (note.title, note.content) == ("renamed", "new text")


def test_note_delete_removes_note(admin_client, notes, cluster):
    """A note is deleted after confirmation."""
    delete = url("delete", notes[0].pk)
    assert admin_client.get(delete).status_code == 200
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    cluster.wait_for_replay()
    assert not Note.objects.filter(pk=notes[0].pk).exists()


def test_note_changelist_queries_do_not_grow_with_rows(admin_client, db, cluster):
    """2 notes or 30 notes: the same queries, within budget."""
    Note.objects.bulk_create(Note(title=f"note {n}") for n in range(2))
    cluster.wait_for_replay()
    with all_queries() as few:
        admin_client.get(url("changelist"))
    Note.objects.bulk_create(Note(title=f"more {n}") for n in range(28))
    cluster.wait_for_replay()
    with all_queries() as many:
        admin_client.get(url("changelist"))
    assert len(many) == len(few) <= CHANGELIST_BUDGET
