"""Per-request routing: opens the routing state, applies the request-level
rules (unsafe methods, admin forms) and hands out read-your-writes tokens."""

from __future__ import annotations

import logging
import time

from django.db import InterfaceError, OperationalError
from django.template.response import TemplateResponse

from dbops.routing import conf, consistency, failover, requestlog, scope
from dbops.routing.backend.cursor import Limits
from dbops.routing.backend.cursor import request_limits as limits_for_request

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


def reads_no_user(view):
    """Marks a view that needs neither the session nor the user (the health
    endpoints): the middleware then looks neither up, so that a signed-in
    browser's cookie costs such a view no query, and no error when the
    servers are down."""
    view.reads_no_user = True
    return view


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
        request_limits = Limits(
            statement=conf.web_statement_timeout() or None,
            lock=conf.web_lock_timeout() or None,
        )
        with (
            scope.request_scope(token, method_reason) as state,
            limits_for_request(request_limits),
        ):
            response = self.get_response(request)
            consistency.update_cookies(request, response, state)
            requestlog.log_request(
                request, response, state, time.perf_counter() - started
            )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if is_admin_form(request.resolver_match):
            scope.force_primary_for_request("admin-form")
        if getattr(view_func, "reads_no_user", False):
            return None
        # Read-your-writes by user (reading the session here). An error in
        # process_view would skip process_exception and become a 500: the
        # view meets the same outage and answers 503.
        user = getattr(request, "user", None)
        try:
            signed_in = user is not None and user.is_authenticated
        except (OperationalError, InterfaceError):
            return None
        if signed_in:
            scope.raise_write_token(consistency.user_position(user.pk))
        return None

    def process_exception(self, request, exception):
        """A lost database connection that reached the view means a server
        is unreachable (replica failures are routed around before this, so
        it is the primary, or a replica inside a transaction of its own):
        say so with a 503 and Retry-After rather than a 500, and log which."""
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        failure = failover.classify(exception)
        if failure in failover.SLOW_QUERY:
            return self._too_slow(request, exception)
        if failure is None or not failure.mark_down:
            return None
        alias = getattr(exception, "alias", scope.PRIMARY)
        logger.error(
            "database unreachable",
            extra={
                "event": "primary_down" if alias == scope.PRIMARY else "replica_down",
                "alias": alias,
                "reason": str(exception).strip().splitlines()[0]
                if str(exception).strip()
                else failure.cause,
                "path": request.path,
            },
        )
        response = TemplateResponse(
            request, "dbops/unavailable.html", status=503, headers={"Retry-After": "5"}
        )
        return response

    def _too_slow(self, request, exception) -> TemplateResponse:
        """A statement the servers cancelled under their time limits (a
        query slow in itself, or one waiting on a lock): a clear page, not a
        500. 504, since the primary is up: 503 says it is not."""
        failure = failover.classify(exception)
        logger.warning(
            "statement cancelled by its time limit",
            extra={
                "event": "query_cancelled",
                "cause": failure.cause if failure else "",
                "alias": getattr(exception, "alias", scope.PRIMARY),
                "path": request.path,
            },
        )
        locked = failure is not None and failure.cause == "lock-wait"
        return TemplateResponse(
            request, "dbops/too_slow.html", {"locked": locked}, status=504
        )
