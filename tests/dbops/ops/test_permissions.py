"""Who may open the operations pages, reset the counters and scrape /metrics."""

from __future__ import annotations

import pytest
from django.urls import reverse

PAGES = ["admin:dbops_replication", "admin:dbops_queries", "admin:dbops_migrations"]


@pytest.mark.parametrize("name", PAGES)
def test_ops_page_anonymous_goes_to_login(db, client, name):
    """An anonymous visitor is sent to the admin login, coming back after."""
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert "next=" in response["Location"]


@pytest.mark.parametrize("name", PAGES)
def test_ops_page_staff_without_permission_is_forbidden(plain_staff_client, name):
    """Staff without the operations permission get 403."""
    assert plain_staff_client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_ops_page_staff_with_permission_sees_it(ops_client, name):
    """Staff with the operations permission see the page in the admin theme."""
    response = ops_client.get(reverse(name))
    assert response.status_code == 200
    assert 'id="dbops-query-footer"' in response.content.decode()


@pytest.mark.parametrize("name", PAGES)
def test_ops_page_superuser_sees_it(admin_client, name):
    """Superusers have every permission."""
    assert admin_client.get(reverse(name)).status_code == 200


def test_ops_page_non_staff_user_goes_to_login(db, client, django_user_model):
    """A logged-in user who is not staff is sent to the admin login too."""
    user = django_user_model.objects.create_user(username="visitor", password="pw")
    client.force_login(user)
    response = client.get(reverse("admin:dbops_replication"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_reset_needs_the_reset_permission(ops_client):
    """Viewing the pages is not enough to reset the counters."""
    response = ops_client.post(reverse("admin:dbops_queries_reset"))
    assert response.status_code == 403


def test_reset_with_permission_redirects_to_queries(resetting_client):
    """With the reset permission, the POST resets and returns to the page."""
    response = resetting_client.post(reverse("admin:dbops_queries_reset"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:dbops_queries")


def test_reset_refuses_get(resetting_client):
    """Resetting is a POST only."""
    assert resetting_client.get(reverse("admin:dbops_queries_reset")).status_code == 405


def test_reset_anonymous_goes_to_login(db, client):
    response = client.post(reverse("admin:dbops_queries_reset"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_reset_button_only_for_those_who_may_reset(ops_client, resetting_client):
    """The queries page shows the reset button only with the permission."""
    reset_url = reverse("admin:dbops_queries_reset")
    assert (
        reset_url not in ops_client.get(reverse("admin:dbops_queries")).content.decode()
    )
    page = resetting_client.get(reverse("admin:dbops_queries")).content.decode()
    assert reset_url in page


def test_sidebar_shows_ops_links_only_with_permission(plain_staff_client, ops_client):
    """The Operations section of the sidebar follows the permission."""
    link = reverse("admin:dbops_replication")
    assert link not in plain_staff_client.get(reverse("admin:index")).content.decode()
    assert link in ops_client.get(reverse("admin:index")).content.decode()


# --- /metrics --------------------------------------------------------------------


def test_metrics_anonymous_without_token_is_unauthorized(db, client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_metrics_with_token_is_served(db, client, settings):
    """A scraper with the bearer token gets the Prometheus text format."""
    settings.METRICS_TOKEN = "s3cret-token"
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"dbops_queries_total" in response.content


@pytest.mark.parametrize(
    "header",
    ["Bearer wrong-token", "Bearer ", "Basic czNjcmV0LXRva2Vu", "s3cret-token"],
)
def test_metrics_with_wrong_token_is_unauthorized(db, client, settings, header):
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 401


def test_metrics_token_unset_accepts_no_token(db, client, settings):
    """With no METRICS_TOKEN configured, no bearer token opens /metrics."""
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_metrics_staff_without_permission_is_forbidden(plain_staff_client):
    assert plain_staff_client.get("/metrics").status_code == 403


def test_metrics_staff_with_permission_is_served(ops_client):
    response = ops_client.get("/metrics")
    assert response.status_code == 200
    assert b"dbops_replica_up" in response.content
