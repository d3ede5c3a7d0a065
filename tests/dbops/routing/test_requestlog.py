"""Structured logs: one JSON line per request, and routing events."""

from __future__ import annotations

import json
import logging
import time

from django.test import Client

from dbops.routing.monitor import monitor

ROUTING_URLS = "tests.dbops.routing_urls"


def _json_lines(caplog, logger: str) -> list[dict]:
    """The records of `logger`, formatted by the project's JSON formatter."""
    formatter = next(
        handler.formatter
        for handler in logging.getLogger(logger).handlers
        if handler is not caplog.handler
    )
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.name == logger
    ]


def test_requestlog_one_json_line_per_request(db, settings, captured, cluster):
    """Each request logs method, path, status, duration, per-alias query
    counts and where its reads went; a write's follow-up read says why it
    went to the primary."""
    settings.ROOT_URLCONF = ROUTING_URLS
    client = Client()
    cluster.pause_replay()
    with captured.at_level(logging.INFO, logger="dbops.requests"):
        client.post("/write/", {"name": "Clarice Lispector"})
        client.get("/read/")
        Client().get("/read/")
    write, own_read, other_read = _json_lines(captured, "dbops.requests")

    assert write["method"] == "POST" and write["path"] == "/write/"
    assert write["status"] == 200 and write["duration_ms"] > 0
    assert write["route"] == {"alias": "default", "reason": "method"}
    assert write["queries"]["default"]["writes"] == 1
    assert own_read["route"] == {"alias": "default", "reason": "own-write-not-replayed"}
    assert own_read["queries"]["default"]["reads"] == 1
    assert other_read["route"] == {"alias": "replica", "reason": "replica"}
    # The routing probe is monitoring, not counted: the read alone.
    assert other_read["queries"]["replica"]["reads"] == 1


def test_requestlog_replica_down_and_up_events(db, cluster, captured, settings):
    """A replica that stops answering logs one `replica_down` event, and one
    `replica_up` when it answers again."""
    settings.REPLICA_RETRY_SECONDS = 0.2
    settings.REPLICA_READ_TIMEOUT = 1
    with captured.at_level(logging.INFO, logger="dbops.routing"):
        cluster.stop("replica")
        try:
            assert not monitor.refresh().replicas["replica"].reachable
            time.sleep(0.3)  # past the retry time: probed, and down again
            assert not monitor.refresh().replicas["replica"].reachable
        finally:
            cluster.start("replica")
        cluster.wait_until_ready("replica")
        deadline = time.monotonic() + 15
        while not monitor.refresh().replicas["replica"].reachable:
            assert time.monotonic() < deadline, "the replica never came back"
            time.sleep(0.3)  # the retry time, and a pooler's login retry
    events = [line["event"] for line in _json_lines(captured, "dbops.routing")]
    assert events == ["replica_down", "replica_up"]
