"""Migration status per alias: applied and unapplied migrations, model
changes without a migration, and whether each replica has replayed the
migrations the primary applied.

Migrations run only on the primary (the router allows nothing else); a
replica learns of them by replaying the primary's WAL, including its rows of
`django_migrations`. So "has replica X replayed the latest migration" is
answered by reading that table on X.

Unapplied migrations are also checked for operations that hold a heavy lock
for as long as they scan, rewrite or index a table (`lock_risks`, on
django-migration-linter's rules): harmless on an empty table, an outage on a
big one. How big each table is comes from the one row estimator
(`console.bigtables.rows`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps as global_apps
from django.db import Error
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.questioner import MigrationQuestioner
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState

from console.bigtables.rows import estimated_rows
from dbops import routing
from dbops.ops.lock_risks import LockRisk, lock_risks
from dbops.routing import conf, failover

# Tables estimated at this many rows or more count as big.
BIG_TABLE_ROWS = 100_000

Key = tuple[str, str]  # (app_label, migration_name)


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
    # The SQL of an operation may read the primary's catalog: none when down.
    if unapplied and on_primary is not None:
        risks = lock_risks(loader, unapplied)
        tables = {r.table for found in risks.values() for r in found if r.table}
        sizes = estimated_rows(sorted(tables))
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


# --- Heavy locks (dbops.ops.lock_risks), sized -----------------------------------


def _sized(risk: LockRisk, sizes: dict[str, int | None], big_rows: int) -> LockRisk:
    rows = sizes.get(risk.table) if risk.table else None
    return dataclasses.replace(
        risk, rows=rows, big=rows is not None and rows >= big_rows
    )
