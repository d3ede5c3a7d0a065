"""The dbops knobs, with their defaults.

Read at call time rather than import time so that tests (and
`override_settings`) can change them.
"""

from __future__ import annotations

from django.conf import settings

from dbops.routing.aliases import PRIMARY
from dbops.routing.rule import Limits


def max_lag_seconds() -> float:
    return float(getattr(settings, "REPLICA_MAX_LAG_SECONDS", 5))


def max_lag_bytes() -> int:
    return int(getattr(settings, "REPLICA_MAX_LAG_BYTES", 16 * 1024 * 1024))


def limits() -> Limits:
    return Limits(max_lag_seconds=max_lag_seconds(), max_lag_bytes=max_lag_bytes())


def retry_seconds() -> float:
    return float(getattr(settings, "REPLICA_RETRY_SECONDS", 30))


def read_timeout() -> float:
    """How long a replica may take to answer one round trip (0: no limit)."""
    return float(getattr(settings, "REPLICA_READ_TIMEOUT", 2))


def web_statement_timeout() -> float:
    """The primary's statement_timeout in web requests (0: none): no page
    waits forever (jobs and commands have none)."""
    return float(getattr(settings, "WEB_STATEMENT_TIMEOUT", 30))


def web_lock_timeout() -> float:
    """The primary's lock_timeout in web requests (0: none): a save waits
    this long at most on another writer's row lock."""
    return float(getattr(settings, "WEB_LOCK_TIMEOUT", 3))


def primary_retry_seconds() -> float:
    """How long a primary that gave no answer is not tried again."""
    return float(getattr(settings, "PRIMARY_RETRY_SECONDS", 3))


def no_answer_seconds() -> float:
    """When the client gives up on a replica read: a little after the
    replica's own statement_timeout (the read timeout) would have answered
    with a cancel, so that only a server that does not answer at all meets
    it."""
    seconds = read_timeout()
    return seconds + min(max(seconds * 0.25, 0.25), 1.0)


def check_interval() -> float:
    """How old the shared replica state may be before it is measured anew."""
    return float(getattr(settings, "REPLICA_CHECK_INTERVAL", 1))


def write_token_max_age() -> float:
    """How long a read-your-writes token is honoured (a safety net: a replica
    that is this far behind is over the lag limit long before)."""
    return float(getattr(settings, "READ_YOUR_WRITES_MAX_AGE", 60))


def replica_aliases() -> list[str]:
    """The configured replica aliases, in order: replica, replica_2, ..."""
    return [alias for alias in settings.DATABASES if alias != PRIMARY]


def transaction_pooled() -> bool:
    """Whether a transaction-pooling PgBouncer stands in front of the servers
    (session state such as SET does not stay with a client's connection)."""
    return getattr(settings, "DATABASE_POOLER", "") == "transaction"
