"""Client-side time limits on replica round trips.

libpq waits for a server's answer without a time limit once connected: a
replica whose processes are stopped (a stalled disk, a paused VM, a dead
host whose connection stays open) keeps the kernel's TCP stack answering,
so neither TCP keepalives nor `tcp_user_timeout` notice, and a server-side
`statement_timeout` is enforced by the very server that hangs. psycopg2 has
no per-query timeout of its own (its wait callbacks would make every
connection asynchronous, which rules out COPY), so a watchdog thread does
it: a round trip that outlives its deadline gets its socket shut down,
which wakes libpq with "server closed the connection unexpectedly", an
OperationalError the failover handles like any lost connection.

Only the socket is shut down, never closed here: the file descriptor stays
libpq's, so it cannot be reused under it.

A deadline may instead ask before it fires (`unless_answering`): a
statement that is merely slow on a live server (a big page on the primary)
goes on, checked again each period, while one whose server no longer
answers anything is given up on after one period.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, int] = {}  # token -> file descriptor
        self._expired: set[int] = set()
        # token -> (period, the question asked when it is due)
        self._asking: dict[int, tuple[float, Callable[[], bool]]] = {}
        self._tokens = itertools.count()
        self._pid = 0

    def arm(
        self, fileno: int, seconds: float, ask: Callable[[], bool] | None = None
    ) -> int:
        with self._lock:
            self._ensure_thread()
            token = next(self._tokens)
            self._armed[token] = fileno
            if ask is not None:
                self._asking[token] = (seconds, ask)
            heapq.heappush(self._heap, (time.monotonic() + seconds, token))
            self._lock.notify()
            return token

    def disarm(self, token: int) -> bool:
        """Stop watching; True if the deadline had already fired."""
        with self._lock:
            self._armed.pop(token, None)
            self._asking.pop(token, None)
            if token in self._expired:
                self._expired.discard(token)
                return True
            return False

    def has_fired(self, token: int) -> bool:
        with self._lock:
            return token in self._expired

    def _ensure_thread(self) -> None:
        # A forked worker (gunicorn) inherits the lock but not the thread.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            threading.Thread(
                target=self._run, name="dbops-deadline", daemon=True
            ).start()

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._lock.wait()
                    continue
                due, token = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                heapq.heappop(self._heap)
                if token in self._asking:
                    # Asked on a thread of its own: the question takes a
                    # round trip, and other deadlines must not wait for it.
                    threading.Thread(
                        target=self._ask, args=(token,), daemon=True
                    ).start()
                    continue
                self._fire(token)

    def _fire(self, token: int) -> None:
        self._expired.add(token)
        self._asking.pop(token, None)
        _shut_down(self._armed.pop(token))

    def _ask(self, token: int) -> None:
        entry = self._asking.get(token)
        answering = entry is not None and entry[1]()
        with self._lock:
            if token not in self._armed or entry is None:
                return  # the block ended meanwhile: its socket is not ours
            if answering:
                heapq.heappush(self._heap, (time.monotonic() + entry[0], token))
                self._lock.notify()
            else:
                self._fire(token)


def _shut_down(fileno: int) -> None:
    try:
        sock = socket.socket(fileno=os.dup(fileno))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()  # closes the duplicate only


_watchdog = _Watchdog()


class Watch:
    """Whether the deadline of a `watch()` block has fired (readable inside
    the block, in the handler of the error it caused, and after it)."""

    def __init__(self, token: int | None) -> None:
        self._token = token
        self._fired = False

    @property
    def fired(self) -> bool:
        if self._token is not None and _watchdog.has_fired(self._token):
            return True
        return self._fired

    def _close(self) -> None:
        if self._token is not None:
            self._fired = _watchdog.disarm(self._token)
            self._token = None


@contextmanager
def watch(
    fileno: int | None,
    seconds: float,
    *,
    unless_answering: Callable[[], bool] | None = None,
) -> Iterator[Watch]:
    """Shut the socket `fileno` down if the block takes longer than `seconds`
    (with `unless_answering`: once it returns False, asked each `seconds`).

    The block sees the driver's own error (the connection is gone); the
    yielded `Watch` says whether the deadline was the cause.
    """
    if fileno is None or fileno < 0:
        yield Watch(None)
        return
    result = Watch(_watchdog.arm(fileno, seconds, unless_answering))
    try:
        yield result
    finally:
        result._close()
