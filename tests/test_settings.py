"""Settings come from the environment and fail clearly when incomplete."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def _load_settings(**env: str) -> subprocess.CompletedProcess:
    """Import console.settings in a fresh interpreter with exactly `env`."""
    clean = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME"}}
    clean.update({"ENV_FILE": "/dev/null", **env})
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='console.settings';"
        "from django.conf import settings;"
        "print(sorted(settings.DATABASES), settings.DEBUG)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_settings_missing_secret_key_without_debug_fails_clearly():
    """DEBUG off and no SECRET_KEY: start-up stops and names the variable."""
    result = _load_settings()
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


def test_settings_debug_without_secret_key_starts():
    """DEBUG on may run with the throwaway development key."""
    result = _load_settings(DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("True")


def test_settings_several_replica_urls_become_numbered_aliases():
    """Comma-separated replica URLs become replica, replica_2, replica_3."""
    urls = ",".join(f"postgres://u:p@host{n}:5432/app" for n in (1, 2, 3))
    result = _load_settings(SECRET_KEY="x" * 50, DATABASE_REPLICA_URLS=urls)
    assert result.returncode == 0, result.stderr
    expected = "['default', 'replica', 'replica_2', 'replica_3'] False"
    assert result.stdout.strip() == expected


def test_settings_empty_replica_urls_means_no_replica():
    """An empty DATABASE_REPLICA_URLS configures the primary alone."""
    result = _load_settings(SECRET_KEY="x" * 50, DATABASE_REPLICA_URLS="")
    assert result.stdout.strip() == "['default'] False"


def test_settings_default_to_local_cluster():
    """With no DATABASE_URL the settings point at the local cluster."""
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='console.settings';"
        "from django.conf import settings; d = settings.DATABASES;"
        "print(d['default']['PORT'], d['replica']['PORT'])"
    )
    env = {"PATH": os.environ["PATH"], "ENV_FILE": "/dev/null", "DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == ["55432", "55433"]


def test_settings_database_url_with_several_hosts_for_failover():
    """DATABASE_URL may name several hosts (libpq's form, which
    dj-database-url cannot parse): all are tried, read-write wins."""
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='console.settings';"
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['HOST'], d['PORT'], d['NAME'], d['USER'],"
        " d['OPTIONS']['target_session_attrs'])"
    )
    url = "postgres://app:secret@db1.internal:5432,db2.internal:6432/console"
    env = {
        "PATH": os.environ["PATH"],
        "ENV_FILE": "/dev/null",
        "DEBUG": "1",
        "DATABASE_URL": url,
        "DATABASE_REPLICA_URLS": "",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "db1.internal,db2.internal",
        "5432,6432",
        "console",
        "app",
        "read-write",
    ]


def test_settings_database_url_of_another_scheme_fails_clearly():
    result = _load_settings(DEBUG="1", DATABASE_URL="postgress://u@127.0.0.1/console")
    assert result.returncode != 0
    assert (
        "DATABASE_URL: 'postgress://u@127.0.0.1/console' is not a PostgreSQL URL"
        in (result.stderr)
    )


def test_manage_py_says_what_is_wrong_without_a_traceback(tmp_path):
    clean = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME"}}
    wrong_url = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT,
        env={
            **clean,
            "ENV_FILE": "/dev/null",
            "DEBUG": "1",
            "DATABASE_URL": "mysql://x/y",
        },
        capture_output=True,
        text=True,
    )
    assert wrong_url.returncode == 1
    assert "Traceback" not in wrong_url.stderr
    assert "manage.py: DATABASE_URL: 'mysql://x/y' is not a PostgreSQL URL" in (
        wrong_url.stderr
    )
    # A Python without Django (the system's, outside the virtualenv).
    no_django = subprocess.run(
        [sys.executable, "-S", "manage.py", "check"],
        cwd=PROJECT,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert no_django.returncode == 1
    assert "Traceback" not in no_django.stderr
    assert "Django is not installed" in no_django.stderr


def test_runserver_with_the_database_down_says_so_and_serves(tmp_path):
    """Its start-up migration check met a refused connection with a
    traceback; now one message says what to do, and the server starts."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clean = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME"}}
    log = tmp_path / "runserver.log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}",
             "--noreload"],
            cwd=PROJECT,
            env={
                **clean,
                "ENV_FILE": "/dev/null",
                "DEBUG": "1",
                "DEBUG_TOOLBAR": "0",
                "PYTHONUNBUFFERED": "1",
                # Nothing listens on port 1 of loopback: connection refused.
                "DATABASE_URL": "postgres://postgres@127.0.0.1:1/console",
                "DATABASE_REPLICA_URLS": "",
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        from tests.waiting import eventually

        eventually(
            lambda: "Starting development server" in log.read_text(),
            timeout=60,
            what="runserver to start",
        )
    finally:
        server.kill()
        server.wait()
    text = log.read_text()
    assert "Traceback" not in text
    assert "The primary database is not reachable: connection to server" in text
    assert "manage.py pgcluster up" in text


def test_migrate_with_the_database_down_says_so():
    clean = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=PROJECT,
        env={
            **clean,
            "ENV_FILE": "/dev/null",
            "DEBUG": "1",
            "DEBUG_TOOLBAR": "0",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:1/console",
            "DATABASE_REPLICA_URLS": "",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "The primary database is not reachable: connection to server" in (
        result.stderr
    )
