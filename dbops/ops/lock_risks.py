"""Which operations of an unapplied migration hold a heavy lock for as long
as they scan, rewrite or index a table: harmless on an empty table, an
outage on a big one.

The rules are django-migration-linter's (maintained, and what `manage.py
lintmigrations` runs in CI elsewhere): each operation's SQL, as `sqlmigrate`
would print it, goes through the linter's PostgreSQL analyser. This module
adds only what the page needs around it: which lock each finding takes and
what it blocks, the table it concerns (whose size the page shows), and two
checks the linter does not have (below, `ConsoleAnalyser`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django_migration_linter.sql_analyser import PostgresqlAnalyser
from django_migration_linter.sql_analyser.analyser import analyse_sql_statements
from django_migration_linter.sql_analyser.base import Check, CheckMode, CheckType

from dbops.routing.aliases import PRIMARY

Key = tuple[str, str]  # (app_label, migration_name)

INDEX_LOCK = "SHARE: blocks writes while the index builds"
HELD_INDEX_LOCK = (
    "ACCESS EXCLUSIVE, taken earlier in the same transaction: blocks reads and "
    "writes while the index builds"
)
DROP_INDEX_LOCK = "ACCESS EXCLUSIVE: blocks reads and writes of the table"
UNIQUE_LOCK = "ACCESS EXCLUSIVE: blocks reads and writes while the unique index builds"
REWRITE_LOCK = (
    "ACCESS EXCLUSIVE: a type change blocks reads and writes while the table "
    "is rewritten (widening a varchar does not rewrite)"
)
NOT_NULL_LOCK = (
    "ACCESS EXCLUSIVE: NOT NULL checks every row (a new column without a "
    "default fails on a table with rows, and old code's inserts fail)"
)
FK_LOCK = "SHARE ROW EXCLUSIVE: blocks writes while every row's reference is checked"
CHECK_LOCK = "ACCESS EXCLUSIVE: blocks reads and writes while every row is checked"

# The linter's finding -> the lock it means. Its other findings (dropping or
# renaming a table or column) are quick catalog changes, about old code
# during a deploy rather than locks, and are left to the linter itself.
LOCK_OF = {
    "CREATE_INDEX": INDEX_LOCK,
    "CREATE_INDEX_EXCLUSIVE": HELD_INDEX_LOCK,
    "DROP_INDEX": DROP_INDEX_LOCK,
    "REINDEX": DROP_INDEX_LOCK,
    "ADD_UNIQUE": UNIQUE_LOCK,
    "ADD_UNIQUE_COLUMN": UNIQUE_LOCK,
    "ALTER_COLUMN": REWRITE_LOCK,
    "NOT_NULL": NOT_NULL_LOCK,
    "ADD_FOREIGN_KEY": FK_LOCK,
    "ADD_CHECK": CHECK_LOCK,
}


def _whole_table_check(code: str, pattern: str, message: str) -> Check:
    """A linter check (one statement at a time) for a regular expression."""
    regex = re.compile(pattern, re.I)
    return Check(
        code=code,
        fn=lambda sql, **kwargs: bool(regex.search(sql)),
        message=message,
        mode=CheckMode.ONE_LINER,
        type=CheckType.WARNING,
    )


class ConsoleAnalyser(PostgresqlAnalyser):
    # Written here because the linter has no check for them (it looks at
    # backward compatibility first): each holds a lock while it reads or
    # indexes the whole table. A constraint added NOT VALID, then validated
    # with VALIDATE CONSTRAINT, would not block.
    migration_checks = [
        *PostgresqlAnalyser.migration_checks,
        _whole_table_check(
            "ADD_FOREIGN_KEY",
            r"^ALTER TABLE .*(FOREIGN KEY|REFERENCES)(?!.*NOT VALID)",
            "FOREIGN KEY checks every row",
        ),
        _whole_table_check(
            "ADD_CHECK",
            r"^ALTER TABLE .*ADD CONSTRAINT \S+ CHECK\b(?!.*NOT VALID)",
            "CHECK constraint checks every row",
        ),
        _whole_table_check(
            "ADD_UNIQUE_COLUMN",
            r"^ALTER TABLE .*ADD COLUMN .* UNIQUE\b",
            "UNIQUE column builds its index",
        ),
    ]


@dataclass(frozen=True)
class LockRisk:
    """One operation of an unapplied migration that locks a table heavily."""

    operation: str  # Django's own description of the operation
    table: str | None
    lock: str  # which lock, and what it blocks for how long
    code: str = ""  # the linter's name for the finding
    rows: int | None = None  # the table's estimated rows (None: unknown)
    big: bool = False


def operation_sql(operation, app: str, before: ProjectState) -> list[str]:
    """The operation's SQL as `sqlmigrate` prints it (nothing is run; the
    schema editor may read the catalog). Empty for Python operations."""
    if not operation.reduces_to_sql:
        return []
    after = before.clone()
    operation.state_forwards(app, after)
    with connections[PRIMARY].schema_editor(collect_sql=True, atomic=False) as editor:
        operation.database_forwards(app, editor, before, after)
    return [sql for sql in editor.collected_sql if not sql.startswith("--")]


_TABLE = re.compile(r'(?:TABLE|ON)\s+(?:ONLY\s+)?"?(\w+)"?', re.I)
_CREATED = re.compile(r'CREATE TABLE\s+"?(\w+)"?', re.I)


def operation_risks(
    operation, app: str, before: ProjectState, *, atomic: bool = True
) -> list[LockRisk]:
    """The heavy locks one operation takes, given the project state before
    it; in an atomic migration, locks are held until its end."""
    statements = operation_sql(operation, app, before)
    if not statements:
        return []
    if atomic:
        statements = ["BEGIN;", *statements]
    errors, _, warnings = analyse_sql_statements(ConsoleAnalyser, statements)
    tables = [m.group(1) for sql in statements if (m := _TABLE.search(sql))]
    created = {m.group(1) for sql in statements if (m := _CREATED.match(sql))}
    issues = [*errors, *warnings]
    if any(issue.code == "CREATE_INDEX_EXCLUSIVE" for issue in issues):
        # The same index, under the heavier lock: say that one only.
        issues = [issue for issue in issues if issue.code != "CREATE_INDEX"]
    risks = []
    for issue in issues:
        table = issue.table or next(iter(tables), None)
        # A table made by the same operation is empty: nothing to wait for.
        if issue.code in LOCK_OF and table not in created:
            risks.append(
                LockRisk(operation.describe(), table, LOCK_OF[issue.code], issue.code)
            )
    return risks


def lock_risks(loader: MigrationLoader, keys: list[Key]) -> dict[Key, list[LockRisk]]:
    """The heavy-lock operations of each migration, each from the project
    state just before it (so that an AlterField knows the field it changes)."""
    found: dict[Key, list[LockRisk]] = {}
    for key in keys:
        migration = loader.graph.nodes[key]
        state = loader.project_state(key, at_end=False)
        risks = []
        for operation in migration.operations:
            before = state.clone()
            operation.state_forwards(key[0], state)
            risks.extend(
                operation_risks(operation, key[0], before, atomic=migration.atomic)
            )
        if risks:
            found[key] = risks
    return found
