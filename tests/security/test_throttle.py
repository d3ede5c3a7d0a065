"""The login throttle: failed logins lock out one (username, address) pair.

The attempts are written to the primary and must be read back from it: a
lagging replica that served the count would let an attacker guess on. The
tests log in the way an attacker would, each attempt a fresh client with no
cookies (so no read-your-writes token steers its reads).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from console import security

LIMIT = 3
PASSWORD = "correct horse battery staple"


@pytest.fixture
def throttle(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    return settings


@pytest.fixture
def staff(db, cluster, throttle) -> User:
    user = User.objects.create_user("operator", password=PASSWORD, is_staff=True)
    User.objects.create_user("colleague", password=PASSWORD, is_staff=True)
    cluster.wait_for_replay()
    return user


def log_in(username: str, password: str, address: str = "203.0.113.7"):
    """One login through the admin's form, from a fresh client at `address`."""
    return Client(REMOTE_ADDR=address).post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
    )


def fail(times: int, username: str = "operator", address: str = "203.0.113.7"):
    return [log_in(username, "wrong", address).status_code for _ in range(times)]


def test_throttle_failures_below_limit_show_the_form(staff):
    """Before the limit a wrong password gets the login form again."""
    assert fail(LIMIT - 1) == [200] * (LIMIT - 1)


def test_throttle_limit_locks_out_with_429(staff):
    """The attempt that reaches the limit is answered 429 with the lockout
    page (the admin's look, the wait in minutes, Retry-After)."""
    statuses = fail(LIMIT)
    response = log_in("operator", "wrong")

    assert statuses == [200] * (LIMIT - 1) + [429]
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    page = response.content.decode()
    assert 'id="login-locked-out"' in page
    assert "Try again in 15 minutes." in page
    assert "Content-Security-Policy" in response.headers


def test_throttle_right_password_during_lockout_is_refused(staff):
    """Once locked out, even the right password does not log in."""
    fail(LIMIT)
    response = log_in("operator", PASSWORD)

    assert response.status_code == 429
    assert "sessionid" not in response.cookies


def test_throttle_other_address_and_other_user_unaffected(staff):
    """The lock is on the pair: the same user from elsewhere, and another
    user from the same address, still log in."""
    fail(LIMIT)

    assert log_in("operator", PASSWORD, address="198.51.100.1").status_code == 302
    assert log_in("colleague", PASSWORD).status_code == 302


def test_throttle_success_resets_the_count(staff):
    """A successful login forgets the failures before it."""
    fail(LIMIT - 1)
    assert log_in("operator", PASSWORD).status_code == 302

    assert fail(LIMIT - 1) == [200] * (LIMIT - 1)
    assert log_in("operator", PASSWORD).status_code == 302


def test_throttle_lock_ends_after_cooloff(staff, throttle):
    """After the cool-off the right password works again."""
    throttle.AXES_COOLOFF_TIME = timedelta(seconds=1)
    fail(LIMIT)
    assert log_in("operator", PASSWORD).status_code == 429
    time.sleep(1.1)

    assert log_in("operator", PASSWORD).status_code == 302


def test_throttle_counts_on_primary_while_replica_lags(staff, cluster):
    """With replay paused, failures still add up: every read of the
    attempts is served by the primary, none by the replica."""
    cluster.pause_replay()
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        statuses = fail(LIMIT)
        locked = log_in("operator", PASSWORD)

    assert statuses[-1] == 429
    assert locked.status_code == 429
    assert any("axes_accessattempt" in q["sql"] for q in primary.captured_queries)
    assert not [q for q in replica.captured_queries if "axes_" in q["sql"]]


def test_throttle_locked_pair_still_gets_the_login_form(staff):
    """A locked-out pair can still load the login page (only POSTs count)."""
    fail(LIMIT)

    assert Client(REMOTE_ADDR="203.0.113.7").get("/admin/login/").status_code == 200


# --- the client address -------------------------------------------------------


def test_client_ip_defaults_to_remote_addr(settings):
    """Without LOGIN_CLIENT_IP_HEADER a forwarded header is ignored."""
    settings.LOGIN_CLIENT_IP_HEADER = ""
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.9"
    )

    assert security.client_ip(request) == "10.0.0.2"


def test_client_ip_from_proxy_header_takes_last_entry(settings):
    """Behind a proxy the address it appended (the last) counts; earlier
    entries came from the client and may be forged."""
    settings.LOGIN_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 192.0.2.9"
    )

    assert security.client_ip(request) == "192.0.2.9"


def test_client_ip_missing_proxy_header_falls_back(settings):
    """A request that did not come through the proxy uses REMOTE_ADDR."""
    settings.LOGIN_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2")

    assert security.client_ip(request) == "10.0.0.2"
