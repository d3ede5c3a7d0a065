"""The book changelist on the bench cluster: CPU and time per page, near
the start, half a million rows in and at the end, for the console and for
the stock Django admin on the same rows (`bench/stock_settings.py`), next to
the SQL floor of reading the same 50 rows by OFFSET and by seeking on the
primary key.

    .venv/bin/python -m bench.changelist [--samples 20]

Each admin is measured in a process of its own (they are two settings).

Needs the bench cluster loaded (`python -m bench --no-load --keep-running`
once); starts it if it is stopped.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import time

import psycopg2

from bench.environment import bench_cluster, configure, quiet_request_log

CHANGELIST = "/admin/catalog/book/"
PAGES = {"page 2": 2, "page 10,000 (row 500,000)": 10_000, "last page": 20_000}
OFFSET_SQL = (
    "SELECT b.*, a.* FROM catalog_book b JOIN catalog_author a ON a.id = b.author_id"
    " ORDER BY b.id DESC LIMIT 50 OFFSET %s"
)
SEEK_SQL = (
    "SELECT b.*, a.* FROM catalog_book b JOIN catalog_author a ON a.id = b.author_id"
    " WHERE b.id <= (SELECT id FROM catalog_book ORDER BY id DESC LIMIT 1 OFFSET %s)"
    " ORDER BY b.id DESC LIMIT 50"
)


def measure(samples: int, title: str) -> None:
    """This process's admin: wall and CPU time per page, and its HTML."""
    import django

    django.setup()
    from bench.pages import staff_client, staff_user

    quiet_request_log()
    client = staff_client(staff_user())
    print(f"\n{title}")
    print(f"{'page':<28}{'wall p50':>10}{'CPU p50':>10}{'HTML':>10}{'gzip':>9}")
    for label, number in PAGES.items():
        # The stock paginator's pages count from 1 as the console's do.
        url = f"{CHANGELIST}?p={number}"
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        body = response.content
        walls, cpus = [], []
        for _ in range(samples):
            wall, cpu = time.perf_counter(), time.process_time()
            client.get(url)
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        print(
            f"{label:<28}{statistics.median(walls):>8.0f}ms{statistics.median(cpus):>8.0f}ms"
            f"{len(body) / 1024:>8.0f}KB{len(gzip.compress(body)) / 1024:>7.0f}KB"
        )


def _prepare() -> None:
    """The schema and the static files of this checkout, as `python -m
    bench` has them (a page names the collected files by their hash)."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)


def floor(cluster) -> None:
    print("\nSQL floor, the same 50 rows on the replica, bare (median of 5):")
    with psycopg2.connect(cluster.url("replica")) as bare, bare.cursor() as cursor:
        for label, sql in (("OFFSET", OFFSET_SQL), ("seek", SEEK_SQL)):
            for name, number in PAGES.items():
                offset = (number - 1) * 50
                times = []
                for _ in range(5):
                    start = time.perf_counter()
                    cursor.execute(sql, [offset])
                    cursor.fetchall()
                    times.append((time.perf_counter() - start) * 1000)
                print(f"  {label:<7}{name:<28}{statistics.median(times):>7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.changelist")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--stock", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cluster = bench_cluster()
    cluster.up()
    configure(cluster)
    if args.stock:
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.stock_settings"
        measure(args.samples, "Stock Django admin (ModelAdmin, its paginator counts)")
        return
    _prepare()
    measure(args.samples, "Console (unfold, estimated count, seek on deep pages)")
    sys.stdout.flush()
    subprocess.run(
        [sys.executable, "-m", "bench.changelist", "--stock",
         "--samples", str(args.samples)],
        check=True,
    )  # fmt: skip
    floor(cluster)


if __name__ == "__main__":
    main()
