"""Tiny views for the routing tests: an anonymous write and an anonymous read,
each reporting which alias served it."""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from catalog.models import Author
from dbops.ops import urls as dbops_urls


@csrf_exempt
def write_author(request):
    author = Author.objects.create(name=request.POST["name"])
    return JsonResponse({"id": author.pk})


def read_authors(request):
    queryset = Author.objects.order_by("name")
    names = [author.name for author in queryset]
    return JsonResponse({"names": names, "alias": queryset.db})


def slow_read(request):
    """A read as slow as asked (`?seconds=`), on the replica the router picks."""
    seconds = float(request.GET.get("seconds", "3"))
    queryset = Author.objects.raw("SELECT 1 AS id FROM pg_sleep(%s)", [seconds])
    return JsonResponse({"rows": len(list(queryset)), "alias": queryset.db})


def count_in_transaction(request):
    from django.db import transaction

    with transaction.atomic():
        queryset = Author.objects.all()
        return JsonResponse({"count": queryset.count(), "alias": queryset.db})


urlpatterns = [
    *dbops_urls.urlpatterns,  # /readyz and /metrics
    path("write/", write_author),
    path("read/", read_authors),
    path("slow/", slow_read),
    path("atomic/", count_in_transaction),
]
