"""Fixtures for the dbops tests: which alias served each query."""

from __future__ import annotations

import logging
from contextlib import ExitStack

import pytest
from django.db import connections

from dbops.routing.probes import PRIMARY_SQL, REPLICA_SQL


class QueryLog:
    """Every statement run on any alias while active, as (alias, sql)."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def __call__(self, execute, sql, params, many, context):
        self.entries.append((context["connection"].alias, sql))
        return execute(sql, params, many, context)

    def clear(self) -> None:
        self.entries.clear()

    def aliases(self, like: str) -> set[str]:
        """Aliases that ran a statement containing `like` (case-insensitive)."""
        return {alias for alias, sql in self.entries if like.lower() in sql.lower()}

    def probes(self) -> list[str]:
        """Aliases probed by the routing monitor."""
        return [alias for alias, sql in self.entries if sql == REPLICA_SQL]

    def primary_checks(self) -> int:
        return sum(1 for _, sql in self.entries if sql == PRIMARY_SQL)


@pytest.fixture
def query_log(db):
    log = QueryLog()
    with ExitStack() as stack:
        for alias in connections:
            stack.enter_context(connections[alias].execute_wrapper(log))
        yield log


def _configure_replicas(settings, cluster, roles: list[str]):
    """Configure the test pair's extra standbys as aliases for one test."""
    from tests.settings import test_database

    for role in roles:
        config = dict(settings.DATABASES["replica"])
        config["PORT"], config["NAME"] = test_database(role)
        settings.DATABASES[role] = config
        cluster.resume_replay(role)
        cluster.wait_for_replay(role)
    yield
    for role in roles:
        connections[role].close()
        del connections[role]
        del settings.DATABASES[role]
        if cluster.is_running(role):
            cluster.resume_replay(role)


@pytest.fixture
def second_replica(db, cluster, settings):
    """Configure `replica_2` (the test pair's second standby) for one test."""
    yield from _configure_replicas(settings, cluster, ["replica_2"])


@pytest.fixture
def three_replicas(db, cluster, settings):
    """`replica`, `replica_2` and `replica_3`, all configured."""
    yield from _configure_replicas(settings, cluster, ["replica_2", "replica_3"])


@pytest.fixture
def captured(caplog):
    """caplog for the two JSON loggers, which do not propagate to the root."""
    loggers = [logging.getLogger(name) for name in ("dbops.requests", "dbops.routing")]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    yield caplog
    for logger in loggers:
        logger.removeHandler(caplog.handler)
