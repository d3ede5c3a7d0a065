"""Migration status: unapplied migrations, model changes without a
migration, replicas that have not replayed the latest migration, and the
heavy-lock check of unapplied migrations."""

from __future__ import annotations

import shutil
import sys
import textwrap
from contextlib import contextmanager

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections, models
from django.db.migrations import operations as ops
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ModelState, ProjectState
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dbops.models import LagSample
from dbops.ops import lock_risks, migration_status
from dbops.ops.lock_risks import operation_risks

PROBE_MODELS = """
from django.db import models


class Widget(models.Model):
    name = models.CharField(max_length=50)
    size = models.IntegerField(default=0)  # no migration adds this field

    class Meta:
        app_label = "opsprobe"
        indexes = [models.Index(fields=["name"], name="opsprobe_widget_name")]
"""

PROBE_INITIAL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Widget",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("name", models.CharField(max_length=50)),
            ],
        ),
    ]
"""

PROBE_INDEX = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("opsprobe", "0001_initial")]
    operations = [
        migrations.AddIndex(
            model_name="widget",
            index=models.Index(fields=["name"], name="opsprobe_widget_name"),
        ),
    ]
"""


def _write_package(root, name: str, files: dict[str, str]) -> None:
    package = root / name
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "__init__.py").write_text("")
    for path, text in files.items():
        (package / path).write_text(textwrap.dedent(text))


@contextmanager
def _installed(app: str):
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, app]):
        yield


