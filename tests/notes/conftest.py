from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from notes.models import Note


@pytest.fixture
def non_staff_client(client, db, cluster):
    """A logged-in user without staff rights."""
    client.force_login(User.objects.create_user("reader", password="x"))
    cluster.wait_for_replay()
    return client


@pytest.fixture
def notes(db, cluster) -> list[Note]:
    """Two notes, "older" created before "newer"."""
    made = [
        Note.objects.create(title="older", content="first written"),
        Note.objects.create(title="newer", content="second written"),
    ]
    cluster.wait_for_replay()
    return made
