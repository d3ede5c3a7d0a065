#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    try:
        from django.core.exceptions import ImproperlyConfigured
        from django.core.management import execute_from_command_line
    except ImportError:
        sys.exit(
            f"manage.py: Django is not installed for {sys.executable}.\n"
            "Use the project's virtualenv (make run creates it): "
            ".venv/bin/python manage.py ..., or `. .venv/bin/activate` first."
        )
    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A setting the environment got wrong: the message says which.
        sys.exit(f"manage.py: {exc}")


if __name__ == "__main__":
    main()
