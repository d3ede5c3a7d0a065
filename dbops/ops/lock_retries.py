"""Migrations that give way: each atomic migration takes its locks under a
`lock_timeout`, and one that cannot is rolled back and tried again a little
later with a longer timeout (what GitLab's `with_lock_retries` does).

Why: an ALTER TABLE waits in the table's lock queue behind any open
transaction on it, and every query that comes after waits behind the ALTER,
so one long report and one migration make an outage of that table. Under a
short lock_timeout the migration steps out of the queue instead.

Written here because no maintained library does it for Django on this
project's backend: django-pg-zero-downtime-migrations sets a lock_timeout
but is a database backend of its own (the routing backend cannot also be
it), and it does not retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import OperationalError

LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class Attempt:
    lock_timeout: float  # seconds the migration may wait for each lock
    pause: float  # seconds to give the lock queue before the next attempt


def schedule(first: float, attempts: int, longest: float = 5.0) -> list[Attempt]:
    """Lock timeouts doubling from `first` up to `longest`, with a pause as
    long as the timeout after each failed attempt."""
    timeouts = [min(first * 2**n, longest) for n in range(max(attempts, 1))]
    return [Attempt(timeout, pause=timeout) for timeout in timeouts]


class LocksNotTaken(Exception):
    def __init__(self, attempts: list[Attempt]) -> None:
        self.attempts = attempts
        super().__init__(f"locks not taken in {len(attempts)} attempts")


_lock_timeout: ContextVar[float | None] = ContextVar(
    "dbops_migration_lock_timeout", default=None
)


def current_lock_timeout() -> float | None:
    """The lock timeout of the migration attempt under way (None: none)."""
    return _lock_timeout.get()


def set_lock_timeout_sql(seconds: float) -> str:
    # SET LOCAL: it ends with the migration's transaction, so behind a
    # transaction pooler it never reaches another client's queries.
    return f"SET LOCAL lock_timeout = '{max(1, round(seconds * 1000))}ms'"


def is_lock_timeout(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "pgcode", None) == LOCK_NOT_AVAILABLE


@contextmanager
def _under(seconds: float) -> Iterator[None]:
    token = _lock_timeout.set(seconds)
    try:
        yield
    finally:
        _lock_timeout.reset(token)


def run_with_lock_retries(
    run: Callable[[], None],
    attempts: list[Attempt],
    *,
    on_retry: Callable[[int, Attempt], None],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """`run` under each attempt's lock timeout until it gets its locks.

    `run` must be safe to call again after a lock timeout: `migrate` is, as
    the migration that timed out was rolled back and those before it are
    recorded as applied. Raises LocksNotTaken after the last attempt.
    """
    for number, attempt in enumerate(attempts, 1):
        try:
            with _under(attempt.lock_timeout):
                run()
            return
        except OperationalError as exc:
            if not is_lock_timeout(exc):
                raise
            if number == len(attempts):
                raise LocksNotTaken(attempts) from exc
            on_retry(number, attempt)
            sleep(attempt.pause)
