"""The stock admin's book changelist, as a Django project would write it:
the same columns, rows per page and ordering as the console's, and the
stock paginator (which counts the table)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from catalog.models import Book


class StockBookAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "published", "isbn"]
    list_select_related = ["author"]
    list_per_page = 50
    ordering = ["-id"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


site = admin.AdminSite(name="stock")
site.register(Book, StockBookAdmin)

urlpatterns = [path("admin/", site.urls)]
