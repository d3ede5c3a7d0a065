"""The django-unfold configuration: titles, the dashboard and the sidebar.

Kept out of settings.py because it is long and only about the admin's look.
"""

from __future__ import annotations

from django.templatetags.static import static
from django.urls import reverse_lazy


def _item(title: str, icon: str, url_name: str, permission: str | None = None) -> dict:
    item = {"title": title, "icon": icon, "link": reverse_lazy(url_name)}
    if permission:
        item["permission"] = permission
    return item


UNFOLD = {
    "SITE_TITLE": "Console",
    "SITE_HEADER": "Console",
    "SITE_SUBHEADER": "PostgreSQL primary and replicas",
    "SITE_SYMBOL": "database",
    # Every page names its icon, so that browsers do not ask for /favicon.ico
    # (which console/urls.py answers too, for those that still do).
    "SITE_FAVICONS": [
        {
            "rel": "icon",
            "type": "image/svg+xml",
            "href": lambda request: static("favicon.svg"),
        }
    ],
    "SHOW_HISTORY": True,
    "DASHBOARD_CALLBACK": "console.dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": [
            {
                "title": "Catalog",
                "items": [
                    _item("Authors", "person", "admin:catalog_author_changelist"),
                    _item("Books", "menu_book", "admin:catalog_book_changelist"),
                ],
            },
            {
                "title": "Notes",
                "items": [
                    _item("Notes", "sticky_note_2", "admin:notes_note_changelist")
                ],
            },
            {
                "title": "Operations",
                "items": [
                    _item(
                        "Replication",
                        "lan",
                        "admin:dbops_replication",
                        "dbops.ops.permissions.can_view_ops",
                    ),
                    _item(
                        "Queries",
                        "query_stats",
                        "admin:dbops_queries",
                        "dbops.ops.permissions.can_view_ops",
                    ),
                    _item(
                        "Statements",
                        "manage_search",
                        "admin:dbops_statements",
                        "dbops.ops.permissions.can_view_ops",
                    ),
                    _item(
                        "Migrations",
                        "schema",
                        "admin:dbops_migrations",
                        "dbops.ops.permissions.can_view_ops",
                    ),
                ],
            },
            {
                "title": "Users",
                "items": [
                    _item("Users", "group", "admin:auth_user_changelist"),
                    _item("Groups", "groups", "admin:auth_group_changelist"),
                ],
            },
        ],
    },
}
