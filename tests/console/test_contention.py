"""An editor's save that meets another writer's row lock is stopped after
WEB_LOCK_TIMEOUT, keeps what the editor typed and names the holder; nothing
is saved over, nothing is lost."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from catalog.models import Author
from console.bulk.models import Import


@pytest.fixture
def held_author(db, cluster, django_user_model):
    """An author whose row another transaction holds (as an import's merge
    does) for the test, or 10 s at most; a running import of authors."""
    author = Author.objects.create(name="Before", bio="old bio")
    owner = django_user_model.objects.create_user("alice")
    job = Import.objects.create(
        model="catalog.author",
        owner=owner,
        file_name="authors.csv",
        state=Import.State.RUNNING,
    )
    holder = psycopg2.connect(cluster.url("primary", cluster.database))
    with holder.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_author SET bio = 'the import' WHERE id = %s", [author.pk]
        )
    timer = threading.Timer(10, holder.rollback)
    timer.start()
    try:
        yield author, job
    finally:
        timer.cancel()
        holder.rollback()
        holder.close()


def test_save_stopped_by_a_row_lock_keeps_the_form_and_names_the_import(
    admin_client, held_author, settings
):
    settings.WEB_LOCK_TIMEOUT = 1
    author, job = held_author
    started = time.monotonic()
    response = admin_client.post(
        f"/admin/catalog/author/{author.pk}/change/",
        {"name": "Typed by the editor", "bio": "my bio", "country": "", "_save": "1"},
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.status_code
    assert elapsed < 3, elapsed
    page = response.content.decode()
    assert f"being changed by import #{job.pk} (authors.csv by alice)" in page
    assert 'value="Typed by the editor"' in page and "my bio" in page
    author.refresh_from_db()
    assert author.name == "Before"  # nothing saved over the holder's change
