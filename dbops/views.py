"""Thin views over the dbops collectors (placeholders until the ops issue)."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    return JsonResponse({"status": "ok"})


def metrics(request):
    return HttpResponse("", content_type="text/plain")


def replication(request):
    return HttpResponse("replication")


def queries(request):
    return HttpResponse("queries")


def migrations(request):
    return HttpResponse("migrations")
