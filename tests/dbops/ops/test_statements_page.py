"""The Statements page: pg_stat_statements of each server, read on the
server itself, next to the console's own counts per alias; a stopped
replica and a missing extension are said, not errors."""

from __future__ import annotations

import re

from django.db import connections

from dbops import routing
from dbops.ops import server_statements
from dbops.routing import conf

URL = "/admin/dbops/statements/"


def _cards(html: str) -> dict[str, str]:
    """Each server's card, by alias."""
    parts = re.split(r'data-statements-alias="([^"]+)"', html)[1:]
    return dict(zip(parts[::2], parts[1::2], strict=True))


def _run(alias: str, sql: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)


def _reset_statistics() -> None:
    """Statements that differ only in constants, names or comments are one
    entry, shown with the text first seen: start from an empty list so that
    the test's own text is the one kept."""
    for alias in ("default", "replica"):
        _run(alias, "SELECT pg_stat_statements_reset()")


def test_each_server_shows_its_own_statements(ops_client):
    _reset_statistics()
    # Slow enough to be among the top 20 by time whatever else ran.
    _run(
        "default",
        "SELECT count(*) AS marker_on_the_primary FROM generate_series(1, 300000)",
    )
    _run(
        "replica",
        "SELECT count(*) AS marker_on_the_replica FROM generate_series(1, 300000)",
    )
    response = ops_client.get(URL)
    assert response.status_code == 200
    cards = _cards(response.content.decode())
    assert list(cards) == ["default", *conf.replica_aliases()]
    assert "marker_on_the_primary" in cards["default"]
    assert "marker_on_the_primary" not in cards["replica"]
    assert "marker_on_the_replica" in cards["replica"]
    assert "marker_on_the_replica" not in cards["default"]
    assert "data-statements-problem" not in cards["default"]


def test_statement_figures_are_the_servers(db):
    _reset_statistics()
    # A statement of its own shape: PostgreSQL counts statements that differ
    # only in constants as one (a connection check's SELECT 1 among them).
    counted = "SELECT count(*) FROM pg_class WHERE relname = 'counted_three_times'"
    for _ in range(3):
        _run("replica", counted)
    replica = server_statements.top_statements("replica", limit=500)
    [statement] = [
        s for s in replica.statements if "FROM pg_class WHERE relname" in s.query
    ]
    assert statement.calls == 3
    assert statement.rows == 3
    assert statement.total_ms >= statement.mean_ms > 0


def test_stopped_replica_is_said_and_the_primary_still_shown(ops_client, cluster):
    cluster.stop("replica")
    try:
        routing.reset()
        response = ops_client.get(URL)
        assert response.status_code == 200
        cards = _cards(response.content.decode())
        assert "down:" in cards["replica"]
        assert "data-statement" in cards["default"]
    finally:
        cluster.start("replica")
        cluster.wait_until_ready("replica")
        routing.reset()


def test_missing_extension_says_what_to_run(ops_client, cluster):
    _run("default", "DROP EXTENSION pg_stat_statements")
    try:
        cluster.wait_for_replay()
        cards = _cards(ops_client.get(URL).content.decode())
        for alias in ("default", "replica"):
            assert "CREATE EXTENSION pg_stat_statements" in cards[alias]
    finally:
        _run("default", "CREATE EXTENSION pg_stat_statements")
        cluster.wait_for_replay()


def test_statements_page_needs_the_operations_permission(plain_staff_client):
    assert plain_staff_client.get(URL).status_code == 403
