"""Serving a read from the primary when its replica fails it.

The router chooses a replica from the shared state, but a replica can still
fail between the check and a query: its connection dies, it stops
answering (see `deadline`), or replay cancels the query (a recovery
conflict, which the primary never has). Such a read is re-run on the
primary when no transaction is open on the replica, so there is nothing to
lose, and the caller goes on fetching rows from the primary's cursor,
unaware. Errors of the query itself (bad SQL, bad data) would fail on the
primary too and are left alone. Django has no hook for this, hence an
execute wrapper here and the cursor hook in `backend`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import Error, InterfaceError, OperationalError, connections

from dbops.ops import metrics
from dbops.routing import conf
from dbops.routing.aliases import PRIMARY
from dbops.routing.backend.cursor import statement_limit

logger = logging.getLogger("dbops.routing")


_disabled: ContextVar[bool] = ContextVar("dbops_failover_disabled", default=False)


@dataclass(frozen=True)
class Failure:
    """What a replica's error means for the read."""

    cause: str  # for logs and metrics
    mark_down: bool  # the replica itself is unwell, not just this query


# By SQLSTATE class (two characters) or code; errors without one come from
# the client side (a lost connection, a deadline that shut the socket).
FAILURES_BY_SQLSTATE = {
    "08": Failure("connection", mark_down=True),  # connection exception
    "40001": Failure("recovery-conflict", mark_down=False),
    "40": Failure("transaction-rollback", mark_down=False),
    "53": Failure("resources", mark_down=True),  # too many connections, disk full
    # The replica answered: its statement_timeout cancelled the query (slow
    # in itself, or waiting on a lock that replay holds). Alive, so not
    # marked down; the primary re-runs the read under the same limit.
    "57014": Failure("cancelled", mark_down=False),
    "55P03": Failure("lock-wait", mark_down=False),  # lock_timeout
    "57": Failure("shutdown", mark_down=True),  # terminated, shutting down
    "58": Failure("system", mark_down=True),
    "XX": Failure("internal", mark_down=True),
}
SLOW_QUERY = (FAILURES_BY_SQLSTATE["57014"], FAILURES_BY_SQLSTATE["55P03"])
CLIENT_SIDE = Failure("connection", mark_down=True)
NO_ANSWER = Failure("timeout", mark_down=True)


class NoAnswer(OperationalError):
    """A replica round trip outlived REPLICA_READ_TIMEOUT (see `deadline`)."""

    def __init__(self, alias: str, seconds: float) -> None:
        super().__init__(f"{alias} gave no answer within {seconds:g} s")


def gave_up_on_a_lock(exc: BaseException) -> bool:
    """Whether `exc` is a statement stopped by its lock_timeout (another
    writer holds the rows), as opposed to a failure of the server."""
    return classify(exc) == FAILURES_BY_SQLSTATE["55P03"]


def classify(exc: BaseException) -> Failure | None:
    """The replica failure behind `exc`, or None for an error of the query
    itself, which the primary would raise too."""
    if isinstance(exc, NoAnswer):
        return NO_ANSWER
    if not isinstance(exc, Error):
        return None
    cause = exc.__cause__
    pgcode = getattr(cause, "pgcode", None) or getattr(exc, "pgcode", None)
    if pgcode is None:
        lost = isinstance(exc, OperationalError | InterfaceError)
        return CLIENT_SIDE if lost else None
    return FAILURES_BY_SQLSTATE.get(pgcode) or FAILURES_BY_SQLSTATE.get(pgcode[:2])


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


def can_fail_over(replica, exc: BaseException) -> Failure | None:
    """The failure to route around, or None where the error must stand."""
    if _disabled.get() or replica.in_atomic_block:
        return None
    return classify(exc)


def give_up_replica(alias: str, failure: Failure, exc: BaseException) -> None:
    """Note the failure and make the request's next reads choose again."""
    from dbops.routing import monitor, scope

    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else failure.cause
    logger.warning(
        "replica read served by the primary",
        extra={
            "event": "replica_failover",
            "alias": alias,
            "cause": failure.cause,
            "reason": reason,
        },
    )
    metrics.REPLICA_FAILOVERS.labels(alias, failure.cause).inc()
    if failure.mark_down:
        monitor.monitor.mark_down(alias, reason)
    scope.forget_decision(failed=alias)


def retry_on_primary(execute, sql, params, many, context):
    """Execute wrapper for replica connections."""
    try:
        return execute(sql, params, many, context)
    except Error as exc:
        replica = context["connection"]
        failure = can_fail_over(replica, exc)
        if failure is None:
            raise
        give_up_replica(replica.alias, failure, exc)
        primary_cursor = connections[PRIMARY].cursor()
        run = primary_cursor.executemany if many else primary_cursor.execute
        # A read the replica cancelled as too slow gets no more time on the
        # primary: it would be as slow there (or wait on the same lock).
        limit = conf.read_timeout() if failure in SLOW_QUERY else None
        with statement_limit(limit):
            result = run(sql, params)
        # The caller fetches from its own CursorWrapper, which delegates to
        # the raw cursor it wraps: hand it the primary's.
        context["cursor"].cursor = primary_cursor.cursor
        return result
