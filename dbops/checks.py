"""System checks for database misconfiguration."""

from __future__ import annotations

from django.core.checks import Error, Warning, register
from django.db import router

from dbops import conf


@register()
def check_replicas(app_configs, **kwargs) -> list:
    messages = []
    replicas = conf.replica_aliases()
    if not replicas:
        messages.append(
            Warning(
                "No read replica is configured: every read goes to the primary.",
                hint="Set DATABASE_REPLICA_URLS, or leave it unset to use the "
                "local cluster's replica.",
                id="dbops.W001",
            )
        )
    for alias in replicas:
        if router.allow_migrate(alias, "dbops"):
            messages.append(
                Error(
                    f"The database router allows migrations on replica '{alias}'.",
                    hint="Replicas are read-only copies of the primary: migrate "
                    "only 'default' (dbops.routing.router.PrimaryReplicaRouter does).",
                    id="dbops.E001",
                )
            )
    return messages
