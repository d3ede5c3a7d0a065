"""Capturing every query on every alias, for query budgets and routing checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from django.db import connections
from django.test.utils import CaptureQueriesContext


@dataclass
class Captured:
    """(alias, sql) of every statement run while the block was open."""

    queries: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.queries)

    def sql(self) -> list[str]:
        return [sql for _, sql in self.queries]

    def matching(self, *fragments: str) -> list[tuple[str, str]]:
        """The queries whose SQL contains every fragment (ignoring case)."""
        return [
            (alias, sql)
            for alias, sql in self.queries
            if all(fragment.lower() in sql.lower() for fragment in fragments)
        ]


@contextmanager
def all_queries() -> Iterator[Captured]:
    captured = Captured()
    with ExitStack() as stack:
        contexts = {
            alias: stack.enter_context(CaptureQueriesContext(connections[alias]))
            for alias in connections
        }
        yield captured
    for alias, context in contexts.items():
        captured.queries += [(alias, query["sql"]) for query in context]
