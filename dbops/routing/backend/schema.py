"""The schema editor of the console's backend: an atomic migration's
transaction starts with the lock timeout of the attempt under way
(dbops.ops.lock_retries), so that it gives way rather than queue."""

from __future__ import annotations

from django.db.backends.postgresql.schema import (
    DatabaseSchemaEditor as PostgresSchemaEditor,
)

from dbops.ops import lock_retries


class DatabaseSchemaEditor(PostgresSchemaEditor):
    def __enter__(self):
        editor = super().__enter__()
        seconds = lock_retries.current_lock_timeout()
        # A non-atomic migration (CREATE INDEX CONCURRENTLY) has no
        # transaction to scope the setting; sqlmigrate only prints SQL.
        if seconds and self.atomic_migration and not self.collect_sql:
            self.execute(lock_retries.set_lock_timeout_sql(seconds))
        return editor
