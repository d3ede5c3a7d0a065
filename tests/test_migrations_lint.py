"""Every migration of the console's own apps passes django-migration-linter
(backward-incompatible or table-locking operations), as `lintmigrations`
would report them. It reads the SQL through `sqlmigrate`, which needs the
database: a test here rather than in `make lint`."""

from __future__ import annotations

import sys
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django_migration_linter import MigrationLinter


def _own_apps() -> list[str]:
    """The apps of this checkout (its virtualenv may live inside it)."""
    root, installed = Path(settings.BASE_DIR).resolve(), Path(sys.prefix).resolve()
    paths = {
        config.label: Path(config.path).resolve() for config in apps.get_app_configs()
    }
    return sorted(
        label
        for label, path in paths.items()
        if path.is_relative_to(root) and not path.is_relative_to(installed)
    )


def test_own_migrations_pass_the_linter(db, capsys):
    own = _own_apps()
    assert {"catalog", "notes", "dbops", "bulk"} <= set(own)
    linter = MigrationLinter(
        include_apps=own, no_cache=True, analyser_string="postgresql"
    )
    linter.lint_all_migrations()
    report = capsys.readouterr().out
    assert not linter.has_errors, report
