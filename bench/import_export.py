"""CSV import and export throughput, next to PostgreSQL's COPY.

One run, against the database pair the environment names (DATABASE_URL,
DATABASE_REPLICA_URLS, SECRET_KEY, as for the server):

1. imports N books through the admin's own views, the preview and then the
   confirm, with Django's test client: every layer an operator's upload goes
   through (middleware, routing, the form, the upload store in the database
   cache, the resource) is in the figure;
2. loads the same file with COPY into a staging table, the floor for
   loading a CSV into PostgreSQL;
3. exports the N books with the changelist's streaming CSV download.

It prints rows/s for each and the ratio to COPY. It adds its own tagged
authors and books and removes them afterwards, so it can run against a
database with data in it. `--write-files DIR` only writes authors.csv and
books.csv (for timing the `import` management command on the same data).

    python bench/import_export.py --rows 20000
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory would come first on the path, and
# this file would shadow the django-import-export package of the same name.
PROJECT = Path(__file__).resolve().parent.parent
sys.path[0] = str(PROJECT)

import argparse  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass  # noqa: E402

HIDDEN = re.compile(
    r'<input type="hidden" name="(import_file_name|original_file_name|format|resource)"'
    r' value="([^"]*)"'
)
STAFF_USERNAME = "bench-import"
STAGING_TABLE = "bench_import_staging"


@dataclass(frozen=True)
class Timing:
    name: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def author_name(tag: str, number: int) -> str:
    return f"Bench {tag} Author {number}"


def authors_csv(tag: str, count: int) -> bytes:
    lines = ["name,bio,country"]
    lines += [f"{author_name(tag, n)},,Norway" for n in range(count)]
    return ("\n".join(lines) + "\n").encode()


def books_csv(tag: str, rows: int, authors: int) -> bytes:
    lines = ["title,author,published,isbn"]
    lines += [
        f"Bench {tag} Book {n},{author_name(tag, n % authors)},"
        f"{1950 + n % 70}-{n % 12 + 1:02d}-{n % 28 + 1:02d},978{n:010d}"
        for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def author_count(rows: int) -> int:
    return max(1, min(rows // 20, 5000))


def write_files(directory: Path, rows: int, tag: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    authors = author_count(rows)
    (directory / "authors.csv").write_bytes(authors_csv(tag, authors))
    (directory / "books.csv").write_bytes(books_csv(tag, rows, authors))
    print(f"wrote {authors} authors and {rows} books to {directory}")


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The test client speaks plain http: no redirect to https.
    os.environ.setdefault("HTTPS", "0")
    import django

    django.setup()


def staff_client(host: str):
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(
        username=STAFF_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST=host)
    client.force_login(user)
    return client


def admin_import(client, url: str, content: bytes, name: str) -> tuple[float, float]:
    """The preview and the confirm, each timed; fails loudly on a problem."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(name, content, content_type="text/csv")
    started = time.perf_counter()
    previewed = client.post(f"{url}import/", {"import_file": upload, "format": "0"})
    previewing = time.perf_counter() - started
    fields = dict(HIDDEN.findall(previewed.content.decode()))
    if previewed.status_code != 200 or "import_file_name" not in fields:
        raise SystemExit(f"preview failed:\n{previewed.content.decode()[:3000]}")
    started = time.perf_counter()
    confirmed = client.post(f"{url}process_import/", fields)
    confirming = time.perf_counter() - started
    if confirmed.status_code != 302:
        raise SystemExit(f"confirm failed:\n{confirmed.content.decode()[:3000]}")
    return previewing, confirming


def copy_into_staging(content: bytes) -> float:
    """COPY into a logged table, like the import's: WAL and replication
    included, so that the ratio compares like with like."""
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {STAGING_TABLE} (id bigserial PRIMARY KEY, title text,"
            " author text, published date, isbn text)"
        )
        try:
            started = time.perf_counter()
            cursor.copy_expert(
                f"COPY {STAGING_TABLE} (title, author, published, isbn)"
                " FROM STDIN WITH (FORMAT csv, HEADER true)",
                io.BytesIO(content),
            )
            return time.perf_counter() - started
        finally:
            cursor.execute(f"DROP TABLE {STAGING_TABLE}")


def streaming_export(client, tag: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = client.get(
        "/admin/catalog/book/export/file/", {"q": f"Bench {tag} Book"}
    )
    lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
    return lines - 1, time.perf_counter() - started


def remove(tag: str) -> None:
    from catalog.models import Author, Book

    authors = Author.objects.using("default").filter(name__startswith=f"Bench {tag} ")
    # By author id: a join on freshly loaded tables, before autovacuum has
    # analyzed them, can get a plan that takes minutes.
    ids = list(authors.values_list("id", flat=True))
    Book.objects.using("default").filter(author_id__in=ids).delete()
    authors.delete()


def machine() -> str:
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    cpu = platform.processor() or platform.machine()
    python = platform.python_version()
    return f"{os.cpu_count()} CPUs ({cpu}), Python {python}, PostgreSQL {server}"


def run(rows: int) -> list[Timing]:
    from catalog.models import Book

    tag = uuid.uuid4().hex[:8]
    authors = author_count(rows)
    books = books_csv(tag, rows, authors)
    client = staff_client("127.0.0.1")
    try:
        admin_import(
            client, "/admin/catalog/author/", authors_csv(tag, authors), "a.csv"
        )
        previewing, confirming = admin_import(
            client, "/admin/catalog/book/", books, "books.csv"
        )
        imported = (
            Book.objects.using("default")
            .filter(title__startswith=f"Bench {tag} ")
            .count()
        )
        if imported != rows:
            raise SystemExit(f"imported {imported} books, expected {rows}")
        exported, exporting = streaming_export(client, tag)
        if exported != rows:
            raise SystemExit(f"exported {exported} books, expected {rows}")
        copying = copy_into_staging(books)
    finally:
        remove(tag)
    return [
        Timing("admin import: preview", rows, previewing),
        Timing("admin import: confirm", rows, confirming),
        Timing("admin import: preview + confirm", rows, previewing + confirming),
        Timing("COPY into a staging table", rows, copying),
        Timing("export: streaming CSV", rows, exporting),
    ]


def report(timings: list[Timing]) -> None:
    copy = next(t for t in timings if t.name.startswith("COPY"))
    print(f"{'':34} {'rows':>9} {'seconds':>8} {'rows/s':>10} {'vs COPY':>8}")
    for timing in timings:
        ratio = copy.rows_per_second / timing.rows_per_second
        print(
            f"{timing.name:34} {timing.rows:>9,} {timing.seconds:>8.2f}"
            f" {timing.rows_per_second:>10,.0f} {ratio:>7.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--write-files", type=Path, metavar="DIR")
    options = parser.parse_args()
    if options.write_files:
        write_files(options.write_files, options.rows, "cli")
        return
    setup_django()
    print(machine())
    report(run(options.rows))


if __name__ == "__main__":
    main()
