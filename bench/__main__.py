"""`python -m bench` (`make bench`): the big-table admin and load benchmarks.

Starts the bench cluster (and stops it again if it was not running),
migrates it, collects static files, loads a million books if they are not
there yet, then measures the admin pages in-process and runs the load test
against gunicorn, and prints and keeps the results.
"""

from __future__ import annotations

import argparse
import os
import sys

import django

from bench import environment


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--books", type=int, default=1_000_000)
    parser.add_argument("--authors", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=40, help="requests per page")
    parser.add_argument("--load-requests", type=int, default=1500)
    parser.add_argument("--load-seconds", type=float, default=30)
    parser.add_argument("--load-concurrency", type=int, default=4)
    parser.add_argument("--no-load", action="store_true", help="skip the load test")
    parser.add_argument(
        "--no-docs", action="store_true", help="print only; leave docs/ alone"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print EXPLAIN ANALYZE of each page's slowest statement",
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the bench cluster up"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="delete the bench cluster first, so that populate is timed again",
    )
    return parser.parse_args(argv)


def load_paths() -> list[str]:
    from bench.pages import CHANGELIST

    return [CHANGELIST] + [f"{CHANGELIST}?p={number}" for number in (2, 3, 4, 5)]


def run(args: argparse.Namespace, cluster) -> str:
    from django.core.management import call_command
    from django.db import connections

    from bench import dataset, load, pages, report

    load_before = os.getloadavg()[0]
    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    population = dataset.ensure(cluster, books=args.books, authors=args.authors)
    environment.quiet_request_log()
    client = pages.staff_client(pages.staff_user())
    cluster.wait_for_replay()
    results = pages.measure(client, pages.admin_pages(), samples=args.samples)
    for result in results:
        print(
            f"{result.page.name}: p50 {result.timing.p50:.1f} ms, "
            f"floor {result.floor.p50:.1f} ms",
            flush=True,
        )
        if args.explain and result.slowest:
            print(pages.explain(result.slowest), flush=True)
    load_result = None
    if not args.no_load:
        cookies = {name: morsel.value for name, morsel in client.cookies.items()}
        connections.close_all()
        load_result = load.measure(
            cluster,
            paths=load_paths(),
            cookies=cookies,
            log_path=environment.WORK_DIR / "gunicorn.log",
            concurrency=args.load_concurrency,
            requests=args.load_requests,
            seconds=args.load_seconds,
        )
    machine = report.Machine.here(
        postgres=str(cluster.execute("primary", "SHOW server_version")),
        load_before=load_before,
    )
    text = report.render(
        machine=machine,
        population=population,
        results=results,
        load=load_result,
        samples=args.samples,
    )
    if not args.no_docs:
        report.write_section(text)
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cluster = environment.bench_cluster()
    if args.fresh:
        cluster.destroy()
    was_running = cluster.is_running("primary")
    cluster.up()
    try:
        environment.configure(cluster)
        django.setup()
        print(run(args, cluster))
    finally:
        if not (was_running or args.keep_running):
            cluster.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
