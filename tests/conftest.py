"""Fixtures that cut across the suite: the real PostgreSQL pair and clients.

Every test that touches the database runs against a real primary and a real
streaming replica (see tests/settings.py). Data is committed for real, so
that the replica can see it, and the tables are emptied after each test;
pytest-django's transaction-per-test is not used because a rolled-back
write never reaches the replica.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections

from dbops import routing
from dbops.cluster import Cluster, Pooler
from dbops.routing.monitor import monitor

# The operations pages' clients (staff with and without the dbops permissions).
pytest_plugins = ["tests.dbops.ops_fixtures"]

# Tables that migrations fill and the tests never write.
KEPT_TABLES = {"django_migrations", "django_content_type", "auth_permission"}


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    return Cluster(**settings.TEST_CLUSTER)


@pytest.fixture(scope="session")
def pooler(cluster) -> Pooler | None:
    """The PgBouncer in front of the pair, when the run asks for one."""
    port = settings.TEST_POOLER_PORT
    return Pooler(cluster, port) if port else None


@pytest.fixture(scope="session")
def django_db_setup(cluster, pooler, django_db_blocker):
    """Start the test pair (and its PgBouncer), create a fresh database and
    migrate it."""
    cluster.up()
    for role in cluster.replica_roles:
        cluster.resume_replay(role)
    name = cluster.database
    if pooler:
        pooler.down()  # holds server connections to the database
    cluster.execute("primary", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    cluster.execute("primary", f'CREATE DATABASE "{name}"')
    if pooler:
        pooler.up()
    with django_db_blocker.unblock():
        call_command("migrate", verbosity=0, interactive=False)
        call_command("createcachetable", verbosity=0)  # uploads between import steps
        for alias in connections:
            connections[alias].close()
    cluster.wait_for_replay()
    yield
    with django_db_blocker.unblock():
        connections.close_all()
    if pooler:
        pooler.down()
    cluster.down()


def _truncate_all() -> None:
    tables = sorted(
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and model._meta.db_table not in KEPT_TABLES
    )
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture
def db(django_db_setup, django_db_blocker, cluster, pooler):
    """Database access on the real pair; every table is emptied afterwards.

    Replaces pytest-django's `db`, so its `admin_user`, `admin_client` and
    friends run on the real pair too.
    """
    with django_db_blocker.unblock():
        # Drills kill backends and restart servers: never reuse a connection
        # that an earlier test may have left dead.
        connections.close_all()
        # As a running worker, the test process has watched the replicas
        # caught up: time lag is bounded from what a process has seen, and a
        # process that has seen nothing counts every replica over the limit
        # (rule.lag_seconds). Tests of a fresh process call routing.reset().
        monitor.refresh()
        yield
        connections.close_all()
        for role in cluster.replica_roles:
            if cluster.is_running(role):
                cluster.resume_replay(role)
        if pooler:
            pooler.wait_until_serving()
        _truncate_all()
        cluster.wait_for_replay()
        # Down marks and cached choices are process-wide: start each test clean.
        routing.reset()


@pytest.fixture
def transactional_db(db):
    return db


@pytest.fixture
def admin_client(admin_client, cluster):
    """pytest-django's superuser client, once the replica has its session
    (why: tests/clients.py)."""
    cluster.wait_for_replay()
    return admin_client


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright, one for the whole run.

    Shared here because Playwright's sync API allows one instance per
    thread: a second browser fixture alive at the same time fails.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    # The sync API keeps an event loop on this thread, which Django mistakes
    # for async code; the tests' own queries are plain sync calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
