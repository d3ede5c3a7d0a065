"""Per-request routing state (placeholder: filled in by the routing issue)."""

from __future__ import annotations


class RoutingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)
