from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class BulkConfig(AppConfig):
    name = "console.bulk"
    label = "bulk"
    verbose_name = "Imports"

    def ready(self) -> None:
        # Each app declares its imports in <app>/imports.py (console.bulk.spec).
        autodiscover_modules("imports")
