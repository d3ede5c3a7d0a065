"""CSV exports of any size, streamed by PostgreSQL's COPY ... TO STDOUT.

PostgreSQL writes the CSV (quoting, NULLs, dates) and escapes formulae
(bulk_escape, in SQL); Python only passes the bytes on. The rows go in
keyset pages (`pk > last ORDER BY pk LIMIT n`), each one COPY of its own
held in memory whole (a page, not the file), for two reasons: memory stays
bounded however many rows there are, and a replica that fails mid-file
(its connection lost, its answer late) has that page and the rest served by
the primary, continuing after the last row sent, so the file is never
silently short. Where the primary fails too, the error ends the stream and
the client sees a broken download, not a complete-looking file.

COPY's row count says whether a page was the last: an export smaller than
a page is one statement, as fast as COPY itself. After a full page, the pk
to continue from is read in the same REPEATABLE READ snapshot as the page,
so that no row written in between is skipped or sent twice.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

from django.db import Error, connections, transaction
from django.db.models import F, Func, QuerySet

from dbops.ops import metrics
from dbops.routing import PRIMARY, conf, deadline, failover

# About 13 MB of books per page: memory stays bounded, and the per-page
# queries (the boundary and the COPY, each running the filters) are few.
PAGE_ROWS = 100_000
TEXT_FIELDS = frozenset({"CharField", "TextField", "EmailField", "SlugField"})


def header_line(names: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(names)
    return buffer.getvalue().encode()


def stream_csv(
    *, queryset: QuerySet, columns: dict[str, str], page_rows: int = PAGE_ROWS
) -> Iterator[bytes]:
    """The queryset as CSV bytes: a header of `columns`' names, then a chunk
    per page. `columns` maps each name to the ORM path of its value."""
    alias = queryset.db
    rows = queryset.order_by("pk")
    yield header_line(list(columns))
    last = None
    while True:
        page = rows if last is None else rows.filter(pk__gt=last)
        try:
            data, last = _page(page, alias, columns, page_rows)
        except Error as exc:
            failure = failover.classify(exc)
            if alias == PRIMARY or failure is None:
                raise
            failover.give_up_replica(alias, failure, exc)
            alias = PRIMARY
            continue
        yield data
        if last is None:
            return


def _page(
    rows: QuerySet, alias: str, columns: dict[str, str], page_rows: int
) -> tuple[bytes, Any]:
    """The page's CSV, and the pk to continue after (None: it was the last)."""
    with transaction.atomic(using=alias):
        with connections[alias].cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        data, copied = _copy(rows, alias, columns, page_rows)
        if copied < page_rows:
            return data, None
        pks = rows.using(alias).values_list("pk", flat=True)
        return data, pks[page_rows - 1 : page_rows].get()


def _cells(rows: QuerySet, columns: dict[str, str]) -> dict[str, Any]:
    """The SELECT of each column: text escaped for spreadsheets in SQL
    (numbers and dates cannot start a formula, and the escape costs per cell)."""
    model = rows.model
    cells: dict[str, Any] = {}
    for n, path in enumerate(columns.values()):
        field = model._meta.get_field(path.split("__")[0])
        for part in path.split("__")[1:]:
            field = field.related_model._meta.get_field(part)
        text = field.get_internal_type() in TEXT_FIELDS
        cells[f"c{n}"] = Func(F(path), function="bulk_escape") if text else F(path)
    return cells


def _copy(
    rows: QuerySet, alias: str, columns: dict[str, str], limit: int
) -> tuple[bytes, int]:
    """The first `limit` rows as CSV, and how many there were."""
    cells = _cells(rows, columns)
    page = rows.using(alias).values(**cells).order_by("pk")[:limit]
    connection = connections[alias]
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        query, params = page.query.sql_with_params()
        # COPY takes no parameters: psycopg quotes them into the text.
        select = cursor.mogrify(query, params).decode()
        statement = f"COPY ({select}) TO STDOUT WITH (FORMAT csv)"
        seconds = conf.read_timeout() if cursor.db.alias != PRIMARY else 0
        raw = cursor.cursor
        watch = deadline.watch(raw.connection.fileno(), seconds) if seconds else None
        with watch or nullcontext() as watched, cursor.db.wrap_database_errors:
            try:
                _counted(cursor, statement, lambda: raw.copy_expert(statement, buffer))
            except Exception as exc:
                if watched is not None and watched.fired:
                    raise failover.NoAnswer(cursor.db.alias, seconds) from exc
                raise
        return buffer.getvalue(), raw.rowcount


def _counted(cursor, statement: str, run) -> None:
    """Run a COPY as Django runs a statement: in the per-alias query counts
    (copy_expert bypasses Django's execute wrappers) and in the query log
    when one is kept (DEBUG, the tests)."""
    db = cursor.db
    started = time.perf_counter()
    context = {"connection": db, "cursor": cursor}
    try:
        metrics.count_queries(lambda *args: run(), statement, None, False, context)
    finally:
        if db.queries_logged:
            elapsed = time.perf_counter() - started
            db.queries_log.append({"sql": statement, "time": f"{elapsed:.3f}"})
