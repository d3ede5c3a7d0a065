"""Clients for the operations pages: staff with and without the permissions.

Loaded for the whole suite by tests/conftest.py (`pytest_plugins`), so that
tests/dbops/conftest.py stays about routing.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client


def staff_client(django_user_model, username: str, *codenames: str) -> Client:
    user = django_user_model.objects.create_user(
        username=username, password="pw-for-tests", is_staff=True
    )
    if codenames:
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="dbops", codename__in=codenames
            )
        )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def plain_staff_client(db, django_user_model, cluster) -> Client:
    """Staff without any dbops permission."""
    client = staff_client(django_user_model, "plain-staff")
    cluster.wait_for_replay()
    return client


@pytest.fixture
def ops_client(db, django_user_model, cluster) -> Client:
    """Staff who may view the operations pages (not reset counters)."""
    client = staff_client(django_user_model, "operator", "view_operations")
    # force_login writes the session without handing out a read-your-writes
    # cookie: let the replica have it, as a real login's would be by the
    # time the page is opened.
    cluster.wait_for_replay()
    return client


@pytest.fixture
def resetting_client(db, django_user_model, cluster) -> Client:
    """Staff who may view the pages and reset the query counters."""
    client = staff_client(
        django_user_model, "resetter", "view_operations", "reset_query_counters"
    )
    cluster.wait_for_replay()
    return client


@pytest.fixture
def superuser_client(admin_client, cluster) -> Client:
    """pytest-django's admin_client, once the replica has its session."""
    cluster.wait_for_replay()
    return admin_client
