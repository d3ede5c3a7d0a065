"""The faults that real replicas have, on the real pair: two tabs sharing a
cookie jar, a replica cut off from its primary, a promoted replica, a hung
replica, recovery conflicts, a replica connection that dies between two
queries of a request. Each holds the promise of DESIGN.md's routing rules."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.db import connections
from django.test import Client, RequestFactory

from catalog.models import Author
from console.bigtables.rows import table_rows
from dbops import routing
from dbops.routing import consistency, rule
from dbops.routing.monitor import monitor
from tests.waiting import eventually

ROUTING_URLS = "tests.dbops.routing_urls"


@pytest.fixture
def routing_urls(settings):
    settings.ROOT_URLCONF = ROUTING_URLS


def _apply_like_a_browser(jar: Client, response) -> None:
    """Store a response's cookies as a browser does: a cookie with
    max-age 0 is removed, any other replaces the one of its name."""
    for name, morsel in response.cookies.items():
        if morsel["max-age"] in (0, "0"):
            jar.cookies.pop(name, None)
        else:
            jar.cookies[name] = morsel.value


def _tab_of(jar: Client) -> Client:
    """A second tab: a client that sends the jar's cookies as they are now."""
    tab = Client()
    tab.cookies.load({name: morsel.value for name, morsel in jar.cookies.items()})
    return tab


def _position_of(jar: Client) -> int | None:
    request = RequestFactory().get("/")
    request.COOKIES = {name: morsel.value for name, morsel in jar.cookies.items()}
    return consistency.read_token(request)


# --- 1. two tabs ---------------------------------------------------------------


def test_two_tabs_late_read_response_keeps_the_newer_write(db, cluster, routing_urls):
    """Tab A holds a position the replica has replayed and loads a page;
    meanwhile tab B writes with replay paused. Tab A's late response must
    not erase B's position: B's next page still shows B's write."""
    browser = Client()
    browser.post("/write/", {"name": "first"})
    cluster.wait_for_replay()
    tab_a = _tab_of(browser)
    slow_page = tab_a.get("/read/")  # answered before B writes, arrives after
    assert slow_page.json()["alias"] == "replica"

    cluster.pause_replay()
    browser.post("/write/", {"name": "second"})  # tab B
    _apply_like_a_browser(browser, slow_page)

    page = browser.get("/read/").json()
    assert "second" in page["names"]
    assert page["alias"] == "default"


def test_two_tabs_late_write_response_does_not_lower_the_position(
    db, cluster, routing_urls
):
    """Tab A's write response arrives after tab B's newer write response:
    the client's position stays at B's write."""
    browser = Client()
    cluster.pause_replay()
    tab_a = _tab_of(browser)
    late = tab_a.post("/write/", {"name": "from tab A"})
    browser.post("/write/", {"name": "from tab B"})
    newer = _position_of(browser)
    _apply_like_a_browser(browser, late)

    assert _position_of(browser) == newer
    assert _position_of(tab_a) < newer
    assert "from tab B" in browser.get("/read/").json()["names"]


# --- 2. a replica cut off from its primary ----------------------------------------


def test_cut_off_replica_serves_no_reads_once_over_the_limits(
    db, cluster, settings, routing_urls, admin_client
):
    """With the replica's primary_conninfo pointed at a dead port, it has
    replayed all it received, yet it falls behind the primary: once past
    REPLICA_MAX_LAG_SECONDS it serves no reads, and /readyz shows the lag."""
    settings.REPLICA_MAX_LAG_SECONDS = 1
    with cluster.cut_off("replica"):
        Author.objects.create(name="written after the cut")
        state = monitor.refresh().replicas["replica"]
        assert state.receive_position == state.replay_position  # all it got
        assert state.lag_bytes > 0
        eventually(
            lambda: monitor.refresh().verdict("replica").reason == rule.LAG_SECONDS,
            timeout=20,
            what="the cut-off replica over the time limit",
        )

        page = Client().get("/read/").json()
        assert page == {"names": ["written after the cut"], "alias": "default"}
        ready = Client().get("/readyz").json()["databases"]["replica"]
        assert ready["serving"] is False
        assert ready["lag_seconds"] > 1
        assert ready["lag_bytes"] > 0
        assert state.receiving is False
        settings.ROOT_URLCONF = "console.urls"
        page = admin_client.get("/admin/dbops/replication/").content.decode()
        assert "not receiving WAL" in page
        assert "s behind, limit 1.0 s" in page
    cluster.wait_for_replay()
    settings.ROOT_URLCONF = ROUTING_URLS
    assert Client().get("/read/").json()["alias"] == "replica"


def test_cut_off_replica_over_byte_limit_in_a_process_that_never_wrote(
    db, cluster, settings, routing_urls
):
    """Byte lag is measured against the primary's current position, not the
    highest one this process happened to see: a process that never wrote
    still leaves a cut-off replica out."""
    settings.REPLICA_MAX_LAG_BYTES = 4096
    with cluster.cut_off("replica"):
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "INSERT INTO catalog_author (name, bio, country, created_at) "
                "SELECT 'cut ' || n, repeat('x', 200), '', now() "
                "FROM generate_series(1, 200) AS n"
            )
        routing.reset()  # as a fresh worker: no position of its own seen
        page = Client().get("/read/").json()
        assert page["alias"] == "default"
        assert len(page["names"]) == 200
        assert monitor.snapshot().verdict("replica").reason == rule.LAG_BYTES


# --- 3. a promoted replica ------------------------------------------------------------


