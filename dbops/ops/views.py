"""Thin views over the dbops collectors: the health endpoints and the
operations pages of the admin (mounted by `dbops.ops.urls.admin_urlpatterns`)."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from dbops.models import LagSample
from dbops.ops import (
    jobqueue,
    metrics,
    migration_status,
    permissions,
    replication,
    server_statements,
)
from dbops.routing import rule
from dbops.routing.middleware import reads_no_user

# --- Health endpoints -----------------------------------------------------------


@never_cache
@reads_no_user
def healthz(request):
    """Liveness: the process answers. Touches no database on purpose, so
    that a database outage does not get the app servers restarted."""
    return JsonResponse({"status": "ok"})


@never_cache
@reads_no_user
def readyz(request):
    """Readiness: 200 while the primary answers, 503 when it does not."""
    report = replication.readiness()
    return JsonResponse(report.as_json(), status=200 if report.primary_up else 503)


def _bearer_ok(request) -> bool | None:
    """True/False for a bearer token that matches METRICS_TOKEN or not; None
    when the request brings none (or no token is configured)."""
    expected = getattr(settings, "METRICS_TOKEN", "")
    header = request.headers.get("Authorization", "")
    if not expected or not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


@never_cache
def prometheus_metrics(request):
    """Prometheus text format, for a scraper with the bearer token or a staff
    member with the operations permission."""
    bearer = _bearer_ok(request)
    if bearer is None and request.user.is_authenticated:
        if not permissions.can_view_ops(request):
            raise PermissionDenied
    elif not bearer:
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    now = replication.replicas_now()
    body, content_type = metrics.exposition(
        primary_up=now.primary_up,
        replicas=now.replicas,
        jobs=jobqueue.job_queue() if now.primary_up else None,
    )
    return HttpResponse(body, content_type=content_type)


# --- Operations pages -------------------------------------------------------------


def ops_page(view):
    """Staff (checked by `admin_view`) with the operations permission."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not permissions.can_view_ops(request):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _render(request, site, template: str, title: str, context: dict):
    return TemplateResponse(
        request,
        template,
        {**site.each_context(request), "title": title, **context},
    )


@ops_page
def replication_page(request, site):
    overview = replication.replication_overview()
    end = timezone.now()
    history = [
        {
            "alias": alias,
            "sampled": bool(samples),
            "charts": _lag_charts(minutes, overview.now),
            "tracker": _availability(minutes, overview.now.max_lag_seconds),
        }
        for alias, samples in overview.history.items()
        for minutes in [_by_minute(samples, end)]
    ]
    return _render(
        request,
        site,
        "dbops/replication.html",
        "Replication",
        {"overview": overview, "now": overview.now, "history": history},
    )


@ops_page
def queries_page(request, site):
    return _render(
        request,
        site,
        "dbops/queries.html",
        "Queries",
        {
            "totals": metrics.query_totals(),
            "tally": metrics.current_tally(),
            "can_reset": permissions.can_reset_counters(request),
        },
    )


@require_POST
@ops_page
def queries_reset(request, site):
    if not permissions.can_reset_counters(request):
        raise PermissionDenied
    metrics.counters_reset(user=request.user)
    messages.success(request, "Query counters reset.")
    return redirect("admin:dbops_queries")


@ops_page
def statements_page(request, site):
    totals = metrics.query_totals()
    servers = server_statements.every_server()
    return _render(
        request,
        site,
        "dbops/statements.html",
        "Statements",
        {
            "servers": [
                {"server": server, "console": totals.get(server.alias)}
                for server in servers
            ],
            "totals": totals,
        },
    )


@ops_page
def migrations_page(request, site):
    return _render(
        request,
        site,
        "dbops/migrations.html",
        "Migrations",
        {"status": migration_status.migration_status()},
    )


# --- Chart data (Chart.js, drawn by unfold's chart components) -------------------


