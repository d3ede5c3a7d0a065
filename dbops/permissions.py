"""Who may see the operations pages (placeholder until the ops issue)."""

from __future__ import annotations


def can_view_ops(request) -> bool:
    return bool(request.user.is_active and request.user.is_staff)
