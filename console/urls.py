from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView


class FaviconView(RedirectView):
    """/favicon.ico, for browsers that ask before reading the page's link:
    the static icon, under its hashed name once collected."""

    permanent = False

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("favicon.svg")


urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("favicon.ico", FaviconView.as_view()),
    path("admin/", admin.site.urls),
    path("notes/", include("notes.urls")),
    path("catalog/", include("catalog.urls")),
    path("", include("dbops.ops.urls")),
]

if settings.DEBUG_TOOLBAR:
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()
