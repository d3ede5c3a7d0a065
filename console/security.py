"""The console's own pieces of the login throttle (django-axes).

Axes counts failed logins per (username, client address) and refuses the
pair for a cool-off period. Two things it cannot know are decided here:
which address is the client's when a reverse proxy stands in front (every
request would otherwise come from the proxy, and one attacker could lock a
user out for everybody), and what a locked-out person sees (a page in the
admin's own look with a 429, rather than a bare line of text).
"""

from __future__ import annotations

import math

from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

LOCKOUT_TEMPLATE = "security/lockout.html"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: `REMOTE_ADDR`, or the header that the trusted
    proxy sets when `LOGIN_CLIENT_IP_HEADER` names one.

    For a list header (`X-Forwarded-For`) the last entry is the one the
    nearest proxy appended; entries before it come from the client and can
    be forged.
    """
    header = getattr(settings, "LOGIN_CLIENT_IP_HEADER", "")
    value = request.META.get(header, "") if header else ""
    forwarded = [part.strip() for part in value.split(",") if part.strip()]
    if forwarded:
        return forwarded[-1]
    return request.META.get("REMOTE_ADDR")


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """429 with the admin's login layout, saying for how long."""
    cool_off = get_cool_off(request)
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "failure_limit": get_failure_limit(request, credentials),
        "cooloff_minutes": minutes,
    }
    response = TemplateResponse(request, LOCKOUT_TEMPLATE, context, status=429)
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response.render()
