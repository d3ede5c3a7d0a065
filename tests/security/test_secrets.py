"""Secrets stay out of pages and logs: the database password never, and
/readyz not even a host name, database or user.

A real gunicorn serves the test pair with a password in every database URL
(the pair accepts any) and a replica that does not answer; a failed login
brings a password of its own. Every page an operator or a probe can reach is
then searched for them, and so is everything the server logged.
"""

from __future__ import annotations

import socket

import pytest
import requests
from django.contrib.auth.models import User

from tests.live import LiveServer, free_port, staff_session

DB_PASSWORD = "S3cretPw"
LOGIN_PASSWORD = "S3cretLoginPw"
TOKEN = "metrics-token-for-secrets-test"
PAGES = [
    "/admin/",
    "/admin/dbops/replication/",
    "/admin/dbops/queries/",
    "/admin/dbops/migrations/",
    "/admin/catalog/author/",
    "/admin/auth/user/",
    "/notes/",
    "/catalog/authors/",
    "/admin/no-such-page/",
]


@pytest.fixture
def server(db, cluster, tmp_path):
    User.objects.create_superuser("root", password="root-password-for-tests")
    cluster.wait_for_replay()
    live = LiveServer(
        tmp_path / "gunicorn.log",
        DJANGO_SETTINGS_MODULE="tests.security.password_settings",
        SECURITY_DB_PASSWORD=DB_PASSWORD,
        SECURITY_DEAD_PORT=str(dead_port()),
        METRICS_TOKEN=TOKEN,
        LOG_LEVEL="DEBUG",
    ).start()
    yield live
    live.stop()


def dead_port() -> int:
    """A local port nothing listens on (refused at once)."""
    port = free_port()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    return port


def seen(response: requests.Response) -> str:
    """Everything a client receives: status line, headers and body."""
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return f"{response.status_code}\n{headers}\n{response.text}"


def test_secrets_readyz_names_no_server(server):
    """/readyz reports each alias and its lag, nothing that names a server,
    a database or a user."""
    response = requests.get(f"{server.url}/readyz", timeout=10)
    body = seen(response)

    assert response.status_code == 200
    assert set(response.json()["databases"]) == {"default", "replica", "replica_2"}
    assert response.json()["databases"]["replica_2"]["reachable"] is False
    for secret in (DB_PASSWORD, "127.0.0.1", "localhost", "postgres", "console_test"):
        assert secret not in body


def test_secrets_never_in_pages_or_log(server):
    """No page (ops pages with a dead replica, errors, /metrics) and no log
    line carries the database password or a login password."""
    failed = requests.Session()
    failed.get(f"{server.url}/admin/login/", timeout=10)
    failed.post(
        f"{server.url}/admin/login/",
        data={
            "username": "root",
            "password": LOGIN_PASSWORD,
            "csrfmiddlewaretoken": failed.cookies["csrftoken"],
        },
        timeout=10,
    )
    session = staff_session(server.url, "root", "root-password-for-tests")
    responses = {path: session.get(server.url + path, timeout=30) for path in PAGES}
    responses["/metrics"] = requests.get(
        f"{server.url}/metrics",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    server.stop()  # flushes the log

    assert responses["/admin/dbops/replication/"].status_code == 200
    assert "replica_2" in responses["/admin/dbops/replication/"].text
    leaks = {
        path: secret
        for path, response in responses.items()
        for secret in (DB_PASSWORD, LOGIN_PASSWORD, "postgres://")
        if secret in seen(response)
    }
    assert leaks == {}
    log = server.log_path.read_text()
    assert "replica marked down" in log  # the dead replica was logged
    assert DB_PASSWORD not in log
    assert LOGIN_PASSWORD not in log
