"""The small notes pages: /notes/, /notes/create/, /notes/<id>/delete/."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from notes.models import Note

LIST = reverse("notes:list")
CREATE = reverse("notes:create")


def delete_url(note_id: int) -> str:
    return reverse("notes:delete", args=[note_id])


def text(response) -> str:
    return " ".join(response.content.decode().split())


def test_list_shows_newest_first(admin_client, notes):
    """Notes are listed newest first, each title shown."""
    response = admin_client.get(LIST)
    assert [note.title for note in response.context["object_list"]] == [
        "newer",
        "older",
    ]
    assert "first written" in text(response)


def test_list_renders_inside_console(admin_client, notes):
    """The page has the admin's frame: the sidebar and a link to add a note."""
    response = admin_client.get(LIST)
    html = response.content.decode()
    assert response.status_code == 200
    assert reverse("admin:catalog_book_changelist") in html
    assert f'href="{CREATE}"' in html


def test_list_paginates_25_per_page(admin_client, db, cluster):
    """30 notes make a full first page and a second page of 5."""
    Note.objects.bulk_create(Note(title=f"note {n:02d}") for n in range(30))
    cluster.wait_for_replay()
    first = admin_client.get(LIST)
    second = admin_client.get(LIST, {"page": 2})
    assert len(first.context["object_list"]) == 25
    assert len(second.context["object_list"]) == 5
    assert "?page=2" in first.content.decode()
    assert admin_client.get(LIST, {"page": 3}).status_code == 404


def test_create_form_renders_with_csrf(admin_client, db):
    """The create page is a form with a CSRF token."""
    response = admin_client.get(CREATE)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in html and 'name="title"' in html


def test_create_saves_note_and_redirects_with_message(admin_client, db, cluster):
    """A valid POST saves the note and redirects to the list, which says so."""
    response = admin_client.post(CREATE, {"title": "Call the DBA", "content": "x"})
    assert response.status_code == 302 and response.url == LIST
    cluster.wait_for_replay()
    html = text(admin_client.get(LIST))
    assert "Note “Call the DBA” was created." in html
    assert Note.objects.filter(title="Call the DBA").exists()


def test_create_without_title_shows_error(admin_client, db, cluster):
    """A POST without a title re-renders the form and saves nothing."""
    response = admin_client.post(CREATE, {"title": "", "content": "x"})
    assert response.status_code == 200
    assert response.context["form"].errors["title"]
    cluster.wait_for_replay()
    assert not Note.objects.exists()


def test_create_without_csrf_token_is_refused(admin_user, db, cluster):
    """A POST without the CSRF token is refused with 403."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    cluster.wait_for_replay()
    assert client.post(CREATE, {"title": "forged"}).status_code == 403


def test_delete_post_removes_note_and_redirects(admin_client, notes, cluster):
    """POST deletes the note and redirects to the list with a message."""
    response = admin_client.post(delete_url(notes[0].pk))
    assert response.status_code == 302 and response.url == LIST
    cluster.wait_for_replay()
    assert "Note “older” was deleted." in text(admin_client.get(LIST))
    assert not Note.objects.filter(pk=notes[0].pk).exists()


def test_delete_get_asks_first_and_deletes_nothing(admin_client, notes, cluster):
    """GET (the list's Delete button) shows a confirmation; the note stays."""
    cluster.wait_for_replay()
    page = admin_client.get(delete_url(notes[0].pk))
    assert page.status_code == 200
    assert "Delete note “older”?" in text(page)
    assert f'action="{delete_url(notes[0].pk)}"' in text(page)
    assert Note.objects.filter(pk=notes[0].pk).exists()


def test_the_list_links_to_the_confirmation_and_posts_nothing(
    admin_client, notes, cluster
):
    cluster.wait_for_replay()
    listing = text(admin_client.get(LIST))
    assert f'href="{delete_url(notes[0].pk)}"' in listing
    assert f'action="{delete_url(notes[0].pk)}"' not in listing  # no form deletes


def test_delete_unknown_note_is_404(admin_client, db):
    """Deleting a note that does not exist is 404."""
    assert admin_client.post(delete_url(999_999)).status_code == 404


@pytest.mark.parametrize("method, path", [("get", LIST), ("get", CREATE)])
def test_pages_send_anonymous_to_admin_login(client, db, method, path):
    """Anonymous visitors are redirected to the admin login."""
    response = getattr(client, method)(path)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_delete_refuses_anonymous(client, notes, cluster):
    """An anonymous POST is sent to the login and deletes nothing."""
    response = client.post(delete_url(notes[0].pk))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    cluster.wait_for_replay()
    assert Note.objects.filter(pk=notes[0].pk).exists()


@pytest.mark.parametrize("path", [LIST, CREATE])
def test_pages_send_non_staff_to_admin_login(non_staff_client, path):
    """Logged-in users without staff rights are sent to the admin login."""
    response = non_staff_client.get(path)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_delete_refuses_non_staff(non_staff_client, notes, cluster):
    """A non-staff POST deletes nothing."""
    response = non_staff_client.post(delete_url(notes[0].pk))
    assert response.status_code == 302
    cluster.wait_for_replay()
    assert Note.objects.filter(pk=notes[0].pk).exists()
