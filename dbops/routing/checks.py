"""System checks for database misconfiguration."""

from __future__ import annotations

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import router

from dbops.routing import conf


@register()
def check_replicas(app_configs, **kwargs) -> list:
    messages: list[CheckMessage] = []
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


# Fresh connections per replica alias that the database check opens.
SPREAD_PROBES = 6


@register(Tags.database)
def check_one_server_per_replica(app_configs, databases=None, **kwargs) -> list:
    """dbops.W002: a replica alias whose connections reach several servers
    (a pooler or load balancer spreading it), so that what the router
    measures is not where the reads go. Run by `check --database` and
    `migrate`."""
    from dbops.routing import probes

    messages = []
    for alias in conf.replica_aliases():
        if not databases or alias not in databases:
            continue  # a database check runs only where asked to
        servers = {probes.server_of(alias) for _ in range(SPREAD_PROBES)}
        servers.discard(None)
        if len(servers) > 1:
            messages.append(
                Warning(
                    f"Replica alias '{alias}' reaches {len(servers)} different "
                    "servers: the router measures one and reads from another.",
                    hint="List each replica in DATABASE_REPLICA_URLS as its own "
                    "alias; a pooler must send one alias to exactly one server.",
                    id="dbops.W002",
                )
            )
    return messages
