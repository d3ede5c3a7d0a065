"""Fixtures for the dbops tests: which alias served each query."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from django.db import connections

from dbops.health import PROBE_SQL


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
        return [alias for alias, sql in self.entries if sql == PROBE_SQL]


@pytest.fixture
def query_log(db):
    log = QueryLog()
    with ExitStack() as stack:
        for alias in connections:
            stack.enter_context(connections[alias].execute_wrapper(log))
        yield log
