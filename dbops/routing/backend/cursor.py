"""Server-side time limits on one statement, carried by the statement itself.

`SET statement_timeout` stays with a connection, and behind a
transaction-pooling PgBouncer with whichever server connection happened to
run it. Sent as one simple query with the statement, `SET LOCAL ...; <query>`
holds for exactly that statement's transaction, on whichever server runs
it, at no extra round trip: outside a transaction the simple query is one
implicit transaction; inside one (an admin save), the same limits are set
again by each statement of the request and end with its transaction. Named
cursors are left alone (a DECLARE takes one statement).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import psycopg2.extensions


@dataclass(frozen=True)
class Limits:
    """Seconds, or None for no limit."""

    statement: float | None = None
    lock: float | None = None


NO_LIMITS = Limits()

# A limit for the block, on any alias (the failover's re-run of a read);
# the connection's own limits otherwise (the backend's `_limits`).
_override: ContextVar[Limits | None] = ContextVar(
    "dbops_statement_limits", default=None
)
# The limits of the web request under way, for the primary (the middleware).
_request: ContextVar[Limits] = ContextVar("dbops_request_limits", default=NO_LIMITS)


@contextmanager
def statement_limit(seconds: float | None) -> Iterator[None]:
    """Limit the statements run in the block (on any alias) to `seconds` on
    the server: a query that the server cancels raises QueryCanceled. None
    leaves each connection's own limits."""
    token = _override.set(Limits(statement=seconds) if seconds else None)
    try:
        yield
    finally:
        _override.reset(token)


@contextmanager
def request_limits(limits: Limits) -> Iterator[None]:
    """The primary's limits for a web request: no page waits forever on a
    slow query, and no save waits long on another writer's row lock."""
    token = _request.set(limits)
    try:
        yield
    finally:
        _request.reset(token)


def request_limits_now() -> Limits:
    return _request.get()


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


def limited(query: object, limits: Limits) -> object:
    """`query` carrying its own limits (unchanged without any)."""
    if not isinstance(query, str):
        return query
    prefix = ""
    if limits.statement:
        prefix += f"SET LOCAL statement_timeout = {_ms(limits.statement)}; "
    if limits.lock:
        prefix += f"SET LOCAL lock_timeout = {_ms(limits.lock)}; "
    return prefix + query if prefix else query


PREFIX = re.compile(r"^(SET LOCAL (statement|lock)_timeout = \d+; )+")


def without_limit(query: str) -> str:
    """The statement as the caller wrote it, for logs, the toolbar and
    `connection.queries`."""
    return PREFIX.sub("", query, count=1)


class LimitedCursor(psycopg2.extensions.cursor):
    """psycopg2's cursor, carrying the connection's limits on the server."""

    # The connection's own limits, set by the backend.
    default_limits: Callable[[], Limits] = staticmethod(lambda: NO_LIMITS)

    def execute(self, query, vars=None):
        if self.name is None:
            query = limited(query, _override.get() or self.default_limits())
        return super().execute(query, vars)
