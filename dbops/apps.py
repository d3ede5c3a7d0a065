from __future__ import annotations

from django.apps import AppConfig


class DbopsConfig(AppConfig):
    name = "dbops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dbops.routing import checks  # noqa: F401  (registers the system checks)
