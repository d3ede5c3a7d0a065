"""Big imports as background jobs, on django-tasks' database backend.

The confirm of a big upload queues a task (`run_import`) and shows the
job's page; a `db_worker` process runs it. The merge is one transaction
(pipeline.merge), so a job that fails, is cancelled or loses its worker has
written nothing. While it runs:

- its progress (rows merged, the replica it waits for) is committed to the
  Import row by a second connection, the `Reporter` thread, since the merge's
  own writes are invisible until its commit; the reporter also reads the
  owner's cancel request, which the merge acts on between batches;
- between batches of new rows it waits while a replica is over the lag
  limit (as GitLab throttles its background migrations), so that a
  million-row import does not push every reader onto the primary; a replica
  that stays behind for IMPORT_THROTTLE_MAX_WAIT is given up on, and the job
  goes on. It never waits once it has updated existing rows (pipeline.merge
  updates last): those stay locked until the commit, and an editor saving
  one must not wait for a replica;
- the merge's transaction holds an advisory lock on the upload: a job whose
  state says running but whose lock is free has lost its worker (killed,
  the machine gone) and `settle()` marks it failed.

Read-your-writes carries into the job: every read of a job is on the
primary, which has every write of the submitting client; and when the job
ends, the owner's write position moves past its commit, for all of the
owner's browsers (dbops.routing.consistency), and the job's page hands the
client a position past it (bulk/admin.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone
from django_tasks import task

from console.bulk import pipeline, spec
from console.bulk.models import Import
from dbops.routing import PRIMARY, conf, consistency, monitor, rule, scope

logger = logging.getLogger("console.bulk")

REPORT_EVERY = 0.5  # seconds between two progress writes
LOST_WORKER = (
    "The job worker stopped during the import (killed or restarted); "
    "nothing was written. Upload the file again."
)


def enqueue(upload: Import) -> bool:
    """Queue a staged upload; False if it was already confirmed (or expired)."""
    taken = (
        Import.objects.using(PRIMARY)
        .filter(pk=upload.pk, state=Import.State.STAGED)
        .update(state=Import.State.QUEUED)
    )
    if taken:
        run_import.enqueue(upload.pk)
    return bool(taken)


def request_cancel(upload: Import) -> None:
    """Ask the job to stop; a queued job is cancelled at once."""
    rows = Import.objects.using(PRIMARY).filter(pk=upload.pk)
    rows.filter(state=Import.State.QUEUED).update(
        state=Import.State.CANCELLED, finished_at=timezone.now(), cancel_requested=True
    )
    rows.filter(state=Import.State.RUNNING).update(cancel_requested=True)


def settle(upload: Import) -> Import:
    """The upload as it stands, a running job without a worker marked failed."""
    if upload.state == Import.State.RUNNING:
        with connections[PRIMARY].cursor() as cursor:
            # The lock can be taken only if no merge holds it; taken in this
            # statement's own transaction, it is let go at once.
            cursor.execute(
                "UPDATE bulk_import SET state = %s, message = %s, "
                "finished_at = now() WHERE id = %s AND state = %s "
                "AND pg_try_advisory_xact_lock(%s, id::int)",
                [
                    Import.State.FAILED,
                    LOST_WORKER,
                    upload.pk,
                    Import.State.RUNNING,
                    pipeline.LOCK_NAMESPACE,
                ],
            )
        upload.refresh_from_db(using=PRIMARY)
    return upload


def lagging_replica(limits: rule.Limits) -> str:
    """Words for the first replica over the lag limit, or "" if none is.

    Only measured lag counts: a replica that is down or promoted serves no
    reads whatever the job does, and one whose time lag this process cannot
    bound yet (a fresh worker while replay is paused) would stall the
    import on ignorance rather than on lag; waiting for either would stop
    every import.
    """
    snapshot = _measured()
    for alias in snapshot.replicas:
        verdict = snapshot.verdict(alias, limits=limits)
        unknown = snapshot.replica(alias).lag_seconds is None
        if verdict.reason == rule.LAG_BYTES or (
            verdict.reason == rule.LAG_SECONDS and not unknown
        ):
            return f"{alias}: {verdict.detail}"
    return ""


_checker: tuple[int, ThreadPoolExecutor] | None = None


def _measured() -> monitor.Snapshot:
    """The replicas' state, measured on a thread of its own: the merge's
    thread is inside its transaction, where a probe of the primary must not
    run (an error there would abort the import)."""
    global _checker
    if _checker is None or _checker[0] != os.getpid():
        _checker = (os.getpid(), ThreadPoolExecutor(1, "bulk-lag-check"))
    return _checker[1].submit(monitor.monitor.snapshot).result()


def wait_for_replicas(
    limits: rule.Limits, *, on_wait: Callable[[str], bool | None] | None = None
) -> None:
    """Return once no replica is over the lag limit, or after
    IMPORT_THROTTLE_MAX_WAIT seconds (the job goes on and says so), or when
    `on_wait(words)`, called at each poll, returns False."""
    since = time.monotonic()
    while lagging := lagging_replica(limits):
        if time.monotonic() - since > settings.IMPORT_THROTTLE_MAX_WAIT:
            logger.warning("went on with a write although %s", lagging)
            return
        if on_wait is not None and on_wait(lagging) is False:
            return
        time.sleep(settings.IMPORT_THROTTLE_POLL)


class Reporter(threading.Thread):
    """Commits a job's progress from a connection of its own, and reads
    whether its owner asked to cancel."""

    def __init__(self, upload_id: int) -> None:
        super().__init__(name=f"import-{upload_id}-progress", daemon=True)
        self.upload_id = upload_id
        self.done_rows = 0
        self.waiting_for = ""
        self.cancel_requested = False
        self._written: tuple[int, str] | None = None
        # Not `_stop`: that is Thread's own method, which join() calls (it
        # raised TypeError at the end of every job).
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopping.wait(REPORT_EVERY):
                self._report()
        finally:
            connections.close_all()

    def _report(self) -> None:
        progress = (self.done_rows, self.waiting_for)
        try:
            rows = Import.objects.using(PRIMARY).filter(pk=self.upload_id)
            if progress != self._written:
                rows.update(done_rows=progress[0], waiting_for=progress[1][:200])
                self._written = progress
            self.cancel_requested = rows.filter(cancel_requested=True).exists()
        except DatabaseError:
            logger.warning("import %s: progress not written", self.upload_id)

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def on_another_connection(work: Callable[[], None]) -> None:
    """Run `work` now, committed by a connection other than this thread's."""

    def run() -> None:
        try:
            work()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


