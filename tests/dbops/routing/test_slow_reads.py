"""A replica that answers with a cancel is alive: a slow query or a lock wait
is not a dead replica. The read gets the same limit on the primary and the
user a clear page, never minutes of waiting, never a 500."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest
from django.test import Client

from dbops.routing.monitor import monitor
from tests.waiting import eventually

ROUTING_URLS = "tests.dbops.routing_urls"


@pytest.fixture
def routing_urls(settings):
    settings.ROOT_URLCONF = ROUTING_URLS
    settings.REPLICA_READ_TIMEOUT = 1


def test_slow_query_is_cancelled_on_both_servers_and_marks_nothing_down(
    db, cluster, routing_urls
):
    """A read that takes 3 s: the replica cancels it at the read timeout,
    the primary re-runs it under the same limit and cancels it too; the
    user gets the too-slow page (504) within about twice the limit, and the
    replica keeps serving other reads."""
    started = time.monotonic()
    response = Client().get("/slow/?seconds=3")
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert "This page took too long" in response.content.decode()
    assert elapsed < 2.9, elapsed
    assert not monitor.is_down("replica")
    assert Client().get("/read/").json()["alias"] == "replica"


def test_read_slow_only_on_the_replica_is_served_by_the_primary(
    db, cluster, routing_urls
):
    """Within the limit on the primary, the re-run read answers normally."""
    assert Client().get("/slow/?seconds=0.1").json() == {"rows": 1, "alias": "replica"}


@pytest.fixture
def table_lock(cluster):
    """ACCESS EXCLUSIVE on catalog_author held on the primary (as a careless
    migration takes it) until the test ends or 10 s pass, and replayed on
    the replica."""
    holder = psycopg2.connect(cluster.url("primary", cluster.database))
    released = threading.Event()
    with holder.cursor() as cursor:
        cursor.execute("LOCK TABLE catalog_author IN ACCESS EXCLUSIVE MODE")
    # A commit elsewhere flushes the WAL that holds the lock, and so sends it.
    cluster.execute("primary", "SELECT txid_current()")
    timer = threading.Timer(10, lambda: released.is_set() or holder.rollback())
    timer.start()
    eventually(
        lambda: cluster.execute(
            "replica",
            "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock'"
            " AND relation = 'catalog_author'::regclass",
            database=cluster.database,
        ),
        timeout=10,
        what="the lock replayed on the replica",
    )
    try:
        yield
    finally:
        released.set()
        timer.cancel()
        holder.rollback()
        holder.close()


def test_table_lock_replayed_on_the_replica_is_not_a_dead_replica(
    db, cluster, routing_urls, table_lock
):
    """A read of the locked table waits on the replica until its
    statement_timeout, then on the primary under the same limit: a clear
    page within about twice the limit, and the replica is not marked down
    (it answered)."""
    started = time.monotonic()
    response = Client().get("/read/")
    elapsed = time.monotonic() - started
    assert response.status_code == 504, (response.content[:200], elapsed)
    assert elapsed < 3.5, elapsed
    assert not monitor.is_down("replica")


def test_a_table_lock_shows_on_readyz_and_the_replication_page(
    db, cluster, table_lock, ops_client, settings
):
    """While reads of catalog_author wait on the lock, /readyz and the
    replication page say so: which table, on which server, for how long."""
    waiting = threading.Thread(target=_blocked_read, args=[cluster])
    waiting.start()
    try:
        ready = eventually(
            lambda: Client().get("/readyz").json()["lock_waits"],
            timeout=10,
            what="the lock wait on /readyz",
        )
        tables = {(wait["server"], wait["table"]) for wait in ready}
        assert ("replica", "catalog_author") in tables, ready
        page = ops_client.get("/admin/dbops/replication/").content.decode()
        assert "reads of catalog_author wait on a lock" in page
    finally:
        waiting.join()


def _blocked_read(cluster) -> None:
    """A read of the locked table on the replica, waiting until its own
    statement_timeout (5 s) gives up."""
    try:
        cluster.execute(
            "replica",
            "SET statement_timeout = 5000; SELECT count(*) FROM catalog_author",
            database=cluster.database,
        )
    except psycopg2.Error:
        pass
