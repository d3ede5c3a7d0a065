"""One JSON line per request: what was asked, what was answered, how long it
took and where its reads went (a replica, or the primary and why)."""

from __future__ import annotations

import logging

from dbops import routing
from dbops.ops import metrics

logger = logging.getLogger("dbops.requests")


def route_of(state: routing.RoutingState) -> dict[str, str]:
    """Where this request's reads went, and why."""
    reason = routing.primary_reason()
    if reason:
        return {"alias": routing.PRIMARY, "reason": reason}
    if state.decision is None:
        return {"alias": "", "reason": "no-reads"}
    return {"alias": state.decision.alias, "reason": state.decision.reason}


def query_counts() -> dict[str, dict[str, int]]:
    """This request's queries so far, per alias, reads and writes apart."""
    tally = metrics.current_tally()
    if tally is None:
        return {}
    return {
        row.alias: {"reads": row.reads, "writes": row.writes} for row in tally.rows()
    }


def log_request(request, response, state: routing.RoutingState, seconds: float) -> None:
    route = route_of(state)
    if route["alias"]:
        metrics.ROUTING_DECISIONS.labels(route["alias"], route["reason"]).inc()
    logger.info(
        "request",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "route": route,
            "queries": query_counts(),
        },
    )
