"""Template tags of dbops: the per-request query footer and the replica
badge of the admin's header."""

from __future__ import annotations

from django import template

from dbops.ops import metrics, permissions, replication
from dbops.routing import rule

register = template.Library()


@register.inclusion_tag("dbops/includes/footer.html")
def query_footer() -> dict:
    """This request's queries per alias, as counted so far (the footer is
    drawn last, so that is nearly all of them)."""
    return {"tally": metrics.current_tally()}


@register.inclusion_tag("dbops/includes/badge.html", takes_context=True)
def replica_badge(context) -> dict:
    """The replicas' state as the router sees it (the request's own
    measurement: no query of its own in the steady state), linking to the
    replication page for those who may see it."""
    request = context.get("request")
    return {
        "badge": replication.badge(replication.replicas_now()),
        "link": request is not None and permissions.can_view_ops(request),
    }


# One way to write sizes and durations on every page (the rule's, as in
# `dbops status` and the badge): binary units named as such, seconds to 0.1.
@register.filter(name="bytes")
def bytes_filter(count: int | None) -> str:
    return "—" if count is None else rule.format_bytes(count)


@register.filter(name="seconds")
def seconds_filter(seconds: float | None) -> str:
    return "—" if seconds is None else rule.format_seconds(seconds)
