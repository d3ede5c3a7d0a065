"""`ensure_admin`: make sure there is a superuser to log in with.

Creates `admin` on the primary if it is missing, with the password from
DJANGO_SUPERUSER_PASSWORD or a generated one, and prints both. An existing
user keeps its password unless DJANGO_SUPERUSER_PASSWORD is set (then that
password is made true) or `--reset` is given (then a new one is generated).
"""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from dbops.routing.aliases import PRIMARY

PASSWORD_VARIABLE = "DJANGO_SUPERUSER_PASSWORD"


class Command(BaseCommand):
    help = "Create the superuser `admin` if missing and print its credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Give an existing user a new password.",
        )

    def handle(self, *args, username: str, reset: bool, **options) -> None:
        users = get_user_model().objects.db_manager(PRIMARY)
        from_env = os.environ.get(PASSWORD_VARIABLE) or None
        password = from_env or secrets.token_urlsafe(12)
        user = users.filter(username=username).first()
        if user is None:
            users.create_superuser(username=username, email="", password=password)
            self.report("Created superuser", username, password)
        elif reset or (from_env and not user.check_password(from_env)):
            user.set_password(password)
            user.save(using=PRIMARY, update_fields=["password"])
            self.report("Set a new password for", username, password)
        elif from_env:
            self.report("Superuser exists", username, password)
        else:
            self.stdout.write(
                f"Superuser {username!r} exists; its password is unchanged "
                f"(set {PASSWORD_VARIABLE} or pass --reset to set a new one)."
            )

    def report(self, what: str, username: str, password: str) -> None:
        self.stdout.write(self.style.SUCCESS(f"{what} {username!r}."))
        self.stdout.write(f"  username: {username}")
        self.stdout.write(f"  password: {password}")
