"""Big imports as background jobs, against a real job worker (`db_worker`)
and the real pair: all or nothing when the worker is killed or the owner
cancels, paced by the replica's lag, and read-your-writes past their end."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test import Client

from catalog.models import Author, Book
from console.bulk import jobs
from console.bulk.models import Import
from dbops.models import JobWorker
from tests.waiting import eventually

PROJECT = Path(__file__).resolve().parents[2]
BOOKS_URL = "/admin/catalog/book/"
JOB_ROWS = 2_000


def books_csv(count: int) -> bytes:
    rows = [f"Book {n},Author {n % 5},2001-02-03,978{n:07d}" for n in range(count)]
    return ("\n".join(["title,author,published,isbn", *rows]) + "\n").encode()


class Worker:
    """`manage.py db_worker` in a process of its own, as deployments run it."""

    def __init__(self, log: Path, **env: str) -> None:
        self.log_path = log
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "IMPORT_BATCH_ROWS": "100",
            "IMPORT_THROTTLE_POLL": "0.1",
            "JOB_WORKER_HEARTBEAT_SECONDS": "0.5",
            **self.env,
        }
        command = [sys.executable, "manage.py", "db_worker", "--interval", "0.1"]
        command.append("--no-startup-delay")
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            command, cwd=PROJECT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def worker_factory(db, tmp_path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        worker = Worker(tmp_path / f"worker-{len(started)}.log", **env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def importer(db, cluster, django_user_model, settings) -> Client:
    """A staff client whose uploads of more than JOB_ROWS rows become jobs."""
    settings.IMPORT_JOB_ROWS = JOB_ROWS
    Author.objects.bulk_create(Author(name=f"Author {n}") for n in range(5))
    user = django_user_model.objects.create_superuser("importer", "i@x.org", "pw")
    client = Client()
    client.force_login(user)
    cluster.wait_for_replay()
    return client


def submit(client: Client, content: bytes) -> Import:
    """Preview and confirm an upload through the admin; the queued job."""
    upload = SimpleUploadedFile("books.csv", content, content_type="text/csv")
    previewed = client.post(
        f"{BOOKS_URL}import/", {"import_file": upload, "format": "0"}
    )
    assert "confirm_form" in previewed.context, previewed.content[:2000]
    form = previewed.context["confirm_form"]
    confirmed = client.post(f"{BOOKS_URL}process_import/", form.initial)
    assert confirmed.status_code == 302, confirmed.content[:1000]
    pk = int(re.search(r"/admin/bulk/import/(\d+)/", confirmed.url).group(1))
    return Import.objects.using("default").get(pk=pk)


def current(upload: Import) -> Import:
    return jobs.settle(Import.objects.using("default").get(pk=upload.pk))


def marked_failed(upload: Import, *, what: str) -> Import:
    """The job once its row says failed, read as it is: no settle() here,
    so that the system, not this read, must have marked it."""
    return eventually(
        lambda: (
            Import.objects.using("default")
            .filter(pk=upload.pk, state=Import.State.FAILED)
            .first()
        ),
        timeout=30,
        what=what,
    )


def waiting_for_the_replica(upload: Import) -> Import:
    """The job, once it has merged a batch and waits for the lagging replica."""
    return eventually(
        lambda: (job := current(upload)).waiting_for and job.done_rows and job,
        what="the job to wait for the replica",
    )


LAGGING = {"REPLICA_MAX_LAG_BYTES": "1"}  # the job's own WAL puts it over


def test_job_waits_while_the_replica_lags_and_finishes_when_it_catches_up(
    importer, cluster, worker_factory
):
    cluster.pause_replay()
    try:
        worker_factory(**LAGGING)
        job = waiting_for_the_replica(submit(importer, books_csv(JOB_ROWS + 500)))

        assert job.state == Import.State.RUNNING
        assert job.waiting_for.startswith("replica:")
        assert job.done_rows < JOB_ROWS + 500
        assert Book.objects.using("default").count() == 0  # one transaction
    finally:
        cluster.resume_replay()

    done = eventually(lambda: (j := current(job)).finished and j, what="the end")
    assert done.state == Import.State.DONE, done.message
    assert Book.objects.using("default").count() == JOB_ROWS + 500
    assert done.done_rows == JOB_ROWS + 500 and done.waiting_for == ""


def test_killed_worker_leaves_no_rows_and_a_failed_job(
    importer, cluster, worker_factory
):
    cluster.pause_replay()
    try:
        worker = worker_factory(**LAGGING)
        job = waiting_for_the_replica(submit(importer, books_csv(JOB_ROWS + 500)))
        worker.kill()

        failed = eventually(
            lambda: (j := current(job)).state == Import.State.FAILED and j,
            what="the job to be marked failed",
        )
    finally:
        cluster.resume_replay()
    assert "job worker stopped" in failed.message
    assert Book.objects.using("default").count() == 0
    page = importer.get(f"/admin/bulk/import/{job.pk}/change/")
    assert b'data-state="failed"' in page.content


def test_cancelled_job_leaves_no_rows(importer, cluster, worker_factory):
    cluster.pause_replay()
    try:
        worker_factory(**LAGGING)
        job = waiting_for_the_replica(submit(importer, books_csv(JOB_ROWS + 500)))
        response = importer.post(f"/admin/bulk/import/{job.pk}/cancel/")
        assert response.status_code == 302

        cancelled = eventually(
            lambda: (j := current(job)).finished and j, what="the job to end"
        )
    finally:
        cluster.resume_replay()
    assert cancelled.state == Import.State.CANCELLED
    assert Book.objects.using("default").count() == 0


def test_finished_job_is_on_its_owners_next_page_with_replay_paused(
    importer, cluster, worker_factory, django_user_model
):
    other_user = django_user_model.objects.create_superuser("other", "o@x.org", "pw")
    other = Client()
    other.force_login(other_user)
    cluster.wait_for_replay()
    cluster.pause_replay()
    try:
        # Lag in time grows while replay is paused: not what this is about.
        worker_factory(REPLICA_MAX_LAG_SECONDS="3600")
        job = submit(importer, books_csv(JOB_ROWS + 1))

        def job_page_says_done() -> bool:
            page = importer.get(f"/admin/bulk/import/{job.pk}/change/")
            return b'data-state="done"' in page.content

        eventually(job_page_says_done, what="the job page to say done")
        mine = importer.get(BOOKS_URL)
        theirs = other.get(BOOKS_URL)
    finally:
        cluster.resume_replay()
    assert mine.context["cl"].result_count == JOB_ROWS + 1
    assert theirs.context["cl"].result_count == 0  # the replica, still paused


def test_small_upload_merges_in_the_request_without_a_job(importer, cluster):
    upload = SimpleUploadedFile("books.csv", books_csv(10), content_type="text/csv")
    previewed = importer.post(
        f"{BOOKS_URL}import/", {"import_file": upload, "format": "0"}
    )
    confirmed = importer.post(
        f"{BOOKS_URL}process_import/", previewed.context["confirm_form"].initial
    )
    assert confirmed.url.endswith(BOOKS_URL)
    assert Book.objects.using("default").count() == 10


def test_progress_reporter_stops_cleanly(db):
    """Its stop event was called `_stop`, the name of Thread's own method
    that join() calls: every job ended in a TypeError, its task failed."""
    reporter = jobs.Reporter(upload_id=0)
    reporter.start()
    reporter.stop()
    assert not reporter.is_alive()


def test_cancel_is_recorded_under_the_merges_lock(importer):
    """A cancelled merge records its end in its own transaction: between the
    rollback and a second transaction the job looked as if its worker had
    died, and a page read then showed it failed."""
    from console.bulk import pipeline, spec

    upload = pipeline.stage(
        spec=spec.for_model(Book),
        stream=io.BytesIO(books_csv(300)),
        owner_id=None,
        file_name="books.csv",
    )

    def cancel_after_the_first_batch(done: int) -> None:
        raise pipeline.Cancelled

    ended = pipeline.merge(
        spec=spec.for_model(Book),
        upload=upload,
        batch_rows=100,
        between_batches=cancel_after_the_first_batch,
    )
    assert ended is not None and ended.state == Import.State.CANCELLED
    assert current(upload).state == Import.State.CANCELLED
    assert Book.objects.using("default").count() == 0


def test_throttled_job_holds_no_row_that_an_editor_saves(
    importer, cluster, worker_factory
):
    """A job waiting for a lagging replica has updated none of the existing
    rows it will update (updates come last, unpaced): an editor saving one
    of them is not kept waiting on the job's row lock."""
    kept = Book.objects.create(title="Kept", author=Author.objects.get(name="Author 1"))
    updates = [f"{kept.pk},From the file,Author 1,2001-02-03,"]
    new = [f",Book {n},Author {n % 5},2001-02-03,978{n:07d}" for n in range(JOB_ROWS)]
    content = "\n".join(["id,title,author,published,isbn", *updates, *new]) + "\n"
    cluster.wait_for_replay()
    cluster.pause_replay()
    saved: list[int] = []
    try:
        worker_factory(**LAGGING)
        waiting_for_the_replica(submit(importer, content.encode()))

        def save() -> None:
            response = importer.post(
                f"{BOOKS_URL}{kept.pk}/change/",
                {
                    "title": "Typed by an editor",
                    "author": kept.author_id,
                    "published": "",
                    "isbn": "",
                    "_save": "1",
                },
            )
            saved.append(response.status_code)

        editor = threading.Thread(target=save)
        editor.start()
        editor.join(5)  # the old job held the row until replay resumed
        finished_in_time = not editor.is_alive()
    finally:
        cluster.resume_replay()
    editor.join()
    assert finished_in_time and saved == [302], saved


