"""The set-based SQL of an import, built from its spec: pure functions.

Every statement starts from `staged`, the upload's rows with one cleaned
value per column (formula escapes undone, names and dates trimmed). The
checks are one UNION ALL of small queries, each a rule of spec.py, run in
one statement for the whole file; the merge is one INSERT ... SELECT for new
rows and one UPDATE ... FROM for rows named by id, per batch of record
numbers. The SQL functions bulk_unescape, bulk_repr and bulk_iso_date are
made by the bulk app's migration.

Parameters are psycopg's named ones: %(upload)s, and %(first)s/%(last)s for
a batch.
"""

from __future__ import annotations

from console.bulk.spec import Column, ImportSpec

STAGING_TABLE = "bulk_stagedrow"
ID = r"'^[0-9]{1,18}$'"  # an id that fits a bigint
# Problem rows listed one by one; past this only their number is given.
MAX_LISTED_PROBLEM_ROWS = 1000


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def staging_columns(spec: ImportSpec) -> list[str]:
    cells = [f"c{n}" for n in range(1, len(spec.names) + 1)]
    return ["upload_id", "number", "line", "problem", *cells]


def copy_in(spec: ImportSpec) -> str:
    columns = ", ".join(staging_columns(spec))
    return f"COPY {STAGING_TABLE} ({columns}) FROM STDIN WITH (FORMAT csv)"


def _staged(spec: ImportSpec, *, batch: bool = False) -> str:
    cells = ["NULLIF(btrim(c1), '') AS id"]
    for n, column in enumerate(spec.columns, start=2):
        value = f"bulk_unescape(c{n})"
        if column.by_name or column.date:
            value = f"btrim({value})"
        cells.append(f"{value} AS {q(column.name)}")
    where = "upload_id = %(upload)s"
    if batch:
        where += " AND number BETWEEN %(first)s AND %(last)s"
    return (
        f"staged AS (SELECT number, line, problem, {', '.join(cells)} "
        f"FROM {STAGING_TABLE} WHERE {where})"
    )


# --- checks -------------------------------------------------------------------


def problems(spec: ImportSpec, present: list[str]) -> str:
    """(problem rows, line, column, reason) for the first listed problem rows,
    ordered by line and column; no row when the file has no problem."""
    ctes = [_staged(spec)]
    found = [
        "SELECT line, '' AS col, problem AS reason FROM staged "
        "WHERE problem IS NOT NULL"
    ]
    if "id" in present:
        ctes.append(_first_of("ids", "id::bigint", f"id ~ {ID}", "pk"))
        found += _id_checks(spec)
    for column in spec.columns:
        if column.name in present:
            value = f"staged.{q(column.name)}"
            found += _column_checks(spec, column, value)
            if column.unique_as:
                name = f"first_{column.name}"
                ctes.append(_first_of(name, value, f"{value} <> ''", "value"))
                found += _unique_checks(spec, column, name)
    union = "\nUNION ALL ".join(found)
    return f"""
WITH {", ".join(ctes)},
problems AS ({union}),
listed AS (
    SELECT DISTINCT line FROM problems ORDER BY line LIMIT {MAX_LISTED_PROBLEM_ROWS}
)
SELECT (SELECT count(DISTINCT line) FROM problems), p.line, p.col, p.reason
FROM problems p WHERE p.line IN (SELECT line FROM listed)
ORDER BY p.line, p.col, p.reason"""


def _first_of(name: str, value: str, where: str, alias: str) -> str:
    """Each staged row with `value` and the first line that has the same."""
    return (
        f"{name} AS (SELECT line, id, {value} AS {alias}, "
        f"first_value(line) OVER (PARTITION BY {value} ORDER BY line) AS first "
        f"FROM staged WHERE {where})"
    )


def _id_checks(spec: ImportSpec) -> list[str]:
    return [
        "SELECT line, 'id', format('%%s is not an id (a whole number)', bulk_repr(id)) "
        f"FROM staged WHERE id !~ {ID}",
        "SELECT line, 'id', format('id %%s is also on line %%s', pk, first) "
        "FROM ids WHERE line <> first",
        "SELECT line, 'id', format('there is no %%s with id %%s; leave id empty to "
        "add a new one', %(verbose_name)s::text, pk) FROM ids WHERE line = first "
        f"AND NOT EXISTS (SELECT FROM {q(spec.table)} t WHERE t.id = ids.pk)",
    ]


