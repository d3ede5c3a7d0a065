"""Admin pages through the whole Django stack, each next to its own SQL.

Every page is requested in-process with Django's test client, logged in as
a staff user, with production's settings. Its SQL is captured on every
alias, once per URL, and then run bare (the same statements, with a raw
cursor on the alias that ran them), so that the page's time reads against
the floor the database alone sets: the difference is Python, templates and
the router.
"""

from __future__ import annotations

import random
import re
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial

from django.contrib.auth.models import Permission, User
from django.db import connections
from django.db.models import Max
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.timing import Summary, millis, timed
from catalog.models import Author, Book
from dbops.routing.aliases import PRIMARY
from dbops.routing.statements import first_keyword

STAFF_USERNAME = "bench"
CHANGELIST = "/admin/catalog/book/"
# A COUNT over the book table with neither a filter nor a LIMIT reads every
# row: the query the estimating paginator exists to avoid.
BOOK_COUNT = re.compile(r"COUNT\(.*\bFROM \"catalog_book\"", re.IGNORECASE)


class BenchError(RuntimeError):
    """A page did not answer as a logged-in staff user expects."""


@dataclass(frozen=True)
class Page:
    name: str
    urls: tuple[str, ...]  # rotated through, so that no page is one cached row
    target_ms: float | None = None
    replica_only: bool = False  # every read must be served by the replica


@dataclass(frozen=True)
class Statement:
    alias: str
    sql: str
    millis: float

    @property
    def is_select(self) -> bool:
        return first_keyword(self.sql) == "SELECT"

    @property
    def counts_every_book(self) -> bool:
        return bool(BOOK_COUNT.search(self.sql)) and not re.search(
            r"\b(WHERE|LIMIT)\b", self.sql, re.IGNORECASE
        )


@dataclass
class PageResult:
    page: Page
    timing: Summary
    cpu: Summary  # the process's CPU time per request: Python and templates
    floor: Summary
    statements: list[Statement] = field(default_factory=list)  # of its first URL

    def reads_on(self, alias: str) -> int:
        return sum(1 for s in self.statements if s.alias == alias and s.is_select)

    @property
    def primary_reads(self) -> int:
        return self.reads_on(PRIMARY)

    @property
    def replica_reads(self) -> int:
        return sum(1 for s in self.statements if s.alias != PRIMARY and s.is_select)

    @property
    def counts_every_book(self) -> bool:
        return any(s.counts_every_book for s in self.statements)

    @property
    def slowest(self) -> Statement | None:
        return max(self.statements, key=lambda s: s.millis, default=None)

    @property
    def passed(self) -> bool:
        fast = self.page.target_ms is None or self.timing.p50 < self.page.target_ms
        placed = not self.page.replica_only or self.primary_reads == 0
        return fast and placed and not self.counts_every_book


# --- the staff user and the pages -------------------------------------------


def staff_user() -> User:
    """A staff user (not a superuser) who may do everything to the catalog."""
    users = User.objects.db_manager(PRIMARY)
    user, _ = users.get_or_create(
        username=STAFF_USERNAME, defaults={"is_staff": True, "is_active": True}
    )
    permissions = Permission.objects.using(PRIMARY).filter(
        content_type__app_label="catalog"
    )
    user.user_permissions.add(*permissions)
    return user


def staff_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sample_ids(model, count: int, seed: int) -> list[int]:
    """`count` existing primary keys, the same ones on every run."""
    highest = model.objects.using(PRIMARY).aggregate(top=Max("pk"))["top"] or 0
    rng = random.Random(seed)
    candidates = rng.sample(range(1, highest + 1), min(count * 4, highest))
    existing = set(
        model.objects.using(PRIMARY)
        .filter(pk__in=candidates)
        .values_list("pk", flat=True)
    )
    return [pk for pk in candidates if pk in existing][:count]


