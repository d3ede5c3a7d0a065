"""The `populate` and `ensure_admin` management commands."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from catalog.data import author_name
from catalog.models import Author, Book
from console.bigtables.rows import estimated_rows
from notes.models import Note


def run(command: str, *args, **options) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def counts() -> tuple[int, int, int]:
    return (
        Author.objects.using("default").count(),
        Book.objects.using("default").count(),
        Note.objects.using("default").count(),
    )


def test_populate_twice_adds_up(db):
    """A second run adds as many rows again, with new unique author names."""
    run("populate", authors=5, books=50, notes=3)
    output = run("populate", authors=5, books=50, notes=3)
    assert counts() == (10, 100, 6)
    assert "Added 5 authors, 50 books and 3 notes" in output


def test_populate_reports_progress(db):
    """Book loading prints a progress line per chunk."""
    assert "books: 50 / 50" in run("populate", authors=2, books=50, notes=0)


def test_populate_makes_plausible_books(db):
    """Books spread over 1950-2025, some without an ISBN, over every author."""
    run("populate", authors=4, books=400, notes=0)
    books = Book.objects.using("default")
    years = {date.year for date in books.values_list("published", flat=True)}
    assert min(years) >= 1950 and max(years) <= 2025 and len(years) > 20
    assert 0 < books.filter(isbn__isnull=True).count() < 200
    assert books.values("author").distinct().count() == 4


def test_populate_skips_names_taken_by_hand(db):
    """A generated name that already exists is skipped, not an error."""
    Author.objects.create(name=author_name(1))
    output = run("populate", authors=3, books=0, notes=0)
    assert "Added 2 authors" in output
    assert counts()[0] == 3


def test_populate_if_empty_skips_existing_data(db):
    """--if-empty leaves a database with authors alone."""
    run("populate", authors=1, books=1, notes=1)
    output = run("populate", if_empty=True)
    assert "nothing populated" in output
    assert counts() == (1, 1, 1)


def test_populate_if_empty_fills_empty_database(db):
    """--if-empty on an empty database loads the defaults."""
    run("populate", if_empty=True)
    assert counts() == (200, 2000, 50)


def test_populate_analyzes_tables(db):
    """After loading, the planner's estimate matches the rows loaded."""
    run("populate", authors=10, books=3000, notes=0)
    assert estimated_rows(["catalog_book"]) == {"catalog_book": 3000}


def test_ensure_admin_creates_superuser_with_env_password(db, monkeypatch):
    """A missing admin is created with DJANGO_SUPERUSER_PASSWORD, and printed."""
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "from-the-env-123")
    output = run("ensure_admin")
    assert "username: admin" in output and "password: from-the-env-123" in output
    user = User.objects.using("default").get(username="admin")
    assert user.is_superuser and user.is_staff
    assert user.check_password("from-the-env-123")


def test_ensure_admin_generates_password_when_env_unset(db, monkeypatch):
    """Without the variable a password is generated, printed and usable."""
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    output = run("ensure_admin")
    password = output.split("password: ")[1].strip()
    assert len(password) >= 12
    user = User.objects.using("default").get(username="admin")
    assert user.check_password(password)


def test_ensure_admin_keeps_existing_password(db, monkeypatch):
    """An existing admin keeps its password when no new one is asked for."""
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    User.objects.create_superuser("admin", password="kept-password-1")
    output = run("ensure_admin")
    assert "unchanged" in output and "password:" not in output
    assert User.objects.using("default").get().check_password("kept-password-1")


@pytest.mark.parametrize("env_password", [None, "new-from-env-456"])
def test_ensure_admin_resets_password(db, monkeypatch, env_password):
    """--reset (or a different env password) sets and prints a new password."""
    if env_password:
        monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", env_password)
        options = {}
    else:
        monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
        options = {"reset": True}
    User.objects.create_superuser("admin", password="old-password-1")
    output = run("ensure_admin", **options)
    password = output.split("password: ")[1].strip()
    assert password != "old-password-1"
    assert env_password in (None, password)
    assert User.objects.using("default").get().check_password(password)
