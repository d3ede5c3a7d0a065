"""The django-import-export resource for notes: `id,title,content`."""

from __future__ import annotations

from catalog.resources import BulkResource
from notes.models import Note


class NoteResource(BulkResource):
    required_columns = ("title",)

    class Meta:
        model = Note
        fields = ("id", "title", "content")