def _column_checks(spec: ImportSpec, column: Column, value: str) -> list[str]:
    name = f"'{column.name}'"
    found = []
    if column.required:
        message = column.blank_message.replace("'", "''")
        found.append(
            f"SELECT line, {name}, '{message}' FROM staged "
            f"WHERE coalesce({value}, '') = ''"
        )
    if column.max_length:
        limit = column.max_length
        found.append(
            f"SELECT line, {name}, format('Ensure this value has at most {limit} "
            f"characters (it has %%s).', length({value})) "
            f"FROM staged WHERE length({value}) > {limit}"
        )
    if column.date:
        found.append(
            f"SELECT line, {name}, format('%%s is not a date in YYYY-MM-DD form', "
            f"bulk_repr({value})) FROM staged "
            f"WHERE {value} <> '' AND NOT bulk_iso_date({value})"
        )
    if other := column.by_name:
        found.append(
            f"SELECT line, {name}, format('no {other.label} named %%s; import the "
            f"{other.label} first', bulk_repr({value})) FROM staged "
            f"WHERE {value} <> '' AND NOT EXISTS (SELECT FROM {q(other.table)} o "
            f"WHERE o.{q(other.name_column)} = {value})"
        )
    return found


def _unique_checks(spec: ImportSpec, column: Column, firsts: str) -> list[str]:
    name = f"'{column.name}'"
    # An id that is not a valid id is reported by the id checks; here it
    # means "not the owner of the name".
    owner_differs = f"CASE WHEN f.id ~ {ID} THEN f.id::bigint <> t.id ELSE true END"
    return [
        f"SELECT line, {name}, format('%%s is also on line %%s', bulk_repr(value), "
        f"first) FROM {firsts} WHERE line <> first",
        f"SELECT f.line, {name}, format('{column.unique_as} %%s already exists "
        f"(id %%s); put %%s in the id column to update that {spec.verbose_name}', "
        f"bulk_repr(f.value), t.id, t.id) FROM {firsts} f "
        f"JOIN {q(spec.table)} t ON t.{q(column.target)} = f.value "
        f"WHERE f.line = f.first AND {owner_differs}",
    ]


# --- counts and the merge -----------------------------------------------------


def _joins(spec: ImportSpec) -> str:
    joins = []
    for column in spec.columns:
        if other := column.by_name:
            joins.append(
                f"LEFT JOIN {q(other.table)} fk_{column.name} "
                f"ON fk_{column.name}.{q(other.name_column)} = s.{q(column.name)}"
            )
    return " ".join(joins)


def _value(column: Column) -> str:
    """The value written for a column, from staged row `s`."""
    cell = f"s.{q(column.name)}"
    if column.by_name:
        return f"fk_{column.name}.id"
    if column.date:
        return f"NULLIF({cell}, '')::date"
    if column.null_when_blank:
        return f"NULLIF({cell}, '')"
    return f"coalesce({cell}, '')"


def _changed(spec: ImportSpec, present: list[str]) -> str:
    columns = [c for c in spec.columns if c.name in present]
    if not columns:
        return "false"
    old = ", ".join(f"t.{q(c.target)}" for c in columns)
    new = ", ".join(_value(c) for c in columns)
    return f"ROW({old}) IS DISTINCT FROM ROW({new})"


def counts(spec: ImportSpec, present: list[str]) -> str:
    """(new, updated, unchanged) of a file without problems."""
    return f"""
WITH {_staged(spec)}
SELECT count(*) FILTER (WHERE s.id IS NULL),
       count(*) FILTER (WHERE s.id IS NOT NULL AND {_changed(spec, present)}),
       count(*) FILTER (WHERE s.id IS NOT NULL AND NOT {_changed(spec, present)})
FROM staged s LEFT JOIN {q(spec.table)} t ON t.id = s.id::bigint {_joins(spec)}"""


def insert(spec: ImportSpec) -> str:
    """The batch's new rows (no id), in file order."""
    targets = [q(c.target) for c in spec.columns] + [
        q(name) for name in spec.insert_defaults
    ]
    values = [_value(c) for c in spec.columns] + list(spec.insert_defaults.values())
    return f"""
WITH {_staged(spec, batch=True)}
INSERT INTO {q(spec.table)} ({", ".join(targets)})
SELECT {", ".join(values)} FROM staged s {_joins(spec)}
WHERE s.id IS NULL ORDER BY s.number"""


def update(spec: ImportSpec, present: list[str]) -> str | None:
    """The batch's rows named by id, only the file's columns, only if changed."""
    columns = [c for c in spec.columns if c.name in present]
    if not columns:
        return None
    assignments = ", ".join(f"{q(c.target)} = {_value(c)}" for c in columns)
    return f"""
WITH {_staged(spec, batch=True)}
UPDATE {q(spec.table)} t SET {assignments}
FROM staged s {_joins(spec)}
WHERE s.id IS NOT NULL AND t.id = s.id::bigint AND {_changed(spec, present)}"""


def preview(spec: ImportSpec, present: list[str], rows: int) -> str:
    """The first `rows` staged rows: line, kind (new, update, unchanged) and the
    file's columns."""
    cells = ", ".join(f"s.{q(name)}" for name in present)
    return f"""
WITH {_staged(spec)}
SELECT s.line,
       CASE WHEN s.id IS NULL THEN 'new'
            WHEN {_changed(spec, present)} THEN 'update' ELSE 'unchanged' END,
       {cells}
FROM staged s LEFT JOIN {q(spec.table)} t ON t.id = s.id::bigint {_joins(spec)}
ORDER BY s.number LIMIT {rows}"""
