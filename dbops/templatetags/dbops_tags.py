"""Template tags of dbops: the per-request query footer of the admin."""

from __future__ import annotations

from django import template

from dbops import metrics

register = template.Library()


@register.inclusion_tag("dbops/includes/footer.html")
def query_footer() -> dict:
    """This request's queries per alias, as counted so far (the footer is
    drawn last, so that is nearly all of them)."""
    return {"tally": metrics.current_tally()}
