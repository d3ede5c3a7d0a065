"""CSV exports of any size, streamed by PostgreSQL's COPY ... TO STDOUT.

PostgreSQL writes the CSV (quoting, NULLs, dates) and escapes formulae
(bulk_escape, in SQL); Python only passes the bytes on. The rows go in
keyset pages (`pk > last AND pk <= boundary`), each one COPY of its own
held in memory whole (a page, not the file), for two reasons: memory stays
bounded however many rows there are, and a replica that fails mid-file
(its connection lost, its answer late) has that page and the rest served by
the primary, continuing after the last row sent, so the file is never
silently short. Where the primary fails too, the error ends the stream and
the client sees a broken download, not a complete-looking file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import nullcontext

from django.db import Error, connections
from django.db.models import F, QuerySet

from dbops import conf
from dbops.routing import PRIMARY, deadline, failover

PAGE_ROWS = 20_000


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
            boundary = _boundary(page, alias, page_rows)
            if boundary is not None:
                page = page.filter(pk__lte=boundary)
            yield _copy(page, alias, columns)
        except Error as exc:
            failure = failover.classify(exc)
            if alias == PRIMARY or failure is None:
                raise
            failover.give_up_replica(alias, failure, exc)
            alias = PRIMARY
            continue
        if boundary is None:
            return
        last = boundary


def _boundary(rows: QuerySet, alias: str, page_rows: int):
    """The pk of the page's last row; None when the rest fits in one page."""
    found = list(
        rows.using(alias).values_list("pk", flat=True)[page_rows - 1 : page_rows]
    )
    return found[0] if found else None


def _copy(rows: QuerySet, alias: str, columns: dict[str, str]) -> bytes:
    cells = {f"c{n}": F(path) for n, path in enumerate(columns.values())}
    inner = rows.using(alias).values(k=F("pk"), **cells).order_by()
    outer = ", ".join(f"bulk_escape(p.{name}::text)" for name in cells)
    connection = connections[alias]
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        query, params = inner.query.sql_with_params()
        # COPY takes no parameters: psycopg quotes them into the text.
        select = cursor.mogrify(query, params).decode()
        statement = (
            f"COPY (SELECT {outer} FROM ({select}) p ORDER BY p.k) "
            "TO STDOUT WITH (FORMAT csv)"
        )
        seconds = conf.read_timeout() if cursor.db.alias != PRIMARY else 0
        raw = cursor.cursor
        watch = deadline.watch(raw.connection.fileno(), seconds) if seconds else None
        with watch or nullcontext() as watched, cursor.db.wrap_database_errors:
            try:
                raw.copy_expert(statement, buffer)
            except Exception as exc:
                if watched is not None and watched.fired:
                    raise failover.NoAnswer(cursor.db.alias, seconds) from exc
                raise
    return buffer.getvalue()
