"""A server-side time limit on one statement, carried by the statement itself.

`SET statement_timeout` stays with a connection, and behind a
transaction-pooling PgBouncer with whichever server connection happened to
run it. Sent as one simple query, `SET LOCAL statement_timeout = N; <query>`
is one implicit transaction: the limit holds for exactly that statement, on
whichever server runs it, at no extra round trip. Only statements outside a
transaction are limited so (inside one, SET LOCAL would outlive the
statement), and only plain cursors (a named cursor's DECLARE takes one
statement).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import psycopg2.extensions

_limit: ContextVar[float | None] = ContextVar("dbops_statement_limit", default=None)


@contextmanager
def statement_limit(seconds: float | None) -> Iterator[None]:
    """Limit the statements run in the block (on any alias) to `seconds` on
    the server: a query that the server cancels raises QueryCanceled."""
    token = _limit.set(seconds)
    try:
        yield
    finally:
        _limit.reset(token)


PREFIX = re.compile(r"^SET LOCAL statement_timeout = \d+; ")


def limited(query: object, seconds: float | None) -> object:
    """`query` carrying its own statement_timeout (unchanged without one)."""
    if not seconds or not isinstance(query, str):
        return query
    return f"SET LOCAL statement_timeout = {max(int(seconds * 1000), 1)}; {query}"


def without_limit(query: str) -> str:
    """The statement as the caller wrote it, for logs, the toolbar and
    `connection.queries`."""
    return PREFIX.sub("", query, count=1)


class LimitedCursor(psycopg2.extensions.cursor):
    """psycopg2's cursor, limiting its autocommit statements on the server."""

    # The connection's own limit (seconds or None), set by the backend.
    default_limit: Callable[[], float | None] = staticmethod(lambda: None)

    def execute(self, query, vars=None):  # noqa: A002 (psycopg2's name)
        if self.connection.autocommit:
            query = limited(query, _limit.get() or self.default_limit())
        return super().execute(query, vars)
