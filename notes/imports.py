"""The CSV import of notes (`id,title,content`), as rules for console.bulk."""

from __future__ import annotations

from console.bulk.spec import Column, ImportSpec, register
from notes.models import Note

NOTE = register(
    ImportSpec(
        model=Note,
        columns=(Column("title", required=True, max_length=200), Column("content")),
        insert_defaults={"created_at": "now()"},
    )
)
