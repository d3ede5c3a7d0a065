"""URLs of dbops: the open health endpoints here, the ops pages in the admin."""

from __future__ import annotations

from django.urls import path

from dbops import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
]


def admin_urlpatterns(site) -> list:
    """The ops pages, mounted inside the admin (`admin:dbops_*`)."""
    return [
        path(
            "dbops/replication/",
            site.admin_view(views.replication),
            name="dbops_replication",
        ),
        path("dbops/queries/", site.admin_view(views.queries), name="dbops_queries"),
        path(
            "dbops/migrations/",
            site.admin_view(views.migrations),
            name="dbops_migrations",
        ),
    ]