# Chart.js options for the lag charts: unfold's defaults (which the
# component replaces when given options) with a y axis that starts at zero,
# since lag is never negative.
LAG_CHART_OPTIONS = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "datasets": {"line": {"borderWidth": 2, "pointStyle": False}},
        "plugins": {
            "legend": {"display": True, "position": "bottom"},
            "tooltip": {"enabled": True},
        },
        "scales": {
            "x": {
                "border": {"dash": [5, 5], "width": 0},
                # Sixty minutes, labelled on the round ten minutes only
                # (`Minute.tick`): Chart.js would otherwise pick every ninth.
                "ticks": {"color": "#9ca3af", "autoSkip": False, "maxRotation": 0},
                "grid": {"display": False},
            },
            "y": {
                "min": 0,
                "suggestedMax": 1,
                "border": {"dash": [5, 5], "width": 0},
                "ticks": {"color": "#9ca3af", "maxTicksLimit": 5},
                "grid": {"tickWidth": 0},
            },
        },
    }
)


@dataclass(frozen=True)
class Minute:
    """One minute of the last hour and the samples taken in it."""

    start: datetime
    samples: list[LagSample]

    @property
    def label(self) -> str:
        return f"{timezone.localtime(self.start):%H:%M}"

    @property
    def tick(self) -> str:
        """The x axis label: the time on round ten minutes, else none."""
        return self.label if timezone.localtime(self.start).minute % 10 == 0 else ""

    def worst(self, attribute: str) -> float | None:
        values = [v for s in self.samples if (v := getattr(s, attribute)) is not None]
        return max(values, default=None)


def _by_minute(
    samples: list[LagSample], end: datetime, minutes: int = 60
) -> list[Minute]:
    """The last `minutes` whole minutes up to `end`, oldest first: the bar
    strip and both charts show the same span, one step per minute."""
    # Whole minutes, the last one the minute under way.
    start = end.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    buckets: list[list[LagSample]] = [[] for _ in range(minutes)]
    for sample in samples:
        index = int((sample.taken_at - start).total_seconds() // 60)
        if 0 <= index < minutes:
            buckets[index].append(sample)
    return [
        Minute(start + timedelta(minutes=n), bucket) for n, bucket in enumerate(buckets)
    ]


def _lag_charts(minutes: list[Minute], now: replication.ReplicaNow) -> dict[str, str]:
    """The worst lag of each minute, and the rule's limit as a dashed line
    (above it the replica serves no reads)."""
    labels = [minute.tick for minute in minutes]

    def chart(label: str, values: list, limit: float, limit_label: str) -> str:
        line = {
            "label": label,
            "data": values,
            "borderColor": "var(--color-primary-600)",
            "backgroundColor": "var(--color-primary-600)",
            "spanGaps": False,
        }
        limit_line = {
            "label": limit_label,
            "data": [limit] * len(labels),
            "borderColor": "#dc2626",
            "backgroundColor": "#dc2626",
            "borderDash": [6, 4],
            "borderWidth": 1,
        }
        return json.dumps({"labels": labels, "datasets": [line, limit_line]})

    kib = [
        None if (b := minute.worst("lag_bytes")) is None else round(b / 1024, 1)
        for minute in minutes
    ]
    seconds = [
        None if (s := minute.worst("lag_seconds")) is None else round(s, 1)
        for minute in minutes
    ]
    limit_seconds = now.max_lag_seconds
    limit_kib = now.max_lag_bytes / 1024
    return {
        "seconds": chart(
            "Seconds behind (worst of the minute)",
            seconds,
            limit_seconds,
            f"Limit: {rule.format_seconds(limit_seconds)}",
        ),
        "kib": chart(
            "KiB not replayed (worst of the minute)",
            kib,
            limit_kib,
            f"Limit: {rule.format_bytes(now.max_lag_bytes)}",
        ),
        "options": LAG_CHART_OPTIONS,
    }


def _availability(minutes: list[Minute], max_lag_seconds: float) -> list[dict]:
    """One tracker bar per minute, coloured by the worst sample in it:
    down, paused or lagging, fine, or no sample."""
    colours = ["bg-base-300", "bg-green-500", "bg-orange-400", "bg-red-600"]
    names = ["no sample", "replaying", "paused or lagging", "down"]
    bars = []
    for minute in minutes:
        level = max(
            (_severity(sample, max_lag_seconds) for sample in minute.samples), default=0
        )
        bars.append(
            {"color": colours[level], "tooltip": f"{minute.label} {names[level]}"}
        )
    return bars


def _severity(sample: LagSample, max_lag_seconds: float) -> int:
    if not sample.reachable:
        return 3
    if sample.replay_paused or (sample.lag_seconds or 0) > max_lag_seconds:
        return 2
    return 1
