"""CSV import and export throughput, next to PostgreSQL doing the same work.

One run, against the database pair the environment names (DATABASE_URL,
DATABASE_REPLICA_URLS, SECRET_KEY, as for the server):

1. imports N new books through the admin's own views (preview, then
   confirm, with Django's test client: middleware, routing, the form, the
   staging, the checks, the merge), next to the set-based floor: COPY into
   a temporary table, then INSERT ... SELECT joining the authors by name;
2. updates those N books by id the same way, next to COPY into a temporary
   table, then UPDATE ... FROM;
3. exports the N books with the changelist's streaming CSV download, next to
   COPY (the same SELECT) TO STDOUT;
4. with `--job-rows M`, imports M more books through a real gunicorn worker
   and a real job worker (`db_worker`), from the upload to the job's end,
   and reports each process's peak memory (VmHWM).

It prints seconds, rows/s and the ratio to the floor for each. It adds its
own tagged authors and books and removes them afterwards, so it can run
against a database with data in it.

    python -m bench.imports --rows 100000 --job-rows 1000000
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent

STAFF_USERNAME = "bench-import"
STAFF_PASSWORD = "bench-import-password-1"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HIDDEN = re.compile(
    r'<input type="hidden" name="(import_file_name|original_file_name|format|resource)"'
    r' value="([^"]*)"'
)


@dataclass(frozen=True)
class Timing:
    name: str
    rows: int
    seconds: float
    floor: str = ""  # the name of the timing this one is compared with
    memory: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def author_name(tag: str, number: int) -> str:
    return f"Bench {tag} Author {number}"


def authors_csv(tag: str, count: int) -> bytes:
    lines = ["name,bio,country"]
    lines += [f"{author_name(tag, n)},,Norway" for n in range(count)]
    return ("\n".join(lines) + "\n").encode()


def book_rows(tag: str, rows: int, authors: int, start: int = 0) -> list[list[str]]:
    return [
        [
            f"Bench {tag} Book {n}",
            author_name(tag, n % authors),
            f"{1950 + n % 70}-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            f"978{n:010d}",
        ]
        for n in range(start, start + rows)
    ]


def csv_bytes(header: list[str], rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


BOOK_HEADER = ["title", "author", "published", "isbn"]


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
    user.set_password(STAFF_PASSWORD)
    user.save()
    client = Client(HTTP_HOST=host)
    client.force_login(user)
    return client


def csrf_token(page: str) -> str:
    found = CSRF.search(page)
    if found is None:
        raise SystemExit("no CSRF token on the login page: is it the console?")
    return found.group(1)


def admin_import(client, url: str, content: bytes, name: str) -> float:
    """The preview and the confirm; fails loudly on a problem."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(name, content, content_type="text/csv")
    started = time.perf_counter()
    previewed = client.post(f"{url}import/", {"import_file": upload, "format": "0"})
    fields = dict(HIDDEN.findall(previewed.content.decode()))
    if previewed.status_code != 200 or "import_file_name" not in fields:
        raise SystemExit(f"preview failed:\n{previewed.content.decode()[:3000]}")
    confirmed = client.post(f"{url}process_import/", fields)
    if confirmed.status_code != 302 or "/import/" in confirmed.url:
        raise SystemExit(f"confirm failed:\n{confirmed.content.decode()[:3000]}")
    return time.perf_counter() - started


def floor_insert(content: bytes) -> float:
    """COPY into a temporary table, then INSERT ... SELECT by author name."""
    from django.db import connections, transaction

    started = time.perf_counter()
    with transaction.atomic(using="default"), connections["default"].cursor() as c:
        c.execute(
            "CREATE TEMP TABLE bench_new (title text, author text, published text,"
            " isbn text) ON COMMIT DROP"
        )
        c.copy_expert(
            "COPY bench_new FROM STDIN WITH (FORMAT csv, HEADER true)",
            io.BytesIO(content),
        )
        c.execute(
            "INSERT INTO catalog_book (title, author_id, published, isbn, created_at)"
            " SELECT s.title, a.id, s.published::date, NULLIF(s.isbn, ''), now()"
            " FROM bench_new s JOIN catalog_author a ON a.name = s.author"
        )
    return time.perf_counter() - started


