"""The dbops knobs, with their defaults.

Read at call time rather than import time so that tests (and
`override_settings`) can change them.
"""

from __future__ import annotations

from django.conf import settings


def max_lag_seconds() -> float:
    return float(getattr(settings, "REPLICA_MAX_LAG_SECONDS", 5))


def max_lag_bytes() -> int:
    return int(getattr(settings, "REPLICA_MAX_LAG_BYTES", 16 * 1024 * 1024))


def retry_seconds() -> float:
    return float(getattr(settings, "REPLICA_RETRY_SECONDS", 30))


def write_token_max_age() -> float:
    """How long a read-your-writes token is honoured (a safety net: a replica
    that is this far behind is over the lag limit long before)."""
    return float(getattr(settings, "READ_YOUR_WRITES_MAX_AGE", 60))


def replica_aliases() -> list[str]:
    """The configured replica aliases, in order: replica, replica_2, ..."""
    return [alias for alias in settings.DATABASES if alias != "default"]
