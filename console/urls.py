from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("notes/", include("notes.urls")),
    path("catalog/", include("catalog.urls")),
    path("", include("dbops.ops.urls")),
]