def test_promoted_replica_serves_no_reads(second_replica, cluster, routing_urls):
    """After pg_promote() on replica_2 it no longer follows the primary:
    no read goes to it, and /readyz and the verdict say why."""
    try:
        cluster.promote("replica_2")
        served = {Client().get("/read/").json()["alias"] for _ in range(20)}
        assert served == {"replica"}
        verdict = monitor.snapshot().verdict("replica_2")
        assert verdict.reason == rule.PROMOTED
        assert "promoted" in verdict.detail
        ready = Client().get("/readyz").json()["databases"]["replica_2"]
        assert ready["serving"] is False and ready["ok"] is False
    finally:
        connections["replica_2"].close()
        cluster.rebuild("replica_2")


# --- 4. a hung replica --------------------------------------------------------------


def _timed(call, limit: float):
    """Run `call` in a thread; its result and how long it took. Fails (and
    does not wait on) a call that is still running after `limit`."""
    outcome: dict = {}

    def run():
        started = time.monotonic()
        try:
            outcome["result"] = call()
        except BaseException as exc:  # reported in the test's own thread
            outcome["error"] = exc
        finally:
            outcome["seconds"] = time.monotonic() - started
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"still waiting after {limit} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"], outcome["seconds"]


@pytest.mark.parametrize("check_interval", [0, 60], ids=["probe", "steady-state"])
def test_hung_replica_costs_at_most_the_read_timeout(
    db, cluster, settings, routing_urls, check_interval
):
    """With the replica's processes stopped (SIGSTOP), a read waits no more
    than about REPLICA_READ_TIMEOUT, is served by the primary and marks the
    replica down; the next reads do not wait at all. Both when the hang is
    met by the probe and when the shared state still says "serving" and
    the read itself meets it."""
    settings.REPLICA_READ_TIMEOUT = 1
    settings.REPLICA_CHECK_INTERVAL = check_interval
    Author.objects.create(name="Ursula")
    cluster.wait_for_replay()

    def read():
        # A warm persistent connection, as a worker has, then the hang.
        assert Client().get("/read/").json()["alias"] == "replica"
        with cluster.frozen("replica"):
            started = time.monotonic()
            first = Client().get("/read/").json()
            first_seconds = time.monotonic() - started
            started = time.monotonic()
            second = Client().get("/read/").json()
            return first, first_seconds, second, time.monotonic() - started

    (first, first_seconds, second, second_seconds), _ = _timed(read, limit=15)
    assert first == {"names": ["Ursula"], "alias": "default"}
    assert first_seconds < 1 + 0.75
    assert second == first
    assert second_seconds < 0.5
    assert monitor.is_down("replica")


# --- 5. recovery conflicts ------------------------------------------------------


@pytest.fixture
def conflicting_replica(db, cluster):
    """A replica that cancels its readers as soon as replay needs a lock
    they hold (max_standby_streaming_delay = 0)."""
    cluster.set_replica_conf("replica", "max_standby_streaming_delay", "0")
    yield
    cluster.set_replica_conf("replica", "max_standby_streaming_delay", None)


def test_recovery_conflict_is_served_by_the_primary(
    conflicting_replica, cluster, captured
):
    """A replica read cancelled by a recovery conflict (SQLSTATE 40001) is
    re-run on the primary, which never has one; the replica is not marked
    down for it."""
    Author.objects.create(name="Le Guin")
    cluster.wait_for_replay()
    sql = "SELECT (SELECT count(*) FROM catalog_author), pg_sleep(1.5)"

    def slow_replica_read():
        with connections["replica"].cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0], cursor.db.alias

    results: dict = {}
    reader = threading.Thread(
        target=lambda: results.update(row=_timed(slow_replica_read, limit=20)[0])
    )
    with captured.at_level(logging.WARNING, logger="dbops.routing"):
        reader.start()
        eventually(
            lambda: cluster.execute(
                "replica",
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                "AND query LIKE '%pg_sleep(1.5)%' AND pid <> pg_backend_pid()",
            ),
            timeout=20,
            what="the replica read to start",
        )
        cluster.execute(
            "primary",
            "BEGIN; LOCK TABLE catalog_author IN ACCESS EXCLUSIVE MODE; COMMIT",
            database=cluster.database,
        )
        reader.join(20)
    assert results["row"][0] == 1
    causes = [getattr(r, "cause", None) for r in captured.records]
    assert "recovery-conflict" in causes
    assert not monitor.is_down("replica")


# --- 6. a replica connection that dies between two queries ------------------------


def test_replica_connection_dying_between_two_queries_is_served_by_primary(db, cluster):
    """The dashboard's row count reuses one chosen replica alias for two
    queries; the connection dies before them: the first fails over on
    execute, the second cannot even get a cursor on the dead connection,
    and both are answered by the primary."""
    Author.objects.create(name="Ted Chiang")
    cluster.wait_for_replay()
    alias = routing.read_alias()
    assert alias == "replica"
    assert Author.objects.using(alias).count() == 1  # opens the connection
    cluster.execute(
        "replica",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'console'",
    )
    rows = table_rows(["catalog_author", "catalog_book"], using=alias)
    assert [(r.table, r.rows) for r in rows] == [
        ("catalog_author", 1),
        ("catalog_book", 0),
    ]


def test_primary_outage_is_a_503_that_names_the_primary(db, captured, routing_urls):
    """A 503 means the primary is unreachable, and the log says so."""
    primary = connections["default"]
    port = primary.settings_dict["PORT"]
    primary.close()
    primary.settings_dict["PORT"] = 1
    try:
        with captured.at_level(logging.ERROR, logger="dbops.routing"):
            response = Client().post("/write/", {"name": "lost"})
    finally:
        primary.close()
        primary.settings_dict["PORT"] = port
    assert response.status_code == 503
    [record] = [
        r for r in captured.records if getattr(r, "event", "") == "primary_down"
    ]
    assert record.alias == "default"