def test_worker_outlives_a_primary_outage(importer, cluster, pooler, worker_factory):
    """With the primary stopped for a few seconds an idle worker stays up
    (django-tasks' loop re-raised the connection error and the process
    exited), and a job submitted afterwards runs."""
    worker = worker_factory()
    eventually(
        lambda: "Starting worker" in worker.log_path.read_text(), what="the start"
    )
    cluster.stop("primary")
    try:
        eventually(
            lambda: (
                worker.process.poll() is not None
                or "lost the database" in worker.log_path.read_text()
            ),
            timeout=20,
            what="the worker to meet the outage",
        )
    finally:
        cluster.start("primary")
        cluster.wait_until_ready("primary")
    assert worker.process.poll() is None, worker.log_path.read_text()
    cluster.wait_for_replay()
    if pooler:
        pooler.wait_until_serving()  # its server connections died too
    # Django's test client skips the per-request connection check
    # (close_old_connections) that a served request makes: this process's
    # connection died with the primary.
    connections.close_all()
    eventually(
        lambda: JobWorker.objects.using("default").exists(), what="its heartbeat"
    )
    job = submit(importer, books_csv(JOB_ROWS + 1))
    done = eventually(lambda: (j := current(job)).finished and j, what="the end")
    assert done.state == Import.State.DONE, done.message


