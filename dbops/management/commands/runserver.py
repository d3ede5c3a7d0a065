"""`runserver` that starts with the database down: Django's checks the
migrations at start-up, and with the cluster stopped that ended in an
OperationalError traceback. Now it says what is wrong and what to do, and
serves on (pages answer 503 until the primary is up).

It wraps whitenoise's runserver (which must stay: it leaves static files to
WhiteNoise), so `dbops` comes before `whitenoise.runserver_nostatic` in
INSTALLED_APPS.
"""

from __future__ import annotations

from django.db import OperationalError
from whitenoise.runserver_nostatic.management.commands import runserver

from dbops.routing.probes import error_text


class Command(runserver.Command):
    def check_migrations(self):
        try:
            super().check_migrations()
        except OperationalError as exc:
            self.stderr.write(
                self.style.ERROR(
                    f"\nThe primary database is not reachable: {error_text(exc)}\n"
                    "Start the local cluster with `manage.py pgcluster up` (or "
                    "`make run`), or check DATABASE_URL. Serving on: pages "
                    "answer 503 until the primary is up.\n"
                )
            )
