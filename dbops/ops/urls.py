"""URLs of dbops: the open health endpoints here, the ops pages in the admin."""

from __future__ import annotations

from django.urls import path

from dbops.ops import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.prometheus_metrics, name="metrics"),
]


def admin_urlpatterns(site) -> list:
    """The ops pages, mounted inside the admin (`admin:dbops_*`).

    `admin_view` sends anonymous users to the login page and refuses
    non-staff; the views check the operations permission themselves. The
    site is passed on for `each_context` (unfold's sidebar and theme).
    """
    pages = [
        ("dbops/replication/", views.replication_page, "dbops_replication"),
        ("dbops/queries/", views.queries_page, "dbops_queries"),
        ("dbops/queries/reset/", views.queries_reset, "dbops_queries_reset"),
        ("dbops/statements/", views.statements_page, "dbops_statements"),
        ("dbops/migrations/", views.migrations_page, "dbops_migrations"),
    ]
    return [
        path(route, site.admin_view(view), {"site": site}, name=name)
        for route, view, name in pages
    ]
