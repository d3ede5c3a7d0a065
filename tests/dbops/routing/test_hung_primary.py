"""A hung primary (every process SIGSTOPped) does not hang the console:
one round trip waits for its deadline, then the primary is remembered as
not answering for PRIMARY_RETRY_SECONDS; replica reads go on at the
replica's speed, writes and /readyz answer 503 at once."""

from __future__ import annotations

import threading
import time

from django.test import Client

from catalog.models import Author
from dbops.routing import outage
from dbops.routing.monitor import monitor


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_hung_primary_costs_one_deadline_then_nothing(
    db, cluster, settings, admin_client
):
    settings.ROOT_URLCONF = "tests.dbops.routing_urls"
    settings.REPLICA_READ_TIMEOUT = 1
    settings.PRIMARY_RETRY_SECONDS = 30  # the whole test: no retry in it
    Author.objects.create(name="before the hang")
    cluster.wait_for_replay()
    monitor.refresh()
    hung, release = threading.Event(), threading.Event()

    def hang() -> None:
        with cluster.frozen("primary"):  # SIGCONT in its finally
            hung.set()
            release.wait(20)  # the old code waits for the whole hang

    freezer = threading.Thread(target=hang)
    freezer.start()
    try:
        hung.wait(10)
        reads = [_timed(lambda: Client().get("/read/")) for _ in range(3)]
        write, write_took = _timed(lambda: Client().post("/write/", {"name": "x"}))
        ready, ready_took = _timed(lambda: Client().get("/readyz"))
        settings.ROOT_URLCONF = "console.urls"
        books, books_took = _timed(lambda: admin_client.get("/admin/catalog/book/"))
    finally:
        release.set()
        freezer.join()
        outage.forget()  # as after the back-off: the primary answers again
    for response, _ in reads:
        assert response.json() == {"names": ["before the hang"], "alias": "replica"}
    assert reads[0][1] < 2.5, reads  # one health check's deadline
    assert max(took for _, took in reads[1:]) < 0.5, reads  # remembered
    assert write.status_code == 503 and write_took < 0.5, write_took
    assert ready.status_code == 503 and ready_took < 0.5, ready_took
    assert ready.json()["databases"]["default"]["ok"] is False
    # A changelist the replica can serve, its row estimate included.
    assert books.status_code == 200 and books_took < 1, books_took


def test_readyz_says_503_when_the_primary_hangs_within_the_check_interval(
    db, cluster, settings
):
    """The shared state, checked a moment before the primary froze, says it
    is up; /readyz's own queries then meet the hang: it answers 503, not 200
    (the PgBouncer pass of the drill caught it)."""
    settings.REPLICA_CHECK_INTERVAL = 60
    settings.REPLICA_READ_TIMEOUT = 1
    settings.PRIMARY_RETRY_SECONDS = 30
    monitor.refresh()
    hung, release = threading.Event(), threading.Event()

    def hang() -> None:
        with cluster.frozen("primary"):  # SIGCONT in its finally
            hung.set()
            release.wait(20)

    freezer = threading.Thread(target=hang)
    freezer.start()
    try:
        hung.wait(10)
        ready = Client().get("/readyz")
    finally:
        release.set()
        freezer.join()
        outage.forget()
    assert ready.status_code == 503
    assert ready.json()["databases"]["default"]["ok"] is False
