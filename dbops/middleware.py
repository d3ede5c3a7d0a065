"""Per-request routing: opens the routing state, applies the request-level
rules (unsafe methods, admin forms) and hands out read-your-writes tokens."""

from __future__ import annotations

import logging
import time

from django.db import InterfaceError, OperationalError
from django.template.response import TemplateResponse

from dbops import consistency, failover, requestlog, routing

logger = logging.getLogger("dbops.routing")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Admin URL names (suffixes) whose GET already prepares a write: a change
# form filled from a lagging replica and then saved would silently overwrite
# newer data, and the import flow must look up existing rows on the primary.
PRIMARY_URL_SUFFIXES = (
    "_add",
    "_change",
    "_delete",
    "_password_change",
    "_import",
    "_process_import",
)


def is_admin_form(resolver_match) -> bool:
    if resolver_match is None or "admin" not in resolver_match.namespaces:
        return False
    return (resolver_match.url_name or "").endswith(PRIMARY_URL_SUFFIXES)


class RoutingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        method_reason = None if request.method in SAFE_METHODS else "method"
        token = consistency.read_token(request)
        with routing.request_scope(token, method_reason) as state:
            request.routing = state
            response = self.get_response(request)
            consistency.update_cookie(response, state)
            requestlog.log_request(
                request, response, state, time.perf_counter() - started
            )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if is_admin_form(request.resolver_match):
            routing.force_primary_for_request("admin-form")
        return None

    def process_exception(self, request, exception):
        """A lost database connection that reached the view means the
        primary is unreachable (replica failures are routed around before
        this): say so with a 503 and Retry-After rather than a 500."""
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        if failover.is_query_error(exception):
            return None
        logger.error(
            "primary unreachable",
            extra={"event": "primary_down", "path": request.path},
        )
        response = TemplateResponse(
            request, "dbops/unavailable.html", status=503, headers={"Retry-After": "5"}
        )
        return response