def test_job_of_a_killed_worker_is_failed_by_the_others_heartbeat(
    importer, cluster, worker_factory
):
    """A worker killed mid-merge: another worker's heartbeat marks its job
    failed, in words, without anyone opening the job's page."""
    cluster.pause_replay()
    try:
        doomed = worker_factory(**LAGGING)
        job = waiting_for_the_replica(submit(importer, books_csv(JOB_ROWS + 500)))
        worker_factory()
        doomed.kill()
        failed = marked_failed(job, what="the job marked failed by the live worker")
    finally:
        cluster.resume_replay()
    assert "job worker stopped" in failed.message
    assert Book.objects.using("default").count() == 0


def test_jobs_waiting_with_no_live_worker_are_shown_everywhere(
    importer, cluster, worker_factory, settings
):
    """No worker runs: the queued job is said to be stranded on /readyz,
    /metrics, the dashboard and the Imports list; a worker's heartbeat
    clears it."""
    settings.METRICS_TOKEN = "scrape"
    job = submit(importer, books_csv(JOB_ROWS + 1))
    ready = Client().get("/readyz").json()["jobs"]
    assert ready == {"ok": False, "live_workers": 0, "waiting": 1}
    scraped = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape")
    assert "dbops_job_workers_live 0.0" in scraped.content.decode()
    assert "dbops_jobs_waiting 1.0" in scraped.content.decode()
    dashboard = importer.get("/admin/").content.decode()
    assert 'data-stranded="true"' in dashboard
    assert "1 job waiting and no job worker alive" in dashboard
    listing = importer.get("/admin/bulk/import/").content.decode()
    assert "no job worker alive" in listing

    worker_factory()
    done = eventually(lambda: (j := current(job)).finished and j, what="the end")
    assert done.state == Import.State.DONE
    ready = Client().get("/readyz").json()["jobs"]
    assert ready["ok"] is True and ready["live_workers"] == 1


def test_primary_stopped_under_a_busy_worker_fails_the_job_with_its_reason(
    importer, cluster, pooler, worker_factory
):
    """The primary stops while a job merges: nothing is written, the worker
    stays up, and once the primary is back the job is failed with what
    happened to it (not "the worker stopped"); the next job runs."""
    cluster.pause_replay()
    try:
        worker = worker_factory(**LAGGING)
        job = waiting_for_the_replica(submit(importer, books_csv(JOB_ROWS + 500)))
        cluster.stop("primary")
        eventually(
            lambda: "lost the database" in worker.log_path.read_text(),
            timeout=20,
            what="the worker to meet the outage",
        )
        cluster.start("primary")
        cluster.wait_until_ready("primary")
    finally:
        cluster.resume_replay()
    if pooler:
        pooler.wait_until_serving()
    connections.close_all()  # this process's connection died with the primary
    failed = marked_failed(job, what="the job failed once the primary is back")
    assert worker.process.poll() is None
    assert "refused the import" in failed.message, failed.message
    assert Book.objects.using("default").count() == 0
    cluster.wait_for_replay()
    again = submit(importer, books_csv(JOB_ROWS + 1))
    done = eventually(lambda: (j := current(again)).finished and j, what="the end")
    assert done.state == Import.State.DONE, done.message
