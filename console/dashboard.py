"""The admin index as a dashboard: record counts for every staff member and,
for those with the operations permission, replica state and lag, the
replica share of reads and unapplied migrations."""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import DatabaseError, router
from django.urls import NoReverseMatch, reverse

from console.bigtables.rows import table_rows
from dbops.ops import jobqueue, metrics, migration_status, permissions, replication

# What the dashboard counts, in this order; models that do not exist (yet)
# are left out.
COUNTED_MODELS = ["catalog.Author", "catalog.Book", "notes.Note", "auth.User"]


@dataclass(frozen=True)
class RecordCount:
    label: str
    rows: int
    estimated: bool
    url: str


@dataclass(frozen=True)
class Dashboard:
    records: list[RecordCount]
    # The rest is None for staff without the operations permission.
    replicas: replication.ReplicaNow | None = None
    totals: metrics.QueryTotals | None = None
    recent: metrics.RecentShare | None = None
    unapplied: list[migration_status.MigrationRow] | None = None
    jobs: jobqueue.JobQueue | None = None


def record_counts(model_labels: list[str] = COUNTED_MODELS) -> list[RecordCount]:
    """Rows per model: exact for small tables, `pg_class.reltuples` for big
    ones (see console.bigtables.rows), read where the router sends reads."""
    models = []
    for label in model_labels:
        try:
            models.append(apps.get_model(label))
        except LookupError:
            continue
    if not models:
        return []
    using = router.db_for_read(models[0])
    try:
        counted = table_rows([m._meta.db_table for m in models], using=using)
    except DatabaseError:
        return []
    by_table = {entry.table: entry for entry in counted}
    result = []
    for model in models:
        entry = by_table.get(model._meta.db_table)
        if entry is not None:
            result.append(
                RecordCount(
                    label=str(model._meta.verbose_name_plural).capitalize(),
                    rows=entry.rows,
                    estimated=entry.estimated,
                    url=_changelist_url(model),
                )
            )
    return result


def _changelist_url(model) -> str:
    try:
        return reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
        )
    except NoReverseMatch:
        return ""


def dashboard(*, ops: bool) -> Dashboard:
    if not ops:
        return Dashboard(records=record_counts())
    return Dashboard(
        records=record_counts(),
        replicas=replication.replicas_now(),
        totals=metrics.query_totals(),
        recent=metrics.recent_replica_share(),
        unapplied=migration_status.migration_status(check_changes=False).unapplied,
        jobs=jobqueue.job_queue(),
    )


def dashboard_callback(request, context: dict) -> dict:
    context["dashboard"] = dashboard(ops=permissions.can_view_ops(request))
    return context
