"""Who may see the operations pages and reset their counters.

The pages need a staff login (the admin site's own check) plus the
`dbops.view_operations` permission; resetting the query counters needs
`dbops.reset_query_counters` as well. Superusers have both.
"""

from __future__ import annotations

VIEW_OPS = "dbops.view_operations"
RESET_COUNTERS = "dbops.reset_query_counters"


def _staff(user) -> bool:
    return bool(user.is_active and user.is_staff)


def can_view_ops(request) -> bool:
    """Used by the views and by the unfold sidebar (console/unfold.py)."""
    user = request.user
    return _staff(user) and user.has_perm(VIEW_OPS)


def can_reset_counters(request) -> bool:
    user = request.user
    return can_view_ops(request) and user.has_perm(RESET_COUNTERS)
