"""`populate`: demo and benchmark data, a million books in seconds.

Authors and books go in with COPY, on the primary, in one transaction; the
ORM would take minutes for a million rows. Author names continue from the
highest author id, so a second run adds new authors instead
of colliding with the unique names (and ON CONFLICT skips any name that
was typed in by hand). ANALYZE afterwards keeps the planner's row estimates,
which the admin's paginator shows, right.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator
from itertools import islice

from django.core.management.base import BaseCommand, CommandParser
from django.db import connections, transaction
from django.utils import timezone

from catalog.data import author_lines, book_lines
from catalog.models import Author, Book
from dbops.routing.aliases import PRIMARY
from notes.models import Note

CHUNK_ROWS = 100_000


def chunks(lines: Iterable[str], size: int) -> Iterator[tuple[io.StringIO, int]]:
    """`lines` in buffers of up to `size` lines (with their number), one at a
    time, so that memory stays flat however many rows are loaded."""
    iterator = iter(lines)
    while batch := list(islice(iterator, size)):
        yield io.StringIO("".join(batch)), len(batch)


class Command(BaseCommand):
    help = "Fill the catalog and notes with generated data (COPY, on the primary)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--authors", type=int, default=200)
        parser.add_argument("--books", type=int, default=2000)
        parser.add_argument("--notes", type=int, default=50)
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if there is any author already (for `make run`).",
        )

    def handle(self, *args, authors: int, books: int, notes: int, **options) -> None:
        started = time.monotonic()
        connection = connections[PRIMARY]
        if options["if_empty"] and Author.objects.using(PRIMARY).exists():
            self.stdout.write("Authors exist already; nothing populated.")
            return
        now = timezone.now().isoformat()
        with transaction.atomic(using=PRIMARY), connection.cursor() as cursor:
            added_authors = self.copy_authors(cursor, authors, now=now)
            added_books = self.copy_books(cursor, books, now=now)
            self.create_notes(notes)
        # The planner's statistics, and so the paginator's estimates, follow.
        with connection.cursor() as cursor:
            cursor.execute(
                f"ANALYZE {Author._meta.db_table}, {Book._meta.db_table}, "
                f"{Note._meta.db_table}"
            )
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Added {added_authors} authors, {added_books} books and {notes} notes "
                f"in {elapsed:.1f}s."
            )
        )

    def copy_authors(self, cursor, count: int, *, now: str) -> int:
        """COPY authors through a staging table; returns how many were added."""
        table = Author._meta.db_table
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
        start = cursor.fetchone()[0]
        cursor.execute(
            "CREATE TEMP TABLE staged_author (name text, bio text, country text, "
            "created_at timestamptz) ON COMMIT DROP"
        )
        for buffer, _ in chunks(author_lines(start, count, now=now), CHUNK_ROWS):
            cursor.copy_expert("COPY staged_author FROM STDIN", buffer)
        cursor.execute(
            f"INSERT INTO {table} (name, bio, country, created_at) "
            "SELECT name, bio, country, created_at FROM staged_author "
            "ON CONFLICT (name) DO NOTHING"
        )
        return cursor.rowcount

    def copy_books(self, cursor, count: int, *, now: str) -> int:
        """COPY books for random existing authors; returns how many were added."""
        if not count:
            return 0
        table = Book._meta.db_table
        author_table = Author._meta.db_table
        cursor.execute(f"SELECT id FROM {author_table} ORDER BY id")
        author_ids = [row[0] for row in cursor.fetchall()]
        if not author_ids:
            self.stderr.write("No authors to write books for; no books added.")
            return 0
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
        # Seeded by the rows already there: a second run adds other books.
        lines = book_lines(cursor.fetchone()[0], count, author_ids, now=now)
        copied = 0
        for buffer, rows in chunks(lines, CHUNK_ROWS):
            cursor.copy_expert(
                f"COPY {table} (title, author_id, published, isbn, created_at) "
                "FROM STDIN",
                buffer,
            )
            copied += rows
            self.stdout.write(f"  books: {copied:,} / {count:,}")
        return copied

    def create_notes(self, count: int) -> None:
        Note.objects.using(PRIMARY).bulk_create(
            Note(title=f"Note {number + 1}", content="Generated by populate.")
            for number in range(count)
        )
