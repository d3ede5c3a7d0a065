"""The CSV imports of authors and books (`id,name,bio,country` and
`id,title,author,published,isbn`), as rules for console.bulk."""

from __future__ import annotations

from catalog.models import Author, Book
from console.bulk.spec import ByName, Column, ImportSpec, register

AUTHOR = register(
    ImportSpec(
        model=Author,
        columns=(
            Column("name", required=True, max_length=200, unique_as="an author named"),
            Column("bio"),
            Column("country", max_length=100),
        ),
        insert_defaults={"created_at": "now()"},
    )
)

BOOK = register(
    ImportSpec(
        model=Book,
        columns=(
            Column("title", required=True, max_length=300),
            Column(
                "author",
                required=True,
                blank_message="an author name is required",
                by_name=ByName("catalog_author", "name", "author"),
                db_column="author_id",
            ),
            Column("published", date=True),
            # NULL, not "", is "no ISBN" (see the model).
            Column("isbn", max_length=20, null_when_blank=True),
        ),
        insert_defaults={"created_at": "now()"},
    )
)
