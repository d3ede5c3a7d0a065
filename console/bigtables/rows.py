"""How many rows a table has, cheaply: the one estimator of the console.

`SELECT count(*)` reads the whole table, which on a million rows costs
seconds on every page that shows a total. The dashboard's cards, the
changelists' "about N" and the migrations page's table sizes all take their
number from `estimated_rows`, so they agree.

The estimate is the smaller of two, both read on the primary (while it
answers: see `estimated_rows`):

- the planner's (`pg_class.reltuples` scaled by the table's current size in
  pages). Updates leave dead row versions behind until a vacuum, so the
  pages grow and this number with them: 59,880 for 20,000 books after two
  whole-table updates.
- the live rows of the statistics (`n_live_tup`), which updates do not move.
  But a backend reports its counts when it goes idle, up to ten seconds late
  (later behind a pooler): right after a TRUNCATE a 30-row table still had
  50,000 live rows there.

The planner's number knows a TRUNCATE at once (no pages, no statistics, so
an exact count), the live rows know updates; each covers the other's blind
spot, and a late report can only make the estimate smaller for a moment,
never a small table look big. Statistics that are empty (never reported, or
reset by a crash) leave the planner's number alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import InterfaceError, OperationalError, connections

from dbops.routing.aliases import PRIMARY

# Below this estimate an exact count is cheap enough for every page view.
EXACT_BELOW = 100_000

ESTIMATE_SQL = """
SELECT relname, (CASE
    WHEN planner IS NULL THEN NULL
    WHEN live + dead = 0 THEN planner
    ELSE least(planner, live)
END)::bigint
FROM (
    SELECT c.relname,
        CASE
            WHEN c.reltuples < 0 THEN NULL
            WHEN c.relpages = 0 THEN c.reltuples
            ELSE c.reltuples / c.relpages
                * (pg_relation_size(c.oid) / current_setting('block_size')::int)
        END AS planner,
        pg_stat_get_live_tuples(c.oid) AS live,
        pg_stat_get_dead_tuples(c.oid) AS dead
    FROM pg_class c
    WHERE c.relkind IN ('r', 'p')
      AND c.relname = ANY(%s)
      AND pg_table_is_visible(c.oid)
) AS tables
"""


@dataclass(frozen=True)
class TableRows:
    table: str
    rows: int
    estimated: bool


def estimated_rows(
    tables: list[str], *, fallback: str | None = None
) -> dict[str, int | None]:
    """The estimated rows per existing table, None where PostgreSQL knows
    nothing yet (a table never written, vacuumed or analyzed since the
    statistics began). Missing tables are left out.

    Read on the primary, whose statistics know updates; while the primary
    does not answer, on `fallback` (the replica serving the page), whose
    planner numbers are the primary's as of its replay: a page that a
    replica can serve must not fail for its count.
    """
    if not tables:
        return {}
    try:
        return _estimate(PRIMARY, tables)
    except (OperationalError, InterfaceError):
        if fallback is None or fallback == PRIMARY:
            raise
    return _estimate(fallback, tables)


def _estimate(alias: str, tables: list[str]) -> dict[str, int | None]:
    with connections[alias].cursor() as cursor:
        cursor.execute(ESTIMATE_SQL, [list(tables)])
        return dict(cursor.fetchall())


def table_rows(
    tables: list[str], *, using: str, exact_below: int = EXACT_BELOW
) -> list[TableRows]:
    """Row counts per table, in the order given: estimated for tables
    estimated at `exact_below` rows or more, counted exactly on `using` for
    the rest. Missing tables are left out."""
    estimates = estimated_rows(tables, fallback=using)
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
