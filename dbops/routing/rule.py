"""The one rule that says whether a replica may serve a read.

Pure functions of plain values, so that the router, the operations pages,
/readyz and /metrics give the same answer for the same measurement and the
rule can be tested without a server. The measurements come from
`dbops.routing.monitor`.

A replica may serve a read only while it is reachable, is in recovery
(a promoted replica no longer follows the primary), belongs to this
primary's cluster, is within the lag limits measured against the primary's
current position (not against what it happens to have received: a replica
cut off from its primary has replayed all it received and is still behind)
and has replayed the client's own last write.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

SERVING = "serving"
DOWN = "down"
PROMOTED = "promoted"
OTHER_CLUSTER = "other-cluster"
LAG_SECONDS = "lag-seconds"
LAG_BYTES = "lag-bytes"
OWN_WRITE = "own-write-not-replayed"
SPREAD = "several-servers"


@dataclass(frozen=True)
class Limits:
    max_lag_seconds: float
    max_lag_bytes: int


@dataclass(frozen=True)
class PrimaryState:
    """The primary as last checked. `position` is its current WAL position,
    None when it could not be read (primary down, or a server in recovery
    where the primary should be)."""

    reachable: bool
    position: int | None = None
    system_identifier: str | None = None
    in_recovery: bool | None = None
    server: str = ""  # the address and port that answered (after a failover,
    # the new primary's)
    error: str = ""
    checked_at: float = 0.0  # time.time(), for people
    # time.monotonic() just before the check was sent: the primary was at
    # `position` no earlier than this (what time lag is measured on).
    measured_at: float = 0.0


@dataclass(frozen=True)
class ReplicaState:
    """One replica as last measured; lag is against the primary's position."""

    alias: str
    reachable: bool
    error: str = ""
    down_since: float | None = None  # time.time() of the first failure
    up_since: float | None = None  # time.monotonic() it came back, if it was down
    server: str | None = None  # which server answered the probe
    spread: bool = False  # the alias reaches more than one server
    in_recovery: bool | None = None
    system_identifier: str | None = None
    replay_paused: bool | None = None
    receiving: bool | None = None  # its WAL receiver is streaming
    receive_position: int | None = None
    replay_position: int | None = None
    primary_position: int | None = None
    lag_bytes: int | None = None
    # An upper bound on the time lag as of `measured_at` (None: not known,
    # which counts as over the limit); see `lag_seconds()` and `aged()`.
    lag_seconds: float | None = None
    checked_at: float = 0.0  # time.time(), for people
    measured_at: float = 0.0  # time.monotonic() when lag_seconds was bounded

    @property
    def receive_lsn(self) -> str | None:
        return int_to_lsn(self.receive_position)

    @property
    def replay_lsn(self) -> str | None:
        return int_to_lsn(self.replay_position)

    @property
    def primary_lsn(self) -> str | None:
        return int_to_lsn(self.primary_position)


@dataclass(frozen=True)
class Verdict:
    reason: str  # SERVING, or why not (one of the constants above)
    detail: str  # the same for a person: "29 s behind, limit 5 s"

    @property
    def serving(self) -> bool:
        return self.reason == SERVING


def may_serve(
    replica: ReplicaState,
    primary: PrimaryState,
    *,
    limits: Limits,
    write_position: int | None = None,
) -> Verdict:
    """Whether `replica` may serve a read of a client whose last write is at
    `write_position` (None: no write to wait for)."""
    if not replica.reachable:
        return Verdict(DOWN, _down_detail(replica))
    if replica.in_recovery is False:
        return Verdict(
            PROMOTED, "not in recovery: promoted, it no longer follows the primary"
        )
    if replica.spread:
        return Verdict(
            SPREAD,
            "reaches more than one server (a pooler or load balancer spreads "
            "it): what the probe measures is not where the reads go; give "
            "each replica an alias of its own",
        )
    if (
        primary.system_identifier
        and replica.system_identifier
        and primary.system_identifier != replica.system_identifier
    ):
        return Verdict(
            OTHER_CLUSTER,
            f"a server of another cluster (system identifier "
            f"{replica.system_identifier}, the primary's is "
            f"{primary.system_identifier})",
        )
    if replica.lag_seconds is not None and replica.lag_seconds > limits.max_lag_seconds:
        return Verdict(
            LAG_SECONDS,
            f"{format_seconds(replica.lag_seconds)} behind, "
            f"limit {format_seconds(limits.max_lag_seconds)}",
        )
    if (replica.lag_bytes or 0) > limits.max_lag_bytes:
        return Verdict(
            LAG_BYTES,
            f"{format_bytes(replica.lag_bytes or 0)} behind, "
            f"limit {format_bytes(limits.max_lag_bytes)}",
        )
    if write_position and (
        replica.replay_position is None or replica.replay_position < write_position
    ):
        return Verdict(OWN_WRITE, "has not yet replayed the client's last write")
    if replica.lag_seconds is None:
        return Verdict(
            LAG_SECONDS,
            "time lag not known yet (this process has not yet seen the "
            "primary at a position the replica has replayed): counted as "
            f"over the limit of {format_seconds(limits.max_lag_seconds)}",
        )
    return Verdict(SERVING, "serving reads")