@pytest.fixture
def probe_app(tmp_path, monkeypatch):
    """A throwaway app `opsprobe` with two unapplied migrations and a model
    field that no migration adds. The override ends inside the test, before
    the `db` fixture empties the tables (opsprobe's has none)."""
    _write_package(
        tmp_path,
        "opsprobe",
        {
            "models.py": PROBE_MODELS,
            "migrations/0001_initial.py": PROBE_INITIAL,
            "migrations/0002_widget_name_index.py": PROBE_INDEX,
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield _installed("opsprobe")
    for module in [m for m in sys.modules if m.split(".")[0] == "opsprobe"]:
        del sys.modules[module]
    apps.all_models.pop("opsprobe", None)
    apps.clear_cache()


def test_unapplied_migration_and_model_change_show(db, probe_app):
    """Migrations on disk but not in django_migrations are unapplied; a model
    field without a migration is reported as makemigrations would."""
    with probe_app:
        status = migration_status.migration_status()
    unapplied = {(row.app, row.name) for row in status.unapplied}
    assert unapplied == {
        ("opsprobe", "0001_initial"),
        ("opsprobe", "0002_widget_name_index"),
    }
    assert status.pending_changes == {"opsprobe": ["Add field size to widget"]}
    dbops = next(app for app in status.apps if app.app == "dbops")
    assert dbops.applied and not dbops.unapplied
    assert dbops.applied[0].applied_at is not None


def test_unapplied_index_without_concurrently_is_a_heavy_lock(db, probe_app):
    """AddIndex (not AddIndexConcurrently) is listed as a heavy lock; the
    table does not exist yet, so it is not big."""
    with probe_app:
        status = migration_status.migration_status(check_changes=False)
    row = next(r for r in status.unapplied if r.name == "0002_widget_name_index")
    assert [(r.table, r.lock, r.big) for r in row.risks] == [
        ("opsprobe_widget", lock_risks.INDEX_LOCK, False)
    ]
    assert status.risky == []
    assert status.pending_changes is None


def test_migrations_page_shows_unapplied_and_model_changes(admin_client, probe_app):
    with probe_app:
        html = admin_client.get(reverse("admin:dbops_migrations")).content.decode()
    assert 'data-migration="opsprobe.0001_initial" data-applied="no"' in html
    assert 'data-migration="opsprobe.0002_widget_name_index" data-applied="no"' in html
    assert 'data-migration="dbops.0001_initial" data-applied="yes"' in html
    assert "Add field size to widget" in html
    assert "makemigrations --check" in html
    assert "heavy lock" in html


def test_replica_that_has_not_replayed_latest_migration_is_flagged(
    db, probe_app, cluster
):
    """A migration the primary applied while the replica's replay is paused
    is applied on default and not yet on the replica; once replay resumes
    the replica has replayed it."""
    recorder = MigrationRecorder(connection)
    cluster.pause_replay()
    try:
        with probe_app:
            recorder.record_applied("opsprobe", "0001_initial")
            status = migration_status.migration_status(check_changes=False)
            assert status.latest_applied.key == ("opsprobe", "0001_initial")
            replica = status.replicas[0]
            assert replica.reachable and replica.replayed_latest is False
            assert replica.behind == [("opsprobe", "0001_initial")]

            cluster.resume_replay()
            cluster.wait_for_replay()
            status = migration_status.migration_status(check_changes=False)
            assert status.replicas[0].replayed_latest is True
            assert status.replicas[0].behind == []
    finally:
        cluster.resume_replay()
        recorder.record_unapplied("opsprobe", "0001_initial")


def test_stopped_replica_is_unreachable_not_behind(db, cluster):
    from dbops import routing

    cluster.stop("replica")
    try:
        status = migration_status.migration_status(check_changes=False)
        assert status.primary_up
        assert status.replicas[0].reachable is False
        assert status.replicas[0].replayed_latest is None
    finally:
        cluster.start("replica")
        cluster.wait_until_ready("replica")
        routing.reset()


@pytest.fixture
def dbops_extra_migration(tmp_path, monkeypatch):
    """dbops's migrations plus an unapplied index on LagSample (its table is
    real), through MIGRATION_MODULES."""
    package = tmp_path / "dbops_probe_migrations"
    shutil.copytree(
        settings.BASE_DIR / "dbops" / "migrations",
        package,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (package / "0999_lagsample_reachable.py").write_text(
        textwrap.dedent(
            """
            from django.db import migrations, models


            class Migration(migrations.Migration):
                dependencies = [("dbops", "0001_initial")]
                operations = [
                    migrations.AddIndex(
                        model_name="lagsample",
                        index=models.Index(
                            fields=["reachable"], name="dbops_probe_reachable"
                        ),
                    ),
                ]
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield override_settings(MIGRATION_MODULES={"dbops": "dbops_probe_migrations"})
    for module in [m for m in sys.modules if m.startswith("dbops_probe_migrations")]:
        del sys.modules[module]


def test_heavy_lock_on_big_table_is_flagged(db, dbops_extra_migration):
    """An index built without CONCURRENTLY on a table PostgreSQL estimates
    as big is flagged, with the table's estimated rows."""
    LagSample.objects.bulk_create(
        LagSample(alias="x", taken_at="2000-01-01T00:00:00Z", reachable=True)
        for _ in range(50)
    )
    with connections["default"].cursor() as cursor:
        cursor.execute("ANALYZE dbops_lagsample")
    with dbops_extra_migration:
        status = migration_status.migration_status(
            check_changes=False, big_table_rows=40
        )
    [row] = status.risky
    assert row.key == ("dbops", "0999_lagsample_reachable")
    [risk] = row.big_risks
    assert risk.table == "dbops_lagsample"
    assert risk.rows == 50


def test_status_command_lists_big_table_lock(db, dbops_extra_migration, capsys):
    """`dbops status` lists unapplied migrations with their heavy locks."""
    with dbops_extra_migration:
        call_command("dbops", "status", "--no-model-check")
    out = capsys.readouterr().out
    assert "unapplied migrations: 1" in out
    assert "dbops.0999_lagsample_reachable" in out
    assert "dbops_lagsample" in out


def test_migrations_page_query_budget(ops_client, settings):
    """One query per alias for django_migrations; on the replica also the
    session, the user and their permissions (two); routing reuses the
    shared state."""
    settings.REPLICA_CHECK_INTERVAL = 60
    url = reverse("admin:dbops_migrations")
    ops_client.get(url)
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        assert ops_client.get(url).status_code == 200
    assert len(primary) <= 1, [q["sql"][:80] for q in primary]
    assert len(replica) <= 6, [q["sql"][:80] for q in replica]


# --- The heavy-lock rules (django-migration-linter's, dbops.ops.lock_risks) -------


def _state(*fields) -> ProjectState:
    state = ProjectState()
    state.add_model(
        ModelState(
            "shop",
            "order",
            [("id", models.BigAutoField(primary_key=True)), *fields],
        )
    )
    return state


def _locks(operation, state=None) -> list[str]:
    return [risk.code for risk in operation_risks(operation, "shop", state or _state())]


def test_not_null_column_without_default_is_flagged(db):
    add = ops.AddField("order", "total", models.IntegerField())
    assert _locks(add) == ["NOT_NULL"]


def test_nullable_column_and_database_default_are_quick(db):
    assert _locks(ops.AddField("order", "note", models.TextField(null=True))) == []
    assert _locks(ops.AddField("order", "n", models.IntegerField(db_default=0))) == []


def test_python_default_is_flagged_for_old_codes_inserts(db):
    """Django drops a Python default from the column once the rows have it:
    old code's inserts, which do not name the column, then fail."""
    assert _locks(ops.AddField("order", "n", models.IntegerField(default=0))) == [
        "NOT_NULL"
    ]


def test_indexed_column_and_foreign_key_are_flagged(db):
    unique = ops.AddField(
        "order", "code", models.CharField(max_length=9, unique=True, null=True)
    )
    assert sorted(_locks(unique)) == ["ADD_UNIQUE_COLUMN", "CREATE_INDEX_EXCLUSIVE"]
    fk = ops.AddField(
        "order", "parent", models.ForeignKey("shop.order", models.CASCADE, null=True)
    )
    assert sorted(_locks(fk)) == ["ADD_FOREIGN_KEY", "CREATE_INDEX_EXCLUSIVE"]
    [risk] = [
        r for r in operation_risks(fk, "shop", _state()) if r.code == "ADD_FOREIGN_KEY"
    ]
    assert (risk.table, risk.lock) == ("shop_order", lock_risks.FK_LOCK)


def test_concurrent_index_is_not_flagged(db):
    from django.contrib.postgres.operations import AddIndexConcurrently

    index = models.Index(fields=["id"], name="order_id_idx")
    assert _locks(AddIndexConcurrently("order", index)) == []
    assert _locks(ops.AddIndex("order", index)) == ["CREATE_INDEX"]


def test_column_type_change_and_not_null_are_flagged(db):
    state = _state(("code", models.CharField(max_length=10, null=True)))
    to_int = ops.AlterField("order", "code", models.IntegerField(null=True))
    assert _locks(to_int, state) == ["ALTER_COLUMN"]
    not_null = ops.AlterField("order", "code", models.CharField(max_length=10))
    assert _locks(not_null, state) == ["NOT_NULL"]


def test_check_constraint_raw_index_and_new_tables(db):
    check = ops.AddConstraint(
        "order",
        models.CheckConstraint(condition=models.Q(id__gt=0), name="order_id_positive"),
    )
    assert _locks(check) == ["ADD_CHECK"]
    raw = ops.RunSQL("CREATE INDEX order_x ON shop_order (id)")
    assert [(r.table, r.lock) for r in operation_risks(raw, "shop", _state())] == [
        ("shop_order", lock_risks.INDEX_LOCK)
    ]
    concurrent = ops.RunSQL("CREATE INDEX CONCURRENTLY order_x ON shop_order (id)")
    assert operation_risks(concurrent, "shop", _state()) == []
    # A new table is empty: its indexes and constraints wait for nothing.
    new = ops.CreateModel(
        "line",
        [
            ("id", models.BigAutoField(primary_key=True)),
            ("order", models.ForeignKey("shop.order", models.CASCADE)),
            ("sku", models.CharField(max_length=9, unique=True)),
        ],
    )
    assert _locks(new) == []
