"""How many rows a table has, cheaply: the one estimator of the console.

`SELECT count(*)` reads the whole table, which on a million rows costs
seconds on every page that shows a total. The dashboard's cards, the
changelists' "about N" and the migrations page's table sizes all take their
number from `estimated_rows`, so they agree.

The estimate is the planner's (`pg_class.reltuples` scaled by the table's
current size in pages), read on the primary. The primary's live-row
statistics (`n_live_tup`) would not be inflated by updates, but they reach
the statistics up to ten seconds late from pooled connections, which made
small tables read as big after a TRUNCATE; see issue 13's note.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections

from dbops.routing.aliases import PRIMARY

# Below this estimate an exact count is cheap enough for every page view.
EXACT_BELOW = 100_000

ESTIMATE_SQL = """
SELECT c.relname, (CASE
    WHEN c.reltuples < 0 THEN NULL
    WHEN c.relpages = 0 THEN c.reltuples
    ELSE c.reltuples / c.relpages
        * (pg_relation_size(c.oid) / current_setting('block_size')::int)
END)::bigint
FROM pg_class c
WHERE c.relkind IN ('r', 'p')
  AND c.relname = ANY(%s)
  AND pg_table_is_visible(c.oid)
"""


@dataclass(frozen=True)
class TableRows:
    table: str
    rows: int
    estimated: bool


def estimated_rows(tables: list[str]) -> dict[str, int | None]:
    """The estimated rows per existing table, None where PostgreSQL knows
    nothing yet (a table never written, vacuumed or analyzed since the
    statistics began). Missing tables are left out."""
    if not tables:
        return {}
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute(ESTIMATE_SQL, [list(tables)])
        return dict(cursor.fetchall())


def table_rows(
    tables: list[str], *, using: str, exact_below: int = EXACT_BELOW
) -> list[TableRows]:
    """Row counts per table, in the order given: estimated for tables
    estimated at `exact_below` rows or more, counted exactly on `using` for
    the rest. Missing tables are left out."""
    estimates = estimated_rows(tables)
    exact = [
        table
        for table, estimate in estimates.items()
        if estimate is None or estimate < exact_below
    ]
    counts: dict[str, int] = {}
    if exact:
        quote = connections[using].ops.quote_name
        columns = ", ".join(f"(SELECT count(*) FROM {quote(t)})" for t in exact)
        with connections[using].cursor() as cursor:
            cursor.execute(f"SELECT {columns}")
            counts = dict(zip(exact, cursor.fetchone(), strict=True))
    result = []
    for table in tables:
        estimate = estimates.get(table)
        if table in counts:
            result.append(TableRows(table, counts[table], estimated=False))
        elif estimate is not None:
            result.append(TableRows(table, estimate, estimated=True))
    return result
