from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    default_site = "console.sites.ConsoleAdminSite"

    def ready(self) -> None:
        super().ready()
        from console import unfold_speedups

        unfold_speedups.install()
