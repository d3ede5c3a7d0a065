"""A primary that gave no answer, remembered for a short back-off.

A hung primary (its processes stopped, a stalled disk, a pooler queueing
for it) answers nothing, and every round trip to it waits for its whole
deadline. Once one has waited, the rest of the process should not: for
`PRIMARY_RETRY_SECONDS` the console does not connect to it or check it
again, so that requests that need it get their 503 at once and reads that
a replica may serve go on at the replica's speed. (Replicas have their own
down marks, with their retry period, in `monitor`.)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from dbops.routing import conf


@dataclass(frozen=True)
class NoAnswer:
    reason: str
    since: float  # time.monotonic()
    retry_at: float  # time.monotonic()

    def words(self, now: float) -> str:
        return (
            f"{self.reason} ({now - self.since:.1f} s ago; tried again in "
            f"{max(self.retry_at - now, 0):.1f} s)"
        )


_lock = threading.Lock()
_unanswered: dict[str, NoAnswer] = {}


def remember(alias: str, reason: str) -> None:
    now = time.monotonic()
    with _lock:
        previous = _unanswered.get(alias)
        _unanswered[alias] = NoAnswer(
            reason,
            since=previous.since if previous else now,
            retry_at=now + conf.primary_retry_seconds(),
        )


def unanswered(alias: str) -> NoAnswer | None:
    """Why `alias` is not to be tried now, or None if it may be."""
    found = _unanswered.get(alias)
    if found is None or time.monotonic() >= found.retry_at:
        return None
    return found


def forget(alias: str | None = None) -> None:
    """`alias` answered (None: forget every alias, for tests)."""
    with _lock:
        if alias is None:
            _unanswered.clear()
        else:
            _unanswered.pop(alias, None)
