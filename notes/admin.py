from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin

from catalog.admin import TRIGRAM_HELP
from console.bigtables.paginator import EstimatedCountPaginator
from console.bulk.admin import ImportExportAdmin
from console.contention import RowLockAwareAdminMixin
from console.parameters import CheckedParametersMixin
from notes.models import Note
from notes.resources import NoteResource


@admin.register(Note)
class NoteAdmin(
    RowLockAwareAdminMixin, CheckedParametersMixin, ModelAdmin, ImportExportAdmin
):
    resource_classes = [NoteResource]
    list_display = ["title", "created_at"]
    search_fields = ["title"]
    search_help_text = TRIGRAM_HELP.format(field="title")
    date_hierarchy = "created_at"  # served by the (created_at, id) index
    readonly_fields = ["created_at"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
