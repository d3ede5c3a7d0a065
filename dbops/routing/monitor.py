"""What this process knows of the primary and its replicas, shared by every
request and thread.

At most once every `REPLICA_CHECK_INTERVAL` the primary's current WAL
position is read and each replica probed (`probes`); requests in between
route on that snapshot at no query cost. The primary's positions are kept
as a short history, so that a replica's time lag is measured against the
primary (how long it has been missing what the primary had), which holds
for a replica cut off from its primary as for one whose replay is paused.

A replica that fails (a probe, or a read, see `failover`) is marked down
and not probed again for `REPLICA_RETRY_SECONDS`, so that a dead or hung
replica costs one wait per process per retry period, not one per request.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from dbops.routing import conf, outage, probes, rule
from dbops.routing.aliases import PRIMARY

logger = logging.getLogger("dbops.routing")

# The primary positions kept for time lag: at one check a second, a quarter
# of an hour. A replica that has replayed none of them has an unknown lag,
# which counts as over the limit (rule.lag_seconds).
HISTORY_LENGTH = 900
# The servers an alias's probes reached, kept to tell a spread from a restart.
SERVERS_KEPT = 10


@dataclass(frozen=True)
class Snapshot:
    primary: rule.PrimaryState
    replicas: dict[str, rule.ReplicaState]  # in the configured order
    taken_at: float  # time.monotonic()
    # user id -> the WAL position of that user's last write, for those who
    # wrote within READ_YOUR_WRITES_MAX_AGE (read-your-writes by user).
    user_positions: dict[int, int] = field(default_factory=dict)

    def replica(self, alias: str) -> rule.ReplicaState:
        """`alias` as of now: its time lag bounded at this moment, not at
        the moment it was measured."""
        return rule.aged(self.replicas[alias], now=time.monotonic())

    def verdict(
        self,
        alias: str,
        *,
        write_position: int | None = None,
        limits: rule.Limits | None = None,
    ) -> rule.Verdict:
        return rule.may_serve(
            self.replica(alias),
            self.primary,
            limits=limits or conf.limits(),
            write_position=write_position,
        )


@dataclass(frozen=True)
class _Down:
    since: float  # time.time()
    retry_at: float  # time.monotonic()
    reason: str


class Monitor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._history: deque[tuple[float, int]] = deque(maxlen=HISTORY_LENGTH)
        self._down: dict[str, _Down] = {}
        self._back: dict[str, float] = {}  # alias -> time.monotonic() it came back
        # alias -> the servers its last probes reached, oldest first.
        self._servers: dict[str, deque[str]] = {}
        self._probers: dict[str, ThreadPoolExecutor] = {}
        self._probers_pid = 0

    # --- reading ----------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The current state, measured anew when older than the interval.

        While another thread measures, the previous snapshot is used rather
        than waited for.
        """
        current = self._snapshot
        if self._is_fresh(current):
            return current  # type: ignore[return-value]
        if not self._refreshing.acquire(blocking=current is None):
            return current  # type: ignore[return-value]
        try:
            if self._is_fresh(self._snapshot):
                return self._snapshot  # type: ignore[return-value]
            return self._refresh()
        finally:
            self._refreshing.release()

    def refresh(self) -> Snapshot:
        """Measure now, whatever the age of the last snapshot."""
        with self._refreshing:
            return self._refresh()

    def is_down(self, alias: str) -> bool:
        down = self._down.get(alias)
        return down is not None and time.monotonic() < down.retry_at

    def _is_fresh(self, snapshot: Snapshot | None) -> bool:
        return (
            snapshot is not None
            and time.monotonic() - snapshot.taken_at < conf.check_interval()
            and list(snapshot.replicas) == conf.replica_aliases()
        )

    # --- measuring ----------------------------------------------------------

    def _refresh(self) -> Snapshot:
        primary = probes.check_primary(PRIMARY)
        with self._lock:
            if primary.position is not None:
                if self._history and primary.position < self._history[-1][1]:
                    # Positions went back: another server is the primary now.
                    self._history.clear()
                self._history.append((primary.measured_at, primary.position))
            history = list(self._history)
        aliases = conf.replica_aliases()
        if len(aliases) == 1:
            replicas = {aliases[0]: self._measure(aliases[0], primary, history)}
        else:
            # One probe per replica at once, each on its own thread (and
            # persistent connection): two hung replicas cost one timeout.
            futures = {
                alias: self._prober(alias).submit(
                    self._measure, alias, primary, history
                )
                for alias in aliases
            }
            replicas = {alias: future.result() for alias, future in futures.items()}
        user_positions = (
            probes.recent_user_positions(PRIMARY, max_age=conf.write_token_max_age())
            if primary.reachable
            else {}
        )
        snapshot = Snapshot(
            primary, replicas, taken_at=time.monotonic(), user_positions=user_positions
        )
        self._snapshot = snapshot
        return snapshot

    def _prober(self, alias: str) -> ThreadPoolExecutor:
        """The thread that probes `alias` (a forked worker makes its own)."""
        with self._lock:
            if self._probers_pid != os.getpid():
                self._probers, self._probers_pid = {}, os.getpid()
            if alias not in self._probers:
                self._probers[alias] = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"dbops-probe-{alias}"
                )
            return self._probers[alias]

    def _measure(
        self, alias: str, primary: rule.PrimaryState, history: list
    ) -> rule.ReplicaState:
        down = self._down.get(alias)
        if down is not None and time.monotonic() < down.retry_at:
            return self._down_state(alias, down)
        state = probes.probe_replica(alias)
        if not state.reachable:
            return self._down_state(alias, self._mark(alias, state.error))
        self._clear(alias)
        with self._lock:
            servers = self._servers.setdefault(alias, deque(maxlen=SERVERS_KEPT))
            servers.append(state.server or "")
            spread = rule.spreads(list(servers))
        # The lag is bounded as of the newest check of the primary, and aged
        # from then (Snapshot.replica): a replica that has replayed the
        # position of that check has zero lag as of it. A primary that does
        # not answer takes no writes of the console's clients, so its last
        # answer stays the reference and the replicas go on serving through
        # the outage (a client's own write is still waited for).
        as_of = history[-1][0] if history else time.monotonic()
        return replace(
            state,
            spread=spread,
            up_since=self._back.get(alias),
            primary_position=primary.position,
            lag_bytes=rule.lag_bytes(
                primary_position=primary.position,
                replay_position=state.replay_position,
            ),
            lag_seconds=rule.lag_seconds(
                replay_position=state.replay_position, history=history, now=as_of
            ),
            measured_at=as_of if primary.position is not None else time.monotonic(),
        )

    @staticmethod
    def _down_state(alias: str, down: _Down) -> rule.ReplicaState:
        return rule.ReplicaState(
            alias,
            reachable=False,
            error=down.reason,
            down_since=down.since,
            checked_at=time.time(),
        )

    # --- marking ------------------------------------------------------------

    def mark_down(self, alias: str, reason: str) -> None:
        """A read or probe on `alias` failed: route around it until the
        retry time, starting with the snapshot every request now uses."""
        down = self._mark(alias, reason)
        current = self._snapshot
        if current is not None and alias in current.replicas:
            replicas = {**current.replicas, alias: self._down_state(alias, down)}
            self._snapshot = replace(current, replicas=replicas)

    def _mark(self, alias: str, reason: str) -> _Down:
        with self._lock:
            previous = self._down.get(alias)
            down = _Down(
                since=previous.since if previous else time.time(),
                retry_at=time.monotonic() + conf.retry_seconds(),
                reason=reason,
            )
            self._down[alias] = down
        if previous is None:
            logger.warning(
                "replica marked down",
                extra={"event": "replica_down", "alias": alias, "reason": reason},
            )
        return down

    def _clear(self, alias: str) -> None:
        with self._lock:
            was_down = self._down.pop(alias, None) is not None
            if was_down:
                self._back[alias] = time.monotonic()
            elif time.monotonic() - self._back.get(alias, 0) > rule.RAMP_SECONDS:
                self._back.pop(alias, None)
        if was_down:
            logger.info(
                "replica back up", extra={"event": "replica_up", "alias": alias}
            )

    def reset(self) -> None:
        """Forget everything (tests; a counters reset)."""
        outage.forget()
        with self._lock:
            self._snapshot = None
            self._history.clear()
            self._down.clear()
            self._back.clear()
            self._servers.clear()


monitor = Monitor()
