"""django-debug-toolbar's Routing panel (development only, settings'
DEBUG_TOOLBAR): for each query of the page, the alias that served it and
why, next to the toolbar's own SQL panel."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict

from debug_toolbar.panels import Panel
from django.db import connections

from dbops.routing.explain import RoutedQuery, why_here


@contextmanager
def recording() -> Iterator[list[RoutedQuery]]:
    """Every query of the block on this thread, with its alias and why."""
    queries: list[RoutedQuery] = []

    def record(execute, sql, params, many, context):
        alias = context["connection"].alias
        last = queries[-1] if queries else None
        if last and last.failed and last.sql == sql and last.alias != alias:
            # The failover's retry (dbops.routing.failover), right after.
            why = f"{last.alias} failed this read: served by the primary"
        else:
            why = why_here(alias, sql)
        started = time.perf_counter()
        failed = False
        try:
            return execute(sql, params, many, context)
        except Exception as exc:
            failed = True
            why += f"; failed ({type(exc).__name__})"
            raise
        finally:
            milliseconds = (time.perf_counter() - started) * 1000
            queries.append(RoutedQuery(alias, sql, milliseconds, why, failed))

    with ExitStack() as stack:
        for alias in connections:
            stack.enter_context(connections[alias].execute_wrapper(record))
        yield queries


class RoutingPanel(Panel):
    title = "Routing"
    template = "dbops/toolbar/routing.html"

    @property
    def nav_subtitle(self) -> str:
        counts = self.get_stats().get("by_alias", {})
        return ", ".join(f"{alias} {count}" for alias, count in counts.items())

    def process_request(self, request):
        with recording() as queries:
            response = super().process_request(request)
        self.record_stats(
            {
                "queries": [asdict(query) for query in queries],
                "by_alias": dict(Counter(query.alias for query in queries)),
            }
        )
        return response
