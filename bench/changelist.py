"""The book changelist on the bench cluster: CPU and time per page, near
the start, half a million rows in and at the end, for the console and for
the stock Django admin on the same rows (`bench/stock_settings.py`), next to
the SQL floor of reading the same 50 rows by OFFSET and by seeking on the
primary key.

    .venv/bin/python -m bench.changelist [--samples 20] [--rounds 3]

Each admin is measured in a process of its own (they are two settings),
in rounds that alternate which goes first; CPU is compared round by round.

Needs the bench cluster loaded (`python -m bench --no-load --keep-running`
once); starts it if it is stopped.
"""

from __future__ import annotations

import argparse
import gzip
import json
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


def measure(samples: int) -> dict:
    """This process's admin: wall and CPU milliseconds of each request per
    page, and the page's HTML (plain and gzipped bytes)."""
    import django

    django.setup()
    from bench.pages import staff_client, staff_user

    quiet_request_log()
    client = staff_client(staff_user())
    figures = {}
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
        figures[label] = {
            "walls": walls,
            "cpus": cpus,
            "html": len(body),
            "gzip": len(gzip.compress(body)),
        }
    return figures


def run_worker(admin: str, samples: int) -> dict:
    """One round of one admin, in a process of its own (two settings)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.changelist", "--worker", admin,
         "--samples", str(samples)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(title: str, rounds: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'page':<28}{'wall p50':>10}{'CPU p50':>10}{'HTML':>10}{'gzip':>9}")
    for label in PAGES:
        walls = [ms for figures in rounds for ms in figures[label]["walls"]]
        cpus = [ms for figures in rounds for ms in figures[label]["cpus"]]
        html, packed = rounds[0][label]["html"], rounds[0][label]["gzip"]
        print(
            f"{label:<28}{statistics.median(walls):>8.0f}ms"
            f"{statistics.median(cpus):>8.0f}ms"
            f"{html / 1024:>8.0f}KB{packed / 1024:>7.0f}KB"
        )


def compare(console: list[dict], stock: list[dict]) -> None:
    """CPU per page, console over stock, round by round: each round's two
    processes ran back to back, so a slower spell of the machine (a shared
    VM's) weighs on both sides of a ratio."""
    print("\nCPU p50, console / stock, per round:")
    for label in PAGES:
        ratios = [
            statistics.median(ours[label]["cpus"])
            / statistics.median(theirs[label]["cpus"])
            for ours, theirs in zip(console, stock, strict=True)
        ]
        shown = "  ".join(f"{ratio:.2f}" for ratio in ratios)
        print(f"  {label:<28}{shown}   median {statistics.median(ratios):.2f}")


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
    parser.add_argument("--samples", type=int, default=20, help="per page and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--worker", choices=["console", "stock"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    cluster = bench_cluster()
    cluster.up()
    configure(cluster)
    if args.worker:
        if args.worker == "stock":
            os.environ["DJANGO_SETTINGS_MODULE"] = "bench.stock_settings"
        print(json.dumps(measure(args.samples)))
        return
    _prepare()
    console: list[dict] = []
    stock: list[dict] = []
    for number in range(args.rounds):
        # Alternate which goes first, so that neither always meets a
        # machine just warmed or just disturbed by the other.
        order = ["console", "stock"] if number % 2 == 0 else ["stock", "console"]
        for admin in order:
            figures = run_worker(admin, args.samples)
            (console if admin == "console" else stock).append(figures)
    report("Console (unfold, estimated count, seek on deep pages)", console)
    report("Stock Django admin (ModelAdmin, its paginator counts)", stock)
    compare(console, stock)
    floor(cluster)


if __name__ == "__main__":
    main()
