"""The job workers: heard from, outliving a primary outage, and leaving no
job running without them.

django-tasks-db's `db_worker` loop re-raises the OperationalError of a
primary that is down or restarting: the process exited, and jobs queued
afterwards waited for good. The console's own `db_worker` (the command of
the same name in this app, which comes before django-tasks-db) runs the same
loop under `ResilientWorker`:

- a database error in the loop closes the connections and tries again after
  a back-off (1 s, doubling to 30 s) instead of exiting;
- a `Heartbeat` thread records the worker (`JobWorker`) every
  JOB_WORKER_HEARTBEAT_SECONDS on a connection of its own, records the end
  of a job that the primary could not take when it happened (its real
  reason, not "the worker stopped"), and settles the other jobs: one that
  says running while no merge holds its lock lost its worker and is marked
  failed within a heartbeat or two, whether or not anyone opens its page.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker

from console.bulk import jobs
from console.bulk.models import Import
from dbops.models import JobWorker
from dbops.routing import PRIMARY

logger = logging.getLogger("console.bulk")

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0


def next_backoff(previous: float | None) -> float:
    """The wait after a failure: 1 s, then doubling, at most 30 s."""
    return BACKOFF_FIRST if previous is None else min(previous * 2, BACKOFF_MAX)


class Heartbeat(threading.Thread):
    def __init__(self, worker_id: str) -> None:
        super().__init__(name="job-worker-heartbeat", daemon=True)
        self.worker_id = worker_id
        self.started_at = timezone.now()
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            while True:
                self.beat()
                if self._stopping.wait(settings.JOB_WORKER_HEARTBEAT_SECONDS):
                    return
        finally:
            connections.close_all()

    def beat(self) -> None:
        try:
            JobWorker.objects.using(PRIMARY).update_or_create(
                worker_id=self.worker_id,
                defaults={
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "started_at": self.started_at,
                    "seen_at": timezone.now(),
                },
            )
            # Workers gone for a day are history, not news.
            JobWorker.objects.using(PRIMARY).filter(
                seen_at__lt=timezone.now() - timedelta(days=1)
            ).delete()
            jobs.record_unrecorded_ends()
            for upload in Import.objects.using(PRIMARY).filter(
                state=Import.State.RUNNING
            ):
                jobs.settle(upload)
        except DatabaseError as exc:
            # The primary is down or restarting: the next beat tries again.
            logger.warning("job worker heartbeat not recorded: %s", exc)
            connections[PRIMARY].close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)
        try:
            JobWorker.objects.using(PRIMARY).filter(worker_id=self.worker_id).delete()
        except DatabaseError:
            pass  # gone with the primary: its heartbeat goes stale instead
        finally:
            connections.close_all()


class ResilientWorker(Worker):
    """django-tasks-db's worker, which survives the primary's outages."""

    def run(self) -> None:
        heartbeat = Heartbeat(self.worker_id)
        heartbeat.start()
        backoff: float | None = None
        try:
            while self.running:
                try:
                    super().run()
                    return  # --batch or --max-tasks: done
                except (OperationalError, InterfaceError) as exc:
                    backoff = next_backoff(backoff)
                    logger.warning(
                        "job worker lost the database (%s); trying again in %g s",
                        str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                        backoff,
                    )
                    connections.close_all()
                    time.sleep(backoff)
        finally:
            heartbeat.stop()
