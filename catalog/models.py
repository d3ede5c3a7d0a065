"""Authors and their books.

Book is the big table (a million rows in the benchmarks), so every way the
admin and the JSON views read it is backed by an index: the author's books
by (author, id), the date filter and hierarchy by published, and the
substring search by a trigram GIN index on UPPER(title), which is the
expression Django's `icontains` (and so the admin search) compiles to.
"""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Upper


def trigram_index(field: str, name: str) -> GinIndex:
    """A GIN trigram index on UPPER(field), for `field__icontains` searches."""
    return GinIndex(OpClass(Upper(field), name="gin_trgm_ops"), name=name)


class Author(models.Model):
    name = models.CharField(max_length=200, unique=True)
    bio = models.TextField(blank=True)
    country = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]  # served by the unique index on name
        verbose_name = "author"
        verbose_name_plural = "authors"
        indexes = [
            trigram_index("name", "catalog_author_name_trgm"),
            models.Index(fields=["country"], name="catalog_author_country"),
        ]

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=300)
    # PROTECT: deleting an author must not silently delete thousands of books;
    # the admin shows which books stand in the way instead.
    # db_index=False: the (author, id) index below serves every author lookup.
    author = models.ForeignKey(
        Author, on_delete=models.PROTECT, related_name="books", db_index=False
    )
    published = models.DateField(null=True, blank=True)
    # NULL, not "", for "no ISBN": the admin filters on it, and a unique
    # constraint on ISBNs (which NULLs never violate) stays possible.
    isbn = models.CharField("ISBN", max_length=20, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Newest first, by the primary key, so that the unfiltered changelist
        # of a million books reads one page of the primary key index.
        ordering = ["-id"]
        verbose_name = "book"
        verbose_name_plural = "books"
        indexes = [
            models.Index(fields=["author", "id"], name="catalog_book_author_id"),
            models.Index(fields=["published"], name="catalog_book_published"),
            trigram_index("title", "catalog_book_title_trgm"),
        ]

    def __str__(self) -> str:
        return self.title