def floor_update(content: bytes) -> float:
    """COPY into a temporary table, then UPDATE ... FROM by id."""
    from django.db import connections, transaction

    started = time.perf_counter()
    with transaction.atomic(using="default"), connections["default"].cursor() as c:
        c.execute(
            "CREATE TEMP TABLE bench_upd (id bigint, title text, author text,"
            " published text, isbn text) ON COMMIT DROP"
        )
        c.copy_expert(
            "COPY bench_upd FROM STDIN WITH (FORMAT csv, HEADER true)",
            io.BytesIO(content),
        )
        c.execute(
            "UPDATE catalog_book b SET title = s.title, author_id = a.id,"
            " published = s.published::date, isbn = NULLIF(s.isbn, '')"
            " FROM bench_upd s JOIN catalog_author a ON a.name = s.author"
            " WHERE b.id = s.id"
        )
    return time.perf_counter() - started


def books_of(tag: str, marker: str):
    from catalog.models import Book

    return Book.objects.using("default").filter(
        title__startswith=f"Bench {tag} {marker}"
    )


def update_file(tag: str, marker: str) -> bytes:
    rows = books_of(tag, marker).order_by("id")
    rows = rows.values_list("id", "title", "author__name", "published", "isbn")
    return csv_bytes(
        ["id", *BOOK_HEADER],
        [[pk, f"{title} (2nd ed.)", a, p, i] for pk, title, a, p, i in rows],
    )


def streaming_export(client, tag: str) -> tuple[int, float]:
    started = time.perf_counter()
    # One search term (the admin splits on spaces), as the floor's filter.
    response = client.get("/admin/catalog/book/export/file/", {"q": tag})
    lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
    return lines - 1, time.perf_counter() - started


class Counter(io.RawIOBase):
    def __init__(self) -> None:
        self.lines = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.lines += bytes(data).count(b"\n")
        return len(data)


def floor_export(tag: str) -> tuple[int, float]:
    """COPY of the export's own SELECT (the same search) TO STDOUT."""
    from django.db import connections

    from catalog.models import Book

    rows = (
        Book.objects.using("replica")
        .filter(title__icontains=tag)
        .order_by("pk")
        .values_list("id", "title", "author__name", "published", "isbn")
    )
    sql, params = rows.query.sql_with_params()
    sink = Counter()
    started = time.perf_counter()
    with connections["replica"].cursor() as cursor:
        select = cursor.mogrify(sql, params).decode()
        cursor.copy_expert(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", sink)
    return sink.lines, time.perf_counter() - started


def replica_caught_up(timeout: float = 60) -> None:
    """Wait until the replica has replayed all the primary has written: both
    exports then read the replica, neither one the primary."""
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        written = cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    with connections["replica"].cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [written])
            if cursor.fetchone()[0]:
                return
            if time.monotonic() > deadline:
                raise SystemExit("the replica did not catch up in time")
            time.sleep(0.1)


def compare_exports(client, tag: str, rows: int, runs: int = 3) -> tuple[float, float]:
    """The median of `runs` of each export, taken in turns after one untimed
    pass of each: the first read of freshly written (or deleted) rows pays
    for their visibility checks and the cache, whichever export comes first."""
    replica_caught_up()
    streaming_export(client, tag)
    floor_export(tag)
    exporting, copying = [], []
    for _ in range(runs):
        exported, seconds = streaming_export(client, tag)
        expect("exported", exported, rows)
        exporting.append(seconds)
        copied, seconds = floor_export(tag)
        expect("copied", copied, rows)
        copying.append(seconds)
    return statistics.median(exporting), statistics.median(copying)


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


def expect(what: str, got: int, wanted: int) -> None:
    if got != wanted:
        raise SystemExit(f"{what}: {got}, expected {wanted}")


