"""django-import-export resources of authors and books, and the base they share.

Imports of CSV go through the set-based pipeline (console/bulk, with the
columns' rules in catalog/imports.py); the resources serve the exports:
their columns, the streaming CSV export's ORM paths, and the XLSX and JSON
files the library builds. Exported text that a spreadsheet would run as a
formula is escaped.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from import_export import resources
from import_export.fields import Field

from catalog.models import Author, Book

# Cells a spreadsheet would evaluate (OWASP's list for CSV injection); the
# streaming CSV export does the same in SQL (bulk_escape).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: str) -> str:
    """`value`, made inert for spreadsheets by a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


class BulkResource(resources.ModelResource):
    """The base of every resource here."""

    #: ORM paths of exported columns that are not plain fields of the model.
    stream_paths: dict[str, str] = {}

    # Exports for spreadsheets (XLSX) make formulae inert; the admin's JSON
    # export turns this off, the library's `export` command keeps it.
    escape_formulae = True

    def export_field(self, field, instance, **kwargs: Any):
        value = super().export_field(field, instance, **kwargs)
        if self.escape_formulae and isinstance(value, str):
            return escape_formula(value)
        return value

    def stream_columns(self, fields: list[str] | None = None) -> dict[str, str]:
        """Column name -> the ORM path of its value, for the streaming export."""
        names = fields or [field.column_name for field in self.get_export_fields()]
        return {name: self.stream_paths.get(name, name) for name in names}


class AuthorResource(BulkResource):
    class Meta:
        model = Author
        fields = ("id", "name", "bio", "country")


class BookResource(BulkResource):
    author = Field(attribute="author__name", column_name="author")
    stream_paths = {"author": "author__name"}

    class Meta:
        model = Book
        fields = ("id", "title", "author", "published", "isbn")

    def filter_export(self, queryset: QuerySet[Book], **kwargs: Any) -> QuerySet[Book]:
        return queryset.select_related("author")
