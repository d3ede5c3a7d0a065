"""The job queue as operators see it: live workers and the jobs waiting.

Read on the primary (a replica's copy of a heartbeat is as old as its lag).
Jobs that wait while no worker is alive wait forever: the dashboard, the
Imports list, /readyz and /metrics say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dbops.models import JobWorker
from dbops.routing import PRIMARY


@dataclass(frozen=True)
class JobQueue:
    live_workers: list[JobWorker]
    waiting: int  # jobs ready to run, not yet taken by a worker
    oldest_waiting_since: datetime | None

    @property
    def stranded(self) -> bool:
        """Jobs wait and no worker is alive to take them."""
        return self.waiting > 0 and not self.live_workers

    @property
    def words(self) -> str:
        workers = len(self.live_workers)
        alive = f"{workers} job worker{'s' if workers != 1 else ''} alive"
        if not self.waiting:
            return f"{alive}, no job waiting"
        jobs = f"{self.waiting} job{'s' if self.waiting != 1 else ''} waiting"
        if self.stranded:
            return (
                f"{jobs} and no job worker alive (none heard from for "
                f"{settings.JOB_WORKER_STALE_SECONDS:g} s): start one with "
                f"`manage.py db_worker`"
            )
        return f"{alive}, {jobs}"


def job_queue(*, now: datetime | None = None) -> JobQueue | None:
    """The queue as it stands, or None when the primary cannot say."""
    now = now or timezone.now()
    since = now - timedelta(seconds=settings.JOB_WORKER_STALE_SECONDS)
    try:
        workers = list(
            JobWorker.objects.using(PRIMARY)
            .filter(seen_at__gte=since)
            .order_by("host", "pid")
        )
        ready = DBTaskResult.objects.using(PRIMARY).ready()
        waiting = ready.aggregate(oldest=Min("enqueued_at"), count=Count("pk"))
    except DatabaseError:
        return None
    return JobQueue(workers, waiting["count"], waiting["oldest"])
