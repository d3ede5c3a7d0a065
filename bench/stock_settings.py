"""The console's settings with the stock Django admin in place of unfold's,
for `python -m bench.changelist`: the same database, routing and middleware,
so that the only difference measured is the admin's own work per page."""

from __future__ import annotations

from console.settings import *  # noqa: F403
from console.settings import INSTALLED_APPS as CONSOLE_APPS
from console.settings import TEMPLATES as CONSOLE_TEMPLATES

INSTALLED_APPS = [
    "django.contrib.admin.apps.SimpleAdminConfig"
    if app == "console.apps.ConsoleAdminConfig"
    else app
    for app in CONSOLE_APPS
    if not app.startswith("unfold")
]
ROOT_URLCONF = "bench.stock_urls"
# The console's own admin templates (base.html, index.html) are unfold's.
TEMPLATES = [{**CONSOLE_TEMPLATES[0], "DIRS": []}]
