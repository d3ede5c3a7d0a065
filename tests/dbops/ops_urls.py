"""A test-only view whose queries are known: two reads on the replica and one
write on the primary, answering with the request's own query tally."""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from dbops.models import LagSample
from dbops.ops import metrics


@csrf_exempt
def two_reads_one_write(request):
    # `.using()` names the alias, so the router (and its probe) stays out.
    list(LagSample.objects.using("replica").all())
    LagSample.objects.using("replica").count()
    LagSample.objects.using("default").create(
        alias="counted", taken_at="2000-01-01T00:00:00Z", reachable=True
    )
    tally = metrics.current_tally()
    return JsonResponse(
        {row.alias: {"reads": row.reads, "writes": row.writes} for row in tally.rows()}
    )


urlpatterns = [path("counted/", two_reads_one_write)]