def run(rows: int) -> list[Timing]:
    from django.conf import settings

    tag = uuid.uuid4().hex[:8]
    authors = max(1, min(rows // 20, 5000))
    client = staff_client("127.0.0.1")
    # The admin's own path in the request (a bigger file would become a job).
    settings.IMPORT_JOB_ROWS = max(settings.IMPORT_JOB_ROWS, rows)
    try:
        admin_import(client, "/admin/catalog/author/", authors_csv(tag, authors), "a")
        new_rows = book_rows(tag, rows, authors)
        importing = admin_import(
            client, "/admin/catalog/book/", csv_bytes(BOOK_HEADER, new_rows), "b"
        )
        expect("imported", books_of(tag, "Book").count(), rows)
        floor_rows = [[f"Bench {tag} Floor {n}", *rest] for n, (_, *rest) in
                      enumerate(new_rows)]  # fmt: skip
        inserting = floor_insert(csv_bytes(BOOK_HEADER, floor_rows))
        expect("inserted by the floor", books_of(tag, "Floor").count(), rows)

        updating = admin_import(
            client, "/admin/catalog/book/", update_file(tag, "Book"), "u"
        )
        expect("updated", books_of(tag, "Book").filter(
            title__endswith="(2nd ed.)").count(), rows)  # fmt: skip
        updating_floor = floor_update(update_file(tag, "Floor"))

        books_of(tag, "Floor").delete()
        exporting, copying = compare_exports(client, tag, rows)
    finally:
        remove(tag)
    return [
        Timing("floor: COPY + INSERT ... SELECT", rows, inserting),
        Timing("admin import, new rows", rows, importing, "floor: COPY + INSERT"),
        Timing("floor: COPY + UPDATE ... FROM", rows, updating_floor),
        Timing("admin import, updates by id", rows, updating, "floor: COPY + UPDATE"),
        Timing("floor: COPY (SELECT) TO STDOUT", rows, copying),
        Timing("admin export, streaming CSV", rows, exporting, "floor: COPY (SELECT)"),
    ]


# --- a big file through gunicorn and the job worker ------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_memory(pid: int) -> int:
    """The process's peak resident memory in bytes (VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def wait_for(url: str, timeout: float = 30) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def run_job(rows: int, work: Path) -> list[Timing]:
    import requests

    tag = uuid.uuid4().hex[:8]
    authors = 5000
    client = staff_client("127.0.0.1")
    admin_import(client, "/admin/catalog/author/", authors_csv(tag, authors), "a")
    path = work / "books-job.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(BOOK_HEADER)
        for start in range(0, rows, 100_000):
            writer.writerows(book_rows(tag, min(100_000, rows - start), authors, start))
    port = free_port()
    env = {**os.environ, "WEB_CONCURRENCY": "1", "BIND": f"127.0.0.1:{port}"}
    log = open(work / "bench-job.log", "w")  # noqa: SIM115
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
         "--timeout", "120"],
        cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--interval", "0.2"],
        cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz")
        session = requests.Session()
        login = session.get(f"{base}/admin/login/")
        session.post(
            f"{base}/admin/login/",
            data={
                "username": STAFF_USERNAME,
                "password": STAFF_PASSWORD,
                "csrfmiddlewaretoken": csrf_token(login.text),
            },
        )
        token = session.cookies["csrftoken"]
        started = time.perf_counter()
        with open(path, "rb") as file:
            previewed = session.post(
                f"{base}/admin/catalog/book/import/",
                data={"format": "0", "csrfmiddlewaretoken": token},
                files={"import_file": ("books.csv", file, "text/csv")},
                timeout=300,
            )
        fields = dict(HIDDEN.findall(previewed.text))
        if "import_file_name" not in fields:
            raise SystemExit(f"preview failed: {previewed.text[:3000]}")
        previewing = time.perf_counter() - started
        confirmed = session.post(
            f"{base}/admin/catalog/book/process_import/",
            data={**fields, "csrfmiddlewaretoken": token},
            timeout=300,
        )
        job_url = confirmed.url
        while 'data-state="done"' not in (page := session.get(job_url).text):
            if re.search(r'data-state="(failed|cancelled|refused)"', page):
                raise SystemExit(f"the job did not finish: {page[:3000]}")
            time.sleep(0.2)
        total = time.perf_counter() - started
        web_peak = max(peak_memory(pid) for pid in children(web.pid) or [web.pid])
        job_peak = peak_memory(worker.pid)
    finally:
        for process in (web, worker):
            process.terminate()
            process.wait(30)
        log.close()
        remove(tag)
        path.unlink()
    mib = 1 << 20
    return [
        Timing("job import: upload + preview", rows, previewing),
        Timing(
            "job import: upload to rows landed",
            rows,
            total,
            memory=f"web {web_peak / mib:.0f} MiB, job worker {job_peak / mib:.0f} MiB",
        ),
    ]


def report(timings: list[Timing]) -> None:
    by_name = {t.name: t for t in timings}
    print(f"{'':36} {'rows':>9} {'seconds':>8} {'rows/s':>10} {'vs floor':>9}")
    for timing in timings:
        floor = next((t for n, t in by_name.items() if timing.floor and
                      n.startswith(timing.floor)), None)  # fmt: skip
        ratio = ""
        if floor:
            ratio = f"{floor.rows_per_second / timing.rows_per_second:.1f}x"
        print(
            f"{timing.name:36} {timing.rows:>9,} {timing.seconds:>8.2f}"
            f" {timing.rows_per_second:>10,.0f} {ratio:>9} {timing.memory}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--job-rows", type=int, default=0)
    options = parser.parse_args()
    setup_django()
    print(machine())
    timings = run(options.rows)
    if options.job_rows:
        with tempfile.TemporaryDirectory() as work:
            timings += run_job(options.job_rows, Path(work))
    report(timings)


if __name__ == "__main__":
    main()
