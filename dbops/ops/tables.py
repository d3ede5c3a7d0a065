"""Row counts that stay cheap on big tables.

`SELECT count(*)` reads the whole table, which on a million-row table costs
seconds on every dashboard view. PostgreSQL keeps an estimate in
`pg_class.reltuples` (refreshed by VACUUM and ANALYZE): tables it says are
big get the estimate, small ones an exact count, all in two queries.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections

# Below this estimate an exact count is cheap enough for every page view.
EXACT_BELOW = 100_000


@dataclass(frozen=True)
class TableRows:
    table: str
    rows: int
    estimated: bool


def estimated_rows(tables: list[str], *, using: str) -> dict[str, int | None]:
    """`pg_class.reltuples` per existing table, None where PostgreSQL has no
    estimate yet (never vacuumed or analyzed). Missing tables are left out."""
    if not tables:
        return {}
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.reltuples::bigint
            FROM pg_class c
            WHERE c.relkind IN ('r', 'p')
              AND c.relname = ANY(%s)
              AND pg_table_is_visible(c.oid)
            """,
            [list(tables)],
        )
        return {name: (rows if rows >= 0 else None) for name, rows in cursor}


def table_rows(
    tables: list[str], *, using: str, exact_below: int = EXACT_BELOW
) -> list[TableRows]:
    """Row counts per table, in the order given: estimated for tables that
    PostgreSQL estimates at `exact_below` rows or more, exact for the rest.
    Missing tables are left out."""
    estimates = estimated_rows(tables, using=using)
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
