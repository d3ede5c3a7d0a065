"""The router's static rules: writes and migrations on the primary only."""

from __future__ import annotations

from django.core.checks import run_checks
from django.core.management import call_command
from django.db import router

from catalog.models import Author


def test_router_sends_writes_to_default(db):
    """Every write goes to the primary."""
    assert router.db_for_write(Author) == "default"


def test_router_allows_migrations_only_on_default():
    """allow_migrate is False for every replica alias."""
    assert router.allow_migrate("default", "catalog")
    assert not router.allow_migrate("replica", "catalog")
    assert not router.allow_migrate("replica_2", "catalog")


def test_migrate_never_touches_replica(db, query_log):
    """Running migrate runs no statement on the replica."""
    call_command("migrate", verbosity=0, interactive=False)
    assert query_log.entries, "migrate ran no statement at all"
    assert {alias for alias, _ in query_log.entries} == {"default"}


def test_checks_flag_replica_allowed_to_migrate(settings):
    """dbops.E001 when a router lets a replica migrate; none with ours."""
    assert "dbops.E001" not in {message.id for message in run_checks()}
    # Django's setting_changed handler reloads the routers.
    settings.DATABASE_ROUTERS = ["tests.dbops.routing.test_router.MigrateEverywhere"]
    assert "dbops.E001" in {message.id for message in run_checks()}


class MigrateEverywhere:
    def allow_migrate(self, db, app_label, **hints):
        return True


def test_database_cache_reads_primary(db, query_log):
    """The database cache is shared between workers: its reads go to the
    primary, so a value one worker just set is there for the next."""
    from django.core.cache import cache

    cache.set("routing-probe", "fresh", 60)
    query_log.clear()
    assert cache.get("routing-probe") == "fresh"
    assert query_log.aliases("console_cache") == {"default"}
