"""The console's admin site: unfold's site plus the operations pages."""

from __future__ import annotations

from unfold.sites import UnfoldAdminSite


class ConsoleAdminSite(UnfoldAdminSite):
    site_title = "Console"
    site_header = "Console"
    index_title = "Dashboard"

    def extra_urls(self):
        # Imported here: the dbops views import the admin site.
        from dbops.ops.urls import admin_urlpatterns

        return admin_urlpatterns(self)
