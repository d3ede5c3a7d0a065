"""A million books in the bench database, loaded once and timed.

The load is `manage.py populate` (COPY on the primary); its time and the
time the replica took to replay it are kept next to the bench cluster's
data, so that later runs, which find the rows already there, can still
report them.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from django.core.management import call_command

from bench.environment import CLUSTER_ROOT
from catalog.models import Author, Book
from dbops.cluster import Cluster
from dbops.routing.aliases import PRIMARY

RECORD = CLUSTER_ROOT / "populate.json"


@dataclass(frozen=True)
class Population:
    books: int
    authors: int
    populate_seconds: float | None  # None: loaded some other way
    replay_seconds: float | None
    measured_at: str  # when the populate ran (ISO date)
    loaded_now: bool = False


def _load_record(books: int, authors: int) -> Population:
    if RECORD.exists():
        saved = json.loads(RECORD.read_text())
        saved.update(books=books, authors=authors, loaded_now=False)
        return Population(**saved)
    return Population(books, authors, None, None, "")


def ensure(cluster: Cluster, *, books: int, authors: int) -> Population:
    """At least `books` books and `authors` authors, populating what is
    missing; the replica has replayed them all when this returns."""
    have_books = Book.objects.using(PRIMARY).count()
    have_authors = Author.objects.using(PRIMARY).count()
    if have_books >= books and have_authors >= authors:
        return _load_record(have_books, have_authors)
    started = time.monotonic()
    call_command(
        "populate",
        books=books - have_books if have_books < books else 0,
        authors=max(authors - have_authors, 0),
        notes=0,
        stdout=sys.stdout,
    )
    populated = time.monotonic()
    # The admin reads from the replica: measuring before it has replayed a
    # million rows would measure replay, not the console.
    cluster.wait_for_replay(timeout=900)
    population = Population(
        books=Book.objects.using(PRIMARY).count(),
        authors=Author.objects.using(PRIMARY).count(),
        populate_seconds=round(populated - started, 1),
        replay_seconds=round(time.monotonic() - populated, 1),
        measured_at=datetime.now(UTC).date().isoformat(),
        loaded_now=True,
    )
    record = asdict(population)
    for transient in ("books", "authors", "loaded_now"):
        record.pop(transient)
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    return population