def admin_pages() -> list[Page]:
    """The pages a staff user opens on a million books, with their targets."""
    authors = sample_ids(Author, 5, seed=1)
    books = sample_ids(Book, 5, seed=2)
    return [
        Page(
            "Book changelist",
            (CHANGELIST, f"{CHANGELIST}?p=2", f"{CHANGELIST}?p=3"),
            target_ms=100,
            replica_only=True,
        ),
        Page(
            "Filtered by author",
            tuple(f"{CHANGELIST}?author__id__exact={pk}" for pk in authors),
            replica_only=True,
        ),
        Page(
            "Search, a word (~5% of titles)",
            tuple(f"{CHANGELIST}?q={q}" for q in ("lanter", "copper", "orchar")),
            target_ms=150,
            replica_only=True,
        ),
        Page(
            "Search, two words (~0.15%)",
            tuple(
                f"{CHANGELIST}?q={q}" for q in ("silent+riv", "golden+gar", "iron+crow")
            ),
            target_ms=150,
            replica_only=True,
        ),
        Page(
            "Filtered by year published",
            tuple(
                f"{CHANGELIST}?published_from={year}-01-01&published_to={year}-12-31"
                for year in (1962, 1988, 2011)
            ),
            replica_only=True,
        ),
        Page(
            "Filtered: no ISBN (15%)",
            (f"{CHANGELIST}?has_isbn=no",),
            replica_only=True,
        ),
        Page(
            "Book change form",
            tuple(f"{CHANGELIST}{pk}/change/" for pk in books),
        ),
        Page("Author changelist", ("/admin/catalog/author/",), replica_only=True),
    ]


# --- measuring --------------------------------------------------------------


def fetch(client: Client, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise BenchError(f"GET {url} answered {response.status_code}")


def capture(client: Client, url: str) -> list[Statement]:
    """Every statement one request for `url` ran, on each alias."""
    with ExitStack() as stack:
        contexts = {
            alias: stack.enter_context(CaptureQueriesContext(connections[alias]))
            for alias in connections
        }
        fetch(client, url)
    return [
        Statement(alias, query["sql"], float(query["time"]) * 1000)
        for alias, context in contexts.items()
        for query in context.captured_queries
    ]


def run_bare(statements: list[Statement]) -> None:
    """The page's SELECTs again, each on the alias that ran it, through a raw
    psycopg2 cursor: no ORM, no router, no template."""
    for statement in statements:
        if not statement.is_select:
            continue
        connection = connections[statement.alias]
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            cursor.execute(statement.sql)
            cursor.fetchall()


def measure(client: Client, pages: list[Page], *, samples: int) -> list[PageResult]:
    """Each page `samples` times, round-robin over the pages, so that a burst
    of other work on the machine slows every page a little rather than one
    page a lot; the same for the bare SQL."""
    captured = {page: [capture(client, url) for url in page.urls] for page in pages}
    for page in pages:  # a second warm-up, now without the capture
        for url in page.urls:
            fetch(client, url)
    wall: dict[Page, list[float]] = {page: [] for page in pages}
    cpu: dict[Page, list[float]] = {page: [] for page in pages}
    floors: dict[Page, list[float]] = {page: [] for page in pages}
    for n in range(samples):
        for page in pages:
            url = page.urls[n % len(page.urls)]
            page_wall, page_cpu = timed(partial(fetch, client, url))
            wall[page].append(page_wall)
            cpu[page].append(page_cpu)
    for n in range(samples):
        for page, statements in captured.items():
            sql = statements[n % len(statements)]
            floors[page].append(millis(partial(run_bare, sql)))
    return [
        PageResult(
            page=page,
            timing=Summary.of(wall[page]),
            cpu=Summary.of(cpu[page]),
            floor=Summary.of(floors[page]),
            statements=captured[page][0],
        )
        for page in pages
    ]


def explain(statement: Statement) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a statement, on the alias that ran it."""
    connection = connections[statement.alias]
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement.sql)
        return "\n".join(row[0] for row in cursor.fetchall())
