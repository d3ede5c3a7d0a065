"""django-tasks-db's `db_worker`, under the console's `ResilientWorker`: it
outlives the primary's outages and records a heartbeat (bulk/workers.py)."""

from __future__ import annotations

from django_tasks_db.management.commands import db_worker

from console.bulk.workers import ResilientWorker


class Command(db_worker.Command):
    help = db_worker.Command.help + " (reconnecting, with a heartbeat)"

    def handle(self, *args, **options) -> None:
        original = db_worker.Worker
        db_worker.Worker = ResilientWorker  # type: ignore[misc]
        try:
            super().handle(*args, **options)
        finally:
            db_worker.Worker = original  # type: ignore[misc]