def _down_detail(replica: ReplicaState) -> str:
    since = ""
    if replica.down_since:
        moment = datetime.fromtimestamp(replica.down_since, tz=UTC)
        since = f" since {moment:%H:%M:%S} UTC"
    return f"down{since}: {replica.error or 'unreachable'}"


# --- lag --------------------------------------------------------------------


def lag_bytes(*, primary_position: int | None, replay_position: int | None) -> int:
    """How far replay is behind the primary's position, in WAL bytes. With
    the primary's position unknown (it is down), nothing says the replica is
    behind; None replay (never replayed) counts as everything behind."""
    if primary_position is None:
        return 0
    return max(primary_position - (replay_position or 0), 0)


def lag_seconds(
    *,
    replay_position: int | None,
    history: Sequence[tuple[float, int]],
    now: float,
) -> float | None:
    """An upper bound on how long the replica has been missing data the
    primary had, or None where this process cannot bound it.

    `history` holds (time.monotonic() just before the check, primary
    position) pairs this process observed, oldest first, positions never
    going down. At the newest check whose position the replica has replayed,
    the replica held everything the primary had then, so it misses at most
    what came after: `now` minus that check's time. Only this process's
    monotonic clock is used: the replica's clock (`now()` minus its last
    replayed commit time) goes negative when it runs slow, and the wall
    clock steps. A new process whose checks all saw the primary past the
    replica, or one whose checks before the replica's position were pushed
    out of the history, cannot bound it (None), and an idle one bounds it
    by the time since its last check: never by less than the truth.
    """
    replayed = replay_position or 0
    positions = [position for _, position in history]
    newest_replayed = bisect.bisect_right(positions, replayed) - 1
    if newest_replayed < 0:
        return None
    return max(now - history[newest_replayed][0], 0.0)


def aged(replica: ReplicaState, *, now: float) -> ReplicaState:
    """`replica` with its time lag bounded at `now` (time.monotonic()): a
    measurement some time old bounds the lag by that much more."""
    if replica.lag_seconds is None or now <= replica.measured_at:
        return replica
    return replace(
        replica,
        lag_seconds=replica.lag_seconds + (now - replica.measured_at),
        measured_at=now,
    )


# --- words and numbers ---------------------------------------------------------


def lsn_to_int(lsn: str | None) -> int | None:
    """'16/B374D848' -> the byte position as an integer (None stays None)."""
    if not lsn:
        return None
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def int_to_lsn(position: int | None) -> str | None:
    if position is None:
        return None
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def bound_for_display(seconds: float | None) -> float | None:
    """An upper bound to two decimals, rounded up so as to stay one."""
    return None if seconds is None else math.ceil(seconds * 100) / 100


def format_seconds(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:,.0f} s"


def format_bytes(count: int) -> str:
    """Binary units, named as such (KiB, MiB, GiB)."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            if unit == "bytes":
                return f"{int(value):,} bytes"
            return f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# --- choosing among the replicas that may serve ----------------------------------

# Replicas this close to the least lagged one count as equals and share the
# reads; one further behind is used only when the closer ones cannot serve.
EQUAL_LAG_BYTES = 1024 * 1024
EQUAL_LAG_SECONDS = 1.0
# A replica that comes back gets its share of reads over this long, so that
# a cold cache (or a flapping server) is not handed everything at once.
RAMP_SECONDS = 30.0


def choose(
    candidates: Sequence[ReplicaState], *, now: float, pick: float
) -> str | None:
    """The replica to serve a read among `candidates` (all allowed by
    `may_serve`): the least lagged and those close to it, weighted by how
    long each has been back up, chosen by `pick` in [0, 1)."""
    if not candidates:
        return None
    least_bytes = min(c.lag_bytes or 0 for c in candidates)
    least_seconds = min(c.lag_seconds or 0 for c in candidates)
    equals = [
        c
        for c in candidates
        if (c.lag_bytes or 0) <= least_bytes + EQUAL_LAG_BYTES
        and (c.lag_seconds or 0) <= least_seconds + EQUAL_LAG_SECONDS
    ]
    weights = [_ramp(c, now) for c in equals]
    point = pick * sum(weights)
    for candidate, weight in zip(equals, weights, strict=True):
        if point < weight:
            return candidate.alias
        point -= weight
    return equals[-1].alias


def _ramp(replica: ReplicaState, now: float) -> float:
    if replica.up_since is None:
        return 1.0
    return min(max((now - replica.up_since) / RAMP_SECONDS, 0.05), 1.0)


def spreads(servers: Sequence[str]) -> bool:
    """Whether successive probes of one alias (oldest first) show it reaching
    several servers: one server, another, then the first again. A single
    change is a replaced or restarted server; going back is a spread."""
    for middle, server in enumerate(servers):
        before = set(servers[:middle]) - {server}
        if before & set(servers[middle + 1 :]):
            return True
    return False
