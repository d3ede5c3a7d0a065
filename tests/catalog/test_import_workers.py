"""The import preview served by one server process and its confirm by
another: the upload in between lives in the database, not on one disk."""

from __future__ import annotations

import re

import pytest

from catalog.models import Author, Book
from tests.live import LiveServer, staff_session

HIDDEN = re.compile(
    r'<input type="hidden" name="(import_file_name|original_file_name|format|resource)"'
    r' value="([^"]*)"'
)


@pytest.fixture
def two_servers(db, tmp_path):
    """Two servers with a temporary directory each, as on two machines."""
    servers = []
    for n in (1, 2):
        (tmp_path / f"tmp-{n}").mkdir()
        servers.append(
            LiveServer(
                tmp_path / f"server-{n}.log",
                workers=1,
                TMPDIR=str(tmp_path / f"tmp-{n}"),
            )
        )
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            if server.process is not None:
                server.stop()


def test_preview_on_one_worker_and_confirm_on_another(
    db, cluster, django_user_model, two_servers
):
    django_user_model.objects.create_superuser("importer", "i@example.com", "pw-9x!7q")
    Author.objects.create(name="Italo Calvino")
    cluster.wait_for_replay()
    previewer, confirmer = two_servers
    session = staff_session(previewer.url, "importer", "pw-9x!7q")
    content = (
        b"title,author\nInvisible Cities,Italo Calvino\nMr Palomar,Italo Calvino\n"
    )

    previewed = session.post(
        f"{previewer.url}/admin/catalog/book/import/",
        data={"format": "0", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        files={"import_file": ("books.csv", content, "text/csv")},
        timeout=30,
    )
    fields = dict(HIDDEN.findall(previewed.text))
    assert previewed.status_code == 200 and fields["import_file_name"], previewed.text
    assert Book.objects.using("default").count() == 0

    confirmed = session.post(
        f"{confirmer.url}/admin/catalog/book/process_import/",
        data={**fields, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=30,
    )

    assert confirmed.status_code == 302, confirmed.text[:2000]
    assert confirmed.headers["Location"].endswith("/admin/catalog/book/")
    titles = (
        Book.objects.using("default").order_by("title").values_list("title", flat=True)
    )
    assert list(titles) == ["Invisible Cities", "Mr Palomar"]