@task()
def run_import(upload_id: int) -> str:
    """Merge a queued upload (the confirm of a big file)."""
    upload = Import.objects.using(PRIMARY).get(pk=upload_id)
    import_spec = spec.for_label(upload.model)
    reporter = Reporter(upload_id)
    limits = conf.limits()

    def mark_running() -> None:
        def started() -> None:
            Import.objects.using(PRIMARY).filter(
                pk=upload_id, state=Import.State.QUEUED
            ).update(state=Import.State.RUNNING, started_at=timezone.now())

        on_another_connection(started)
        reporter.start()

    def waiting(lagging: str) -> bool:
        reporter.waiting_for = lagging
        return not reporter.cancel_requested

    def between_batches(done: int) -> None:
        reporter.done_rows = done
        if reporter.cancel_requested:
            raise pipeline.Cancelled

    def pace() -> None:
        wait_for_replicas(limits, on_wait=waiting)
        reporter.waiting_for = ""
        if reporter.cancel_requested:
            raise pipeline.Cancelled

    outcome: str = Import.State.FAILED
    try:
        with scope.use_primary("import job"):
            merged = pipeline.merge(
                spec=import_spec,
                upload=upload,
                from_states=(Import.State.QUEUED,),
                batch_rows=settings.IMPORT_BATCH_ROWS,
                on_locked=mark_running,
                between_batches=between_batches,
                pace=pace,
            )
        outcome = merged.state if merged else "skipped"
    except Exception as exc:
        _finish(upload_id, Import.State.FAILED, pipeline.merge_failure(exc))
        raise
    finally:
        if reporter.is_alive():
            reporter.stop()
    if outcome == Import.State.DONE and upload.owner_id:
        position = consistency.current_write_position()
        if position:
            consistency.remember_user_position(upload.owner_id, position)
    return str(outcome)


# Ends this process could not record (the primary was gone too): upload id ->
# (state, message), recorded by the worker's heartbeat once the primary is
# back (bulk/workers.py), so that the job's page gives the real reason.
_unrecorded: dict[int, tuple[str, str]] = {}


def _finish(upload_id: int, state: str, message: str) -> None:
    """Record how a job ended without writing (its merge was rolled back)."""
    try:
        pipeline.discard(Import(pk=upload_id))
        Import.objects.using(PRIMARY).filter(pk=upload_id).update(
            state=state, message=message, finished_at=timezone.now(), waiting_for=""
        )
    except DatabaseError:
        logger.exception("import %s: could not record its end", upload_id)
        _unrecorded[upload_id] = (state, message)
    else:
        _unrecorded.pop(upload_id, None)


def record_unrecorded_ends() -> None:
    """Record the ends `_finish` could not (kept while it still cannot)."""
    for upload_id, (state, message) in list(_unrecorded.items()):
        _finish(upload_id, state, message)
