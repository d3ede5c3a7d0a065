"""Which database serves a read, for the request under way.

A read goes to the primary when it must see the primary (an explicit
`use_primary()`, a request that is not GET/HEAD/OPTIONS, an admin form, an
open transaction on the primary), and otherwise to a replica that the rule
(`rule.may_serve`) lets serve it, on the process's shared replica state
(`monitor`) and the client's write position. The choice is made once per
request and kept for it, so that all of its reads see one snapshot age.

State lives in context variables, not thread-locals, so that it is correct
under ASGI as well as in threaded servers, and nested `use_primary()` blocks
restore their outer state on exit.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db import connections

from dbops.routing import conf, outage, rule
from dbops.routing.aliases import PRIMARY
from dbops.routing.monitor import Snapshot, monitor

# Outside a request (management commands, shells, threads) the replica
# choice is re-made at most this often.
AMBIENT_STATE_SECONDS = 1.0


@dataclass(frozen=True)
class Decision:
    alias: str
    reason: str  # "replica", or why the primary serves


@dataclass
class RoutingState:
    """What one request (or one second outside requests) knows."""

    write_token: int | None = None  # WAL position of the client's last write
    decision: Decision | None = None
    wrote: bool = False
    created_at: float = field(default_factory=time.monotonic)
    # The replica state this request routes on; its pages show the same.
    snapshot: Snapshot | None = None
    # A replica whose read failed in this request (served by the primary).
    failed_replica: str | None = None


def request_snapshot() -> Snapshot:
    """The shared replica state, taken once per request (or ambient second),
    so that a page and its routing agree without measuring twice."""
    state = current_state()
    if state.snapshot is None:
        state.snapshot = monitor.snapshot()
    return state.snapshot


_state: ContextVar[RoutingState | None] = ContextVar(
    "dbops_routing_state", default=None
)
_primary_reasons: ContextVar[tuple[str, ...]] = ContextVar(
    "dbops_primary_reasons", default=()
)
# Outside a request: one state per thread (a job's thread, its progress
# reporter and the probe threads each decide and write on their own), kept in
# a context variable, since each thread starts in a context of its own.
_ambient: ContextVar[RoutingState | None] = ContextVar(
    "dbops_ambient_state", default=None
)


@contextmanager
def use_primary(reason: str = "use_primary") -> Iterator[None]:
    """Send every read in the block (or decorated function) to the primary."""
    token = _primary_reasons.set((*_primary_reasons.get(), reason))
    try:
        yield
    finally:
        _primary_reasons.reset(token)


def force_primary_for_request(reason: str) -> None:
    """Send the rest of the current request's reads to the primary.

    For middleware hooks that cannot wrap the view in `use_primary()`; the
    request's middleware restores the outer value when the request ends.
    """
    _primary_reasons.set((*_primary_reasons.get(), reason))


@contextmanager
def request_scope(
    write_token: int | None, primary_reason: str | None
) -> Iterator[RoutingState]:
    """Fresh routing state for one request."""
    state = RoutingState(write_token=write_token)
    state_token = _state.set(state)
    reasons = (primary_reason,) if primary_reason else ()
    reasons_token = _primary_reasons.set(reasons)
    try:
        yield state
    finally:
        _primary_reasons.reset(reasons_token)
        _state.reset(state_token)


def current_state() -> RoutingState:
    state = _state.get()
    if state is not None:
        return state
    ambient = _ambient.get()
    if ambient is None or time.monotonic() - ambient.created_at > AMBIENT_STATE_SECONDS:
        ambient = RoutingState()
        _ambient.set(ambient)
    return ambient


def reset() -> None:
    """Forget every cached decision and down mark (tests, counters reset):
    this thread's state outside a request, and the shared replica state."""
    _ambient.set(None)
    monitor.reset()


def primary_reason() -> str | None:
    """Why reads must go to the primary right now, or None if they need not."""
    reasons = _primary_reasons.get()
    if reasons:
        return reasons[-1]
    if connections[PRIMARY].in_atomic_block:
        return "transaction"
    return None


def read_alias() -> str:
    return decide().alias


def decide() -> Decision:
    reason = primary_reason()
    if reason:
        return Decision(PRIMARY, reason)
    state = current_state()
    if state.decision is None or _is_down(state.decision.alias):
        state.decision = _choose(state)
    return state.decision


def _is_down(alias: str) -> bool:
    return alias != PRIMARY and monitor.is_down(alias)


def raise_write_token(position: int | None) -> None:
    """The client's write position is at least `position` (its user's, known
    only once the session is read): choose again if that is newer."""
    state = current_state()
    if position and position > (state.write_token or 0):
        state.write_token = position
        state.decision = None


def forget_decision(failed: str | None = None) -> None:
    """Make the next read choose again (replica `failed` failed
    mid-request), on the shared state that now marks it down."""
    state = current_state()
    state.decision = None
    state.snapshot = None
    state.failed_replica = failed or state.failed_replica


def _choose(state: RoutingState) -> Decision:
    replicas = conf.replica_aliases()
    if not replicas:
        return Decision(PRIMARY, "no-replica")
    snapshot = request_snapshot()
    verdicts = _verdicts(snapshot, state)
    if _only_own_write_missing(verdicts) and outage.unanswered(PRIMARY):
        # The primary does not answer, so the read gets a 503 unless a
        # replica has the client's write: measure their replay again now
        # rather than on the shared state up to an interval old.
        snapshot = state.snapshot = monitor.refresh()
        verdicts = _verdicts(snapshot, state)
    serving = [
        snapshot.replica(alias)
        for alias, verdict in verdicts.items()
        if verdict.serving
    ]
    if serving:
        # The least lagged and its equals share the reads; a request stays
        # on the one it got.
        alias = rule.choose(serving, now=time.monotonic(), pick=random.random())
        assert alias is not None
        return Decision(alias, "replica")
    reasons = sorted({verdict.reason for verdict in verdicts.values()})
    return Decision(PRIMARY, ",".join(reasons))


def _verdicts(snapshot: Snapshot, state: RoutingState) -> dict[str, rule.Verdict]:
    limits = conf.limits()
    return {
        alias: snapshot.verdict(alias, write_position=state.write_token, limits=limits)
        for alias in conf.replica_aliases()
    }


def _only_own_write_missing(verdicts: dict[str, rule.Verdict]) -> bool:
    reasons = {verdict.reason for verdict in verdicts.values()}
    return rule.OWN_WRITE in reasons and not any(v.serving for v in verdicts.values())
