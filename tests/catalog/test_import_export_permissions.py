"""Import and export need the model's permissions on every URL of the flow
(staff status alone is not enough): import needs add and change, export
needs view, the streaming download included; the notes pages need the Note
permissions."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Author, Book
from notes.models import Note
from tests.clients import logged_in_client

MODELS = ["catalog/author", "catalog/book", "notes/note"]


def _import_urls(model: str) -> list[tuple[str, str, dict]]:
    base = f"/admin/{model}"
    upload = SimpleUploadedFile("rows.csv", b"id,name\n", content_type="text/csv")
    return [
        ("get", f"{base}/import/", {}),
        ("post", f"{base}/import/", {"format": "0", "import_file": upload}),
        ("post", f"{base}/process_import/", {"import_file_name": "0" * 32}),
    ]


def _export_urls(model: str) -> list[tuple[str, str, dict]]:
    base = f"/admin/{model}"
    return [
        ("get", f"{base}/export/", {}),
        ("post", f"{base}/export/", {"format": "0"}),
        ("get", f"{base}/export/file/?_format=csv", {}),
        ("get", f"{base}/export/file/?_format=json", {}),
    ]


@pytest.fixture
def rows(db):
    author = Author.objects.create(name="Octavia Butler")
    Book.objects.create(title="Kindred", author=author)
    Note.objects.create(title="a note", content="")


@pytest.mark.parametrize("model", MODELS)
def test_staff_without_permissions_can_neither_import_nor_export(rows, cluster, model):
    """A staff user with no permissions gets 403 on every URL of both flows."""
    client = logged_in_client(cluster, "nobody")
    for method, url, data in _import_urls(model) + _export_urls(model):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, (method, url, response.status_code)


@pytest.mark.parametrize("model", MODELS)
def test_view_permission_exports_but_does_not_import(rows, cluster, model):
    """View permission opens the export (the download too), not the import."""
    name = model.split("/")[1]
    client = logged_in_client(cluster, "viewer", f"view_{name}")
    for method, url, data in _import_urls(model):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, (method, url)
    download = client.get(f"/admin/{model}/export/file/?_format=csv")
    assert download.status_code == 200
    assert b"".join(download.streaming_content).count(b"\n") == 2  # header, row


@pytest.mark.parametrize("model", MODELS)
def test_import_needs_add_and_change(rows, cluster, model):
    """Add alone or change alone is not enough to import; both are."""
    name = model.split("/")[1]
    for codenames in ([f"add_{name}"], [f"change_{name}"]):
        client = logged_in_client(cluster, "half-" + codenames[0], *codenames)
        assert client.get(f"/admin/{model}/import/").status_code == 403
    client = logged_in_client(cluster, "importer", f"add_{name}", f"change_{name}")
    assert client.get(f"/admin/{model}/import/").status_code == 200


def test_notes_pages_need_the_note_permissions(rows, cluster):
    """The notes list needs view, the form add, the delete delete."""
    note = Note.objects.get()
    nobody = logged_in_client(cluster, "nobody")
    assert nobody.get("/notes/").status_code == 403
    assert nobody.get("/notes/create/").status_code == 403
    assert nobody.post("/notes/create/", {"title": "x"}).status_code == 403
    assert nobody.post(f"/notes/{note.pk}/delete/").status_code == 403
    assert Note.objects.filter(title="x").count() == 0

    viewer = logged_in_client(cluster, "viewer", "view_note")
    assert viewer.get("/notes/").status_code == 200
    assert viewer.post(f"/notes/{note.pk}/delete/").status_code == 403
    writer = logged_in_client(cluster, "writer", "view_note", "add_note")
    assert writer.post("/notes/create/", {"title": "x"}).status_code == 302
    deleter = logged_in_client(cluster, "deleter", "view_note", "delete_note")
    assert deleter.post(f"/notes/{note.pk}/delete/").status_code == 302
    assert not Note.objects.filter(pk=note.pk).exists()
