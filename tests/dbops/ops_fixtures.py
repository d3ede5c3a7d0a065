"""Clients for the operations pages: staff with and without the permissions.

Loaded for the whole suite by tests/conftest.py (`pytest_plugins`), so that
tests/dbops/conftest.py stays about routing.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.clients import logged_in_client


@pytest.fixture
def plain_staff_client(db, cluster) -> Client:
    """Staff without any dbops permission."""
    return logged_in_client(cluster, "plain-staff")


@pytest.fixture
def ops_client(db, cluster) -> Client:
    """Staff who may view the operations pages (not reset counters)."""
    return logged_in_client(cluster, "operator", "view_operations")


@pytest.fixture
def resetting_client(db, cluster) -> Client:
    """Staff who may view the pages and reset the query counters."""
    return logged_in_client(
        cluster, "resetter", "view_operations", "reset_query_counters"
    )
