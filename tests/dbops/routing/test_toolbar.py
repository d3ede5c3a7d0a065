"""The development toolbar's Routing panel: each query of a page with the
alias that served it and why, on the real pair."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test import Client, RequestFactory

from catalog.models import Author
from dbops import routing
from dbops.routing.toolbar import recording

ROUTING_URLS = "tests.dbops.routing_urls"


@pytest.fixture
def routing_urls(settings):
    settings.ROOT_URLCONF = ROUTING_URLS


def _reads(queries, table: str = "catalog_author"):
    return [q for q in queries if f'FROM "{table}"' in q.sql]


def test_a_read_on_the_replica_says_it_may_serve(db, cluster, routing_urls):
    cluster.wait_for_replay()
    with recording() as queries:
        Client().get("/read/")
    [read] = _reads(queries)
    assert read.alias == "replica"
    assert read.why.startswith("a replica that may serve: ")
    assert read.milliseconds > 0


def test_a_read_after_an_unreplayed_write_says_why_the_primary(
    db, cluster, routing_urls
):
    client = Client()
    cluster.pause_replay()
    try:
        client.post("/write/", {"name": "Mine"})
        routing.reset()
        with recording() as queries:
            assert client.get("/read/").json()["alias"] == "default"
    finally:
        cluster.resume_replay()
    [read] = _reads(queries)
    assert read.alias == "default"
    assert read.why.startswith("no replica may serve (replica: ")
    assert "write" in read.why  # the client's own write is not replayed there


def test_a_write_says_it_is_a_write(db, routing_urls):
    with recording() as queries:
        Client().post("/write/", {"name": "Written"})
    [insert] = [q for q in queries if q.sql.startswith("INSERT")]
    assert (insert.alias, insert.why) == (
        "default",
        "a write: writes go to the primary",
    )


class _Toolbar:
    """What a panel asks of django-debug-toolbar's toolbar: where to keep
    its figures (the toolbar itself needs the app installed)."""

    request_id = "test"

    def __init__(self) -> None:
        self.stats: dict = {}
        self.store = self

    def save_panel(self, request_id, panel_id, data) -> None:
        pass


def test_panel_shows_each_query_and_why(db, cluster, routing_urls):
    """The panel's page and its line in the toolbar, for a request that
    read a replica."""
    from dbops.routing.toolbar import RoutingPanel

    cluster.wait_for_replay()
    request = RequestFactory().get("/read/")
    panel = RoutingPanel(_Toolbar(), lambda request: Client().get("/read/"))
    panel.process_request(request)
    html = panel.content
    assert 'data-routed-alias="replica"' in html
    assert "a replica that may serve" in html
    assert "replica " in panel.nav_subtitle  # queries per alias


def test_a_failed_replica_read_says_the_primary_served_it(db, cluster):
    """The replica's connection is gone between two reads (closed under the
    client, which a pooler would not hide): the primary serves the read,
    and the panel says why."""
    Author.objects.create(name="Ted Chiang")
    cluster.wait_for_replay()
    assert routing.read_alias() == "replica"
    assert Author.objects.count() == 1  # opens the replica's connection
    connections["replica"].connection.close()
    with recording() as queries:
        assert Author.objects.count() == 1
    [served] = [q for q in queries if 'FROM "catalog_author"' in q.sql]
    assert served.alias == "default"
    assert served.why == "replica failed in this request: served by the primary"
