"""Made-up but plausible demo data: names, titles, countries, dates, ISBNs.

Deterministic for a given seed, so that a benchmark loads the same rows
every time. Rows come out as lines of PostgreSQL's COPY text format.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

FIRST_NAMES = (
    "Ada Alan Amara Anouk Aurelio Beatriz Bjorn Camille Chiara Dario Elena Emeka "
    "Farah Goran Hana Ines Ivan Jana Jonas Kenji Lars Leila Lucia Mateo Mei Mira "
    "Nadia Niko Olga Omar Paulo Priya Rafael Rosa Sanna Selim Sofia Tomas Ugo "
    "Valeria Wen Yara Yusuf Zofia"
).split()
LAST_NAMES = (
    "Abe Adeyemi Bauer Bianchi Costa Dubois Eriksen Fischer Garcia Haddad "
    "Horvat Ivanova Jensen Kaur Kowalski Larsen Lopez Moreau Nakamura Novak "
    "Okafor Petrov Quinn Rossi Santos Schmidt Silva Tanaka Torres Varga Weber "
    "Yilmaz Zhang"
).split()
COUNTRIES = (
    "Argentina Brazil Canada Chile Croatia Denmark Egypt France Germany India "
    "Italy Japan Kenya Mexico Netherlands Nigeria Norway Poland Portugal Spain "
    "Sweden Turkey"
).split() + ["South Korea", "United Kingdom", "United States"]
TITLE_WORDS = (
    "Silent River Empire Glass Garden Winter Shadow Light Machine Ocean Memory "
    "Paper City Harbor Storm Orchard Atlas Lantern Mirror Signal Forest Clock "
    "Northern Hidden Burning Quiet Distant Golden Broken Secret Endless Last "
    "Salt Iron Velvet Copper Ember Tide Thread Crown Archive Summer Midnight"
).split()
TITLE_PATTERNS = (
    "The {a} {b}",
    "{a} of the {b}",
    "{a} of {c}",
    "{a} and {b}",
    "The {a} {b} of {c}",
    "{a} {b}",
)
FIRST_PUBLISHED = date(1950, 1, 1)
# Every day from 1950 to 2025 as text, looked up rather than formatted per row.
PUBLISHED_DAYS = [
    (FIRST_PUBLISHED + timedelta(days=day)).isoformat()
    for day in range((date(2025, 12, 31) - FIRST_PUBLISHED).days + 1)
]
NO_ISBN_SHARE = 0.15


def author_name(number: int) -> str:
    """A distinct name for every distinct `number` (0, 1, 2, ...)."""
    first = FIRST_NAMES[number % len(FIRST_NAMES)]
    rest, _ = divmod(number, len(FIRST_NAMES))
    generation, last_index = divmod(rest, len(LAST_NAMES))
    name = f"{first} {LAST_NAMES[last_index]}"
    # Past every first/last pair, a numeral keeps the name unique.
    return f"{name} {generation + 1}" if generation else name


def author_lines(start: int, count: int, *, now: str) -> Iterator[str]:
    """COPY lines for catalog_author(name, bio, country, created_at)."""
    rng = random.Random(start)
    for number in range(start, start + count):
        country = rng.choice(COUNTRIES)
        bio = f"Writer from {country}."
        yield f"{author_name(number)}\t{bio}\t{country}\t{now}\n"


def book_title(rng: random.Random) -> str:
    a, b, c = rng.sample(TITLE_WORDS, 3)
    return rng.choice(TITLE_PATTERNS).format(a=a, b=b.lower(), c=c)


def isbn13(rng: random.Random) -> str:
    body = f"978{rng.randrange(10**9):09d}"
    weighted = sum(int(digit) for digit in body[::2]) + 3 * sum(
        int(digit) for digit in body[1::2]
    )
    return body + str(-weighted % 10)


def book_lines(
    seed: int, count: int, author_ids: list[int], *, now: str
) -> Iterator[str]:
    """COPY lines for catalog_book(title, author_id, published, isbn, created_at)."""
    rng = random.Random(seed)
    for _ in range(count):
        published = rng.choice(PUBLISHED_DAYS)
        isbn = r"\N" if rng.random() < NO_ISBN_SHARE else isbn13(rng)
        author = rng.choice(author_ids)
        yield f"{book_title(rng)}\t{author}\t{published}\t{isbn}\t{now}\n"
