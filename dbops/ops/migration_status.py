"""Migration status per alias: applied and unapplied migrations, model
changes without a migration, and whether each replica has replayed the
migrations the primary applied.

Migrations run only on the primary (the router allows nothing else); a
replica learns of them by replaying the primary's WAL, including its rows of
`django_migrations`. So "has replica X replayed the latest migration" is
answered by reading that table on X.

Unapplied migrations are also checked for operations that hold a heavy lock
for as long as they scan, rewrite or index a table: harmless on an empty
table, an outage on a big one. The estimate of "big" is PostgreSQL's own
(`pg_class.reltuples`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps as global_apps
from django.db import Error, models
from django.db.migrations import operations as ops
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.questioner import MigrationQuestioner
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState

from console.bigtables.rows import estimated_rows
from dbops import routing
from dbops.routing import conf, failover

# Tables estimated at this many rows or more count as big.
BIG_TABLE_ROWS = 100_000

Key = tuple[str, str]  # (app_label, migration_name)


@dataclass(frozen=True)
class LockRisk:
    """One operation of an unapplied migration that locks a table heavily."""

    operation: str  # Django's own description of the operation
    table: str | None
    lock: str  # which lock, and what it blocks for how long
    rows: int | None = None  # the table's estimated rows (None: unknown)
    big: bool = False


@dataclass(frozen=True)
class MigrationRow:
    app: str
    name: str
    applied_at: datetime | None
    # Per replica: has it replayed this migration (None: replica unreachable).
    replayed: dict[str, bool | None] = field(default_factory=dict)
    risks: list[LockRisk] = field(default_factory=list)
    replaces: list[Key] = field(default_factory=list)  # of a squashed migration

    @property
    def applied(self) -> bool:
        return self.applied_at is not None

    @property
    def key(self) -> Key:
        return (self.app, self.name)

    @property
    def big_risks(self) -> list[LockRisk]:
        return [risk for risk in self.risks if risk.big]


@dataclass(frozen=True)
class AppMigrations:
    app: str
    migrations: list[MigrationRow]

    @property
    def applied(self) -> list[MigrationRow]:
        return [row for row in self.migrations if row.applied]

    @property
    def unapplied(self) -> list[MigrationRow]:
        return [row for row in self.migrations if not row.applied]


@dataclass(frozen=True)
class ReplicaMigrations:
    alias: str
    reachable: bool
    replayed_latest: bool | None  # None: unreachable, or nothing applied yet
    behind: list[Key]  # applied on the primary, not (yet) on this replica


@dataclass(frozen=True)
class MigrationStatus:
    primary_up: bool
    apps: list[AppMigrations]
    latest_applied: MigrationRow | None
    replicas: list[ReplicaMigrations]
    # app label -> descriptions of the operations `makemigrations` would
    # write; None when not checked.
    pending_changes: dict[str, list[str]] | None
    conflicts: dict[str, list[str]]
    big_table_rows: int = BIG_TABLE_ROWS

    @property
    def unapplied(self) -> list[MigrationRow]:
        return [row for app in self.apps for row in app.unapplied]

    @property
    def risky(self) -> list[MigrationRow]:
        """Unapplied migrations with a heavy lock on a big table."""
        return [row for row in self.unapplied if row.big_risks]


def applied_migrations(using: str) -> dict[Key, datetime] | None:
    """`django_migrations` as seen on `using`: {(app, name): applied}. Empty
    before the first migrate; None if the database cannot be reached.
    Read on `using` itself: a replica that fails is reported, not quietly
    answered for by the primary."""
    try:
        with failover.disabled():
            rows = (
                MigrationRecorder.Migration.objects.using(using)
                .order_by("id")
                .values_list("app", "name", "applied")
            )
            # In the order applied: one `migrate` gives many rows the same time.
            return {(app, name): applied for app, name, applied in rows}
    except Error as exc:
        if _missing_table(exc):
            return {}
        return None


def _missing_table(exc: Error) -> bool:
    return getattr(exc.__cause__, "pgcode", None) == "42P01"  # undefined_table


def migration_status(
    *,
    check_changes: bool = True,
    big_table_rows: int = BIG_TABLE_ROWS,
    primary: str = routing.PRIMARY,
) -> MigrationStatus:
    """The migration status of the primary and every replica.

    Costs one query per alias (its `django_migrations`), and one more on the
    primary when there are unapplied migrations (table size estimates).
    `check_changes` also runs makemigrations' autodetector, which reads no
    database but takes a moment on a big project.
    """
    loader = MigrationLoader(None, ignore_no_migrations=True)
    on_primary = applied_migrations(primary)
    applied = on_primary or {}
    replica_rows = {
        alias: applied_migrations(alias) for alias in conf.replica_aliases()
    }

    rows: dict[Key, MigrationRow] = {}
    for key in sorted(loader.graph.nodes):
        migration = loader.graph.nodes[key]
        applied_at = _applied_at(key, migration, applied)
        rows[key] = MigrationRow(
            app=key[0],
            name=key[1],
            applied_at=applied_at,
            replaces=[(app, name) for app, name in getattr(migration, "replaces", [])],
            replayed={
                alias: None
                if seen is None
                else _applied_at(key, migration, seen) is not None
                for alias, seen in replica_rows.items()
            },
        )

    unapplied = [key for key, row in rows.items() if not row.applied]
    if unapplied:
        risks = _lock_risks(loader, unapplied)
        sizes = (
            estimated_rows(
                sorted({r.table for found in risks.values() for r in found if r.table})
            )
            if on_primary is not None
            else {}
        )
        for key, found in risks.items():
            rows[key].risks.extend(
                _sized(risk, sizes, big_table_rows) for risk in found
            )

    latest = _latest_applied(list(rows.values()), order=list(applied))
    by_app: dict[str, list[MigrationRow]] = {}
    for row in rows.values():
        by_app.setdefault(row.app, []).append(row)
    return MigrationStatus(
        primary_up=on_primary is not None,
        apps=[AppMigrations(app, by_app[app]) for app in sorted(by_app)],
        latest_applied=latest,
        replicas=[
            _replica_state(alias, seen, rows, latest)
            for alias, seen in replica_rows.items()
        ],
        pending_changes=pending_changes(loader) if check_changes else None,
        conflicts=loader.detect_conflicts(),
        big_table_rows=big_table_rows,
    )


def _applied_at(key: Key, migration, applied: dict[Key, datetime]) -> datetime | None:
    if key in applied:
        return applied[key]
    # A squashed migration counts as applied once everything it replaces is.
    replaced = getattr(migration, "replaces", None) or []
    if replaced and all(tuple(old) in applied for old in replaced):
        return max(applied[tuple(old)] for old in replaced)
    return None


def _latest_applied(rows: list[MigrationRow], order: list[Key]) -> MigrationRow | None:
    """The migration applied last (by its row's position in django_migrations;
    a squashed one by the last of those it replaces)."""
    position = {key: index for index, key in enumerate(order)}
    applied = [row for row in rows if row.applied]
    return max(applied, key=lambda row: _position(row, position), default=None)


def _position(row: MigrationRow, position: dict[Key, int]) -> int:
    if row.key in position:
        return position[row.key]
    return max((position.get(old, -1) for old in row.replaces), default=-1)


def _replica_state(
    alias: str,
    seen: dict[Key, datetime] | None,
    rows: dict[Key, MigrationRow],
    latest: MigrationRow | None,
) -> ReplicaMigrations:
    if seen is None:
        return ReplicaMigrations(
            alias, reachable=False, replayed_latest=None, behind=[]
        )
    behind = [
        key for key, row in rows.items() if row.applied and not row.replayed[alias]
    ]
    return ReplicaMigrations(
        alias,
        reachable=True,
        replayed_latest=None if latest is None else bool(latest.replayed[alias]),
        behind=behind,
    )


def pending_changes(loader: MigrationLoader | None = None) -> dict[str, list[str]]:
    """What `makemigrations --check` would report: per app, the operations
    of the migrations it would write for model changes that have none."""
    loader = loader or MigrationLoader(None, ignore_no_migrations=True)
    autodetector = MigrationAutodetector(
        loader.project_state(),
        ProjectState.from_apps(global_apps),
        # The base questioner never prompts or exits, and answers as
        # makemigrations would when it cannot ask (e.g. no default for a
        # new NOT NULL field: the change is still reported).
        MigrationQuestioner(specified_apps=set(), dry_run=True),
    )
    changes = autodetector.changes(graph=loader.graph)
    return {
        app: [op.describe() for migration in migrations for op in migration.operations]
        for app, migrations in sorted(changes.items())
    }


# --- Heavy locks ----------------------------------------------------------------

INDEX_LOCK = "SHARE: blocks writes while the index builds"
UNIQUE_LOCK = "ACCESS EXCLUSIVE: blocks reads and writes while the index builds"
REWRITE_LOCK = "ACCESS EXCLUSIVE: blocks reads and writes while the table is rewritten"
SCAN_LOCK = "ACCESS EXCLUSIVE: blocks reads and writes while every row is checked"
FK_LOCK = "SHARE ROW EXCLUSIVE: blocks writes while every row's reference is checked"
NOT_NULL_NO_DEFAULT = (
    "ACCESS EXCLUSIVE: a NOT NULL column without a default fails on a table "
    "that has rows"
)
RAW_INDEX_LOCK = (
    "SHARE: CREATE INDEX without CONCURRENTLY blocks writes while it builds"
)
RAW_ALTER_LOCK = "ACCESS EXCLUSIVE: ALTER TABLE in raw SQL; check what it does"

_RAW_INDEX = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)(?:IF\s+NOT\s+EXISTS\s+)?"
    r"\S+\s+ON\s+(?:ONLY\s+)?\"?(\w+)\"?",
    re.IGNORECASE,
)
_RAW_ALTER = re.compile(
    r"ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?\"?(\w+)\"?", re.I
)


def _lock_risks(loader: MigrationLoader, keys: list[Key]) -> dict[Key, list[LockRisk]]:
    """The heavy-lock operations of each migration, from the project state
    just before it (so that an AlterField knows the field it changes)."""
    found: dict[Key, list[LockRisk]] = {}
    for key in keys:
        migration = loader.graph.nodes[key]
        state = loader.project_state(key, at_end=False)
        risks = []
        for operation in migration.operations:
            before = state.clone()
            operation.state_forwards(key[0], state)
            risks.extend(operation_risks(operation, key[0], before))
        if risks:
            found[key] = risks
    return found


def _table(state: ProjectState, app: str, model_name: str) -> str | None:
    model = state.models.get((app, model_name.lower()))
    if model is None:
        return None
    return model.options.get("db_table") or f"{app}_{model_name.lower()}"


def _field(state: ProjectState, app: str, model_name: str, name: str):
    model = state.models.get((app, model_name.lower()))
    return None if model is None else model.fields.get(name)


def operation_risks(operation, app: str, before: ProjectState) -> list[LockRisk]:
    """The heavy locks one migration operation takes, given the state before
    it. Operations that only touch the catalog (a rename, a nullable column,
    a constant default on PostgreSQL 11+) are quick and not listed."""
    from django.contrib.postgres import operations as pg_ops

    describe = operation.describe()

    def risk(lock: str, model_name: str | None = None, table: str | None = None):
        if table is None and model_name is not None:
            table = _table(before, app, model_name)
        return LockRisk(describe, table, lock)

    if isinstance(
        operation, pg_ops.AddIndexConcurrently | pg_ops.RemoveIndexConcurrently
    ):
        return []
    if isinstance(operation, ops.AddIndex):
        return [risk(INDEX_LOCK, operation.model_name)]
    if isinstance(operation, ops.AddConstraint):
        # AddConstraint's attributes are missing from django-stubs.
        constraint = operation.constraint  # type: ignore[attr-defined]
        model_name: str = operation.model_name  # type: ignore[attr-defined]
        if isinstance(constraint, models.CheckConstraint):
            return [risk(SCAN_LOCK, model_name)]
        return [risk(UNIQUE_LOCK, model_name)]
    if isinstance(operation, ops.AlterUniqueTogether):
        old = before.models.get((app, operation.name_lower))
        old_sets = set(old.options.get("unique_together", ())) if old else set()
        if set(operation.option_value or ()) - old_sets:
            return [risk(UNIQUE_LOCK, operation.name)]
        return []
    if isinstance(operation, ops.AddField):
        return _added_field_risks(operation.field, risk, operation.model_name)
    if isinstance(operation, ops.AlterField):
        old = _field(before, app, operation.model_name, operation.name)
        return _altered_field_risks(old, operation.field, risk, operation.model_name)
    if isinstance(operation, ops.RunSQL):
        return _raw_sql_risks(operation.sql, risk)
    return []


def _added_field_risks(new, risk, model_name: str) -> list[LockRisk]:
    found = []
    has_default = (
        new.has_default() or new.has_db_default() or getattr(new, "auto_now", False)
    ) or getattr(new, "auto_now_add", False)
    if not new.null and not has_default and not new.many_to_many:
        found.append(risk(NOT_NULL_NO_DEFAULT, model_name))
    if new.is_relation and new.many_to_one and new.db_constraint:
        found.append(risk(FK_LOCK, model_name))
    if (new.unique or new.db_index) and not new.primary_key and not new.many_to_many:
        found.append(risk(UNIQUE_LOCK, model_name))
    return found


def _altered_field_risks(old, new, risk, model_name: str) -> list[LockRisk]:
    if old is None:
        return []
    found = []
    if _rewrites(old, new):
        found.append(risk(REWRITE_LOCK, model_name))
    elif old.null and not new.null:
        found.append(risk(SCAN_LOCK, model_name))
    if (new.unique and not old.unique) or (new.db_index and not old.db_index):
        found.append(risk(UNIQUE_LOCK, model_name))
    if (
        new.is_relation
        and new.many_to_one
        and new.db_constraint
        and not (old.is_relation and old.db_constraint)
    ):
        found.append(risk(FK_LOCK, model_name))
    return found


def _rewrites(old, new) -> bool:
    """Would changing the column from `old` to `new` rewrite the table?
    Widening a varchar or turning it into text does not; other type changes
    and narrowing do."""
    old_type, new_type = old.get_internal_type(), new.get_internal_type()
    if old_type != new_type:
        return not (old_type == "CharField" and new_type == "TextField")
    if old_type == "CharField":
        return (new.max_length or 0) < (
            old.max_length or 0
        ) and new.max_length is not None
    if old_type == "DecimalField":
        return (old.max_digits, old.decimal_places) != (
            new.max_digits,
            new.decimal_places,
        )
    return False


def _raw_sql_risks(sql, risk) -> list[LockRisk]:
    statements = sql if isinstance(sql, list | tuple) else [sql]
    found = []
    for statement in statements:
        text = statement[0] if isinstance(statement, list | tuple) else statement
        if not isinstance(text, str):
            continue
        for match in _RAW_INDEX.finditer(text):
            found.append(risk(RAW_INDEX_LOCK, table=match.group(1)))
        for match in _RAW_ALTER.finditer(text):
            found.append(risk(RAW_ALTER_LOCK, table=match.group(1)))
    return found


def _sized(risk: LockRisk, sizes: dict[str, int | None], big_rows: int) -> LockRisk:
    rows = sizes.get(risk.table) if risk.table else None
    return LockRisk(
        risk.operation,
        risk.table,
        risk.lock,
        rows=rows,
        big=rows is not None and rows >= big_rows,
    )
