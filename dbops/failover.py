"""Retrying a read on the primary when its replica connection breaks.

The router probes each replica once per request, but a replica can still die
between the probe and a later query of the same request. Such a read is
re-run on the primary (when no transaction is open on the replica, so there
is nothing to lose) and the caller goes on fetching rows from the primary's
cursor, unaware. Django has no hook for this, hence the execute wrapper.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import InterfaceError, OperationalError, connections

from dbops import routing

_disabled: ContextVar[bool] = ContextVar("dbops_failover_disabled", default=False)


@contextmanager
def disabled() -> Iterator[None]:
    """Let replica errors through: for statements that must fail on the
    replica itself, such as the health probe, rather than quietly get the
    primary's answer."""
    token = _disabled.set(True)
    try:
        yield
    finally:
        _disabled.reset(token)


def retry_on_primary(execute, sql, params, many, context):
    from dbops import health

    try:
        return execute(sql, params, many, context)
    except (OperationalError, InterfaceError) as exc:
        replica = context["connection"]
        if _disabled.get() or replica.in_atomic_block or is_query_error(exc):
            raise
        health.down_list.mark(replica.alias, reason=str(exc).strip().splitlines()[0])
        routing.forget_decision()
        primary_cursor = connections[routing.PRIMARY].cursor()
        run = primary_cursor.executemany if many else primary_cursor.execute
        result = run(sql, params)
        # The caller fetches from its own CursorWrapper, which delegates to
        # the raw cursor it wraps: hand it the primary's.
        context["cursor"].cursor = primary_cursor.cursor
        return result


def is_query_error(exc: Exception) -> bool:
    """True for errors of the query itself (a cancelled statement, a recovery
    conflict), which the primary would not fix; False for a lost connection."""
    cause = exc.__cause__
    pgcode = getattr(cause, "pgcode", None)
    return pgcode is not None and not pgcode.startswith("08")
