"""The database router: writes to the primary, reads to a replica when safe.

Django asks each router for an alias (or None). This one stays a plain,
cheap class: the decision of which replica may serve a read lives in
`dbops.scope.scope`, which knows the request's state and the replicas'.
"""

from __future__ import annotations

from dbops.routing import scope

# Shared state between worker processes, not a copy of application data: a
# read must see what another worker wrote a moment ago, so it never goes to
# a replica. Django's database cache (`DatabaseCache`), the job queue (a
# worker claims a job with SELECT ... FOR UPDATE, which a standby refuses)
# and the imports' staged rows and progress.
PRIMARY_ONLY_APP_LABELS = frozenset({"django_cache", "django_tasks_database", "bulk"})


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints) -> str:
        if model._meta.app_label in PRIMARY_ONLY_APP_LABELS:
            return scope.PRIMARY
        return scope.read_alias()

    def db_for_write(self, model, **hints) -> str:
        return scope.PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # Every alias holds the same data, so relations may cross them.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == scope.PRIMARY
