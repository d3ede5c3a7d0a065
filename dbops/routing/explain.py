"""Why a query ran where it did, in words, for the development toolbar's
Routing panel: the same state the router decided on, read back."""

from __future__ import annotations

from dataclasses import dataclass

from dbops.routing import conf, rule, scope, statements
from dbops.routing.aliases import PRIMARY


@dataclass(frozen=True)
class RoutedQuery:
    alias: str
    sql: str
    milliseconds: float
    why: str
    failed: bool = False


def why_here(alias: str, sql: str) -> str:
    """Why the query `sql` about to run on `alias` runs there."""
    state = scope.current_state()
    if alias != PRIMARY:
        if state.decision and state.decision.alias == alias:
            return "a replica that may serve: " + _replica_details(state, alias)
        return "named with .using()"
    if statements.is_write(sql):
        return "a write: writes go to the primary"
    reason = scope.primary_reason()
    if reason:
        return f"must see the primary: {reason}"
    if state.failed_replica and (
        state.decision is None or state.decision.alias == PRIMARY
    ):
        return f"{state.failed_replica} failed in this request: served by the primary"
    if state.decision and state.decision.alias == PRIMARY:
        details = "; ".join(
            f"{replica}: {_replica_details(state, replica)}"
            for replica in conf.replica_aliases()
        )
        return f"no replica may serve ({details or state.decision.reason})"
    return "primary-only data (cache, jobs, imports), or named with .using()"


def _replica_details(state: scope.RoutingState, alias: str) -> str:
    if state.snapshot is None or alias not in state.snapshot.replicas:
        return "not measured in this request"
    verdict = state.snapshot.verdict(alias, write_position=state.write_token)
    if not verdict.serving:
        return verdict.detail
    replica = state.snapshot.replica(alias)
    return (
        f"{rule.format_seconds(replica.lag_seconds or 0)} and "
        f"{rule.format_bytes(replica.lag_bytes or 0)} behind, within the limits"
    )
