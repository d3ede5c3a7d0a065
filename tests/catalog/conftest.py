from __future__ import annotations

import pytest

from catalog.models import Author, Book


@pytest.fixture
def books(db, cluster) -> list[Book]:
    """30 books by three authors, replayed on the replica."""
    authors = Author.objects.bulk_create(
        Author(name=name, country=country)
        for name, country in [
            ("Ursula Le Guin", "United States"),
            ("Italo Calvino", "Italy"),
            ("Olga Tokarczuk", "Poland"),
        ]
    )
    made = Book.objects.bulk_create(
        Book(title=f"Garden of paths {number}", author=authors[number % 3])
        for number in range(30)
    )
    cluster.wait_for_replay()
    return made
