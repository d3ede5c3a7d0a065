"""How many rows a table has, cheaply: the one estimator of the console.

`SELECT count(*)` reads the whole table, which on a million rows costs
seconds on every page that shows a total. The dashboard's cards, the
changelists' "about N" and the migrations page's table sizes all take their
number from `estimated_rows`, so they agree.

The estimate is the live-row count that the primary's statistics keep
(`pg_stat_user_tables.n_live_tup`): every insert adds to it and every
delete takes from it as the transaction commits, and an update changes
nothing, as it should. The planner's own estimate (`pg_class.reltuples`
scaled by the table's current size in pages) is what this replaced: an
update leaves the old row version behind until VACUUM, so after two updates
of every row the table has three times the pages and the planner's method
says three times the rows. The statistics live only on the server that
takes the writes (a standby's counters do not follow replay), so they are
read on the primary: a catalog read that costs a fraction of a millisecond.
After a crash the statistics start empty; until the table sees its first
write or VACUUM the planner's estimate is used instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections

from dbops.routing.aliases import PRIMARY

# Below this estimate an exact count is cheap enough for every page view.
EXACT_BELOW = 100_000

ESTIMATE_SQL = """
SELECT c.relname, (CASE
    WHEN s.n_tup_ins + s.n_tup_del + s.vacuum_count + s.autovacuum_count
        + s.analyze_count + s.autoanalyze_count > 0 THEN s.n_live_tup
    WHEN c.reltuples < 0 THEN NULL
    WHEN c.relpages = 0 THEN c.reltuples
    ELSE c.reltuples / c.relpages
        * (pg_relation_size(c.oid) / current_setting('block_size')::int)
END)::bigint
FROM pg_class c
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
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
