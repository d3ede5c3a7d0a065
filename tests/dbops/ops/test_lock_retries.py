"""`migrate` under a lock timeout with retries, and its word about replicas
far behind, on the real pair."""

from __future__ import annotations

import io
import threading
from contextlib import contextmanager

import psycopg2
import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder

from dbops import routing
from dbops.models import LagSample
from dbops.ops import lock_retries
from tests.dbops.ops.test_migration_status import probe_app  # noqa: F401
from tests.waiting import eventually


def test_schedule_doubles_up_to_the_longest():
    attempts = lock_retries.schedule(0.1, 8, longest=1.0)
    assert [a.lock_timeout for a in attempts] == [0.1, 0.2, 0.4, 0.8, 1, 1, 1, 1]
    assert all(a.pause == a.lock_timeout for a in attempts)


class ThreadOutput(io.StringIO):
    """A command's output that another thread reads while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            return super().write(text)

    def text(self) -> str:
        with self.lock:
            return self.getvalue()


@pytest.fixture
def widget_table(db, probe_app, cluster):  # noqa: F811
    """opsprobe's table made by its first migration; the second (an index,
    which waits for writers) left to the test; all undone afterwards."""
    with probe_app:
        call_command("migrate", "opsprobe", "0001", verbosity=0)
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT current_database()")  # a pooler renames it
            [name] = cursor.fetchone()
        try:
            yield cluster.url("primary", name)
        finally:
            call_command("migrate", "opsprobe", "zero", verbosity=0)


def _writer_holding(url: str):
    """A transaction that has written to the table and stays open."""
    holder = psycopg2.connect(url)
    holder.cursor().execute("LOCK TABLE opsprobe_widget IN ROW EXCLUSIVE MODE")
    return holder


def _applied(name: str) -> bool:
    return (
        MigrationRecorder.Migration.objects.using("default")
        .filter(app="opsprobe", name=name)
        .exists()
    )


def _in_thread(*args: str, stdout=None, stderr=None) -> tuple[threading.Thread, dict]:
    """`manage.py migrate ...` on a thread of its own: a migration that
    queued for its lock (as one without a lock timeout does) cannot hang
    the test, which ends the blocking transaction after a while."""
    outcome: dict = {}

    def migrate():
        try:
            call_command("migrate", *args, verbosity=1,
                         stdout=stdout or io.StringIO(), stderr=stderr)  # fmt: skip
            outcome["done"] = True
        except Exception as exc:  # asserted by the test
            outcome["error"] = exc
        finally:
            connections.close_all()

    runner = threading.Thread(target=migrate)
    runner.start()
    return runner, outcome


def _writing() -> None:
    """A write on the primary, for the paused replica to fall behind on."""
    LagSample.objects.create(
        alias="lag-maker", taken_at="2000-01-01T00:00:00Z", reachable=True
    )


def test_migration_behind_a_long_transaction_gives_up_cleanly(widget_table, settings):
    """It waits for its lock only a moment per attempt, so the queries after
    it never queue behind it; after the last attempt it says what holds it
    and nothing of it is applied."""
    settings.MIGRATION_LOCK_TIMEOUT = 0.05
    settings.MIGRATION_LOCK_ATTEMPTS = 3
    holder = _writer_holding(widget_table)
    errors = ThreadOutput()
    runner, outcome = _in_thread("opsprobe", "0002", stderr=errors)
    try:
        eventually(lambda: not runner.is_alive(), timeout=30, what="migrate to end")
    finally:
        holder.close()
        runner.join(timeout=60)
    assert "could not take its locks in 3 attempts" in str(outcome.get("error"))
    assert errors.text().count("rolled back; attempt") == 2
    assert not _applied("0002_widget_name_index")


def test_migration_retries_until_the_transaction_ends(widget_table, settings):
    settings.MIGRATION_LOCK_TIMEOUT = 0.05
    settings.MIGRATION_LOCK_ATTEMPTS = 8  # 0.05 s doubling: some 12 s in all
    holder = _writer_holding(widget_table)
    errors = ThreadOutput()
    runner, outcome = _in_thread("opsprobe", "0002", stderr=errors)
    try:
        eventually(lambda: "rolled back" in errors.text(), timeout=30,
                   what="a first attempt to time out")  # fmt: skip
    finally:
        holder.close()
        runner.join(timeout=60)
    assert outcome == {"done": True}
    assert _applied("0002_widget_name_index")


@contextmanager
def replica_behind(cluster, settings):
    """The replica over the lag limit (replay paused behind a write) for the
    block, then replaying again."""
    settings.REPLICA_MAX_LAG_BYTES = 1
    cluster.pause_replay()
    try:
        _writing()
        routing.reset()
        yield
    finally:
        cluster.resume_replay()
        routing.reset()


def test_migrate_says_which_replica_is_far_behind(db, cluster, settings):
    errors = io.StringIO()
    with replica_behind(cluster, settings):
        call_command("migrate", stderr=errors, stdout=io.StringIO(), verbosity=1)
    assert "Warning: replica:" in errors.getvalue()
    assert "serves no reads until then" in errors.getvalue()


def test_migrate_waits_for_a_replica_to_catch_up(db, cluster, settings):
    out, errors = ThreadOutput(), ThreadOutput()
    with replica_behind(cluster, settings):
        runner, outcome = _in_thread(
            "--wait-for-replicas", "60", stdout=out, stderr=errors
        )
        try:
            eventually(lambda: "Waiting up to 60 s for: replica" in out.text(),
                       timeout=30, what="migrate to wait")  # fmt: skip
        finally:
            cluster.resume_replay()
            runner.join(timeout=60)
    assert outcome == {"done": True}
    assert "Warning" not in errors.text()
