"""A short load test over HTTP: gunicorn with 2 workers on loopback.

gunicorn runs with gunicorn.conf.py, as `make serve` does. A few client
threads, logged in as the bench's staff user, request changelist pages
until a request budget or a time budget runs out, whichever comes first;
every address is 127.0.0.1.

Which server served the reads is measured on the servers themselves, in
pg_stat_database: the transaction and row counters of the console database
on the primary and on the replica, read before gunicorn starts and again
after it has stopped (a backend flushes its counters when it exits). Django
runs in autocommit, so every statement is its own transaction, and the
transaction counter counts statements. The counters are read from the
`postgres` database so that reading them does not count. The router's own
request log (the alias of each request) is a second, independent view.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import requests

from bench.environment import DATABASE, PROJECT
from bench.timing import Summary
from dbops.cluster import Cluster

COUNTERS_SQL = """
SELECT xact_commit + xact_rollback, tup_returned + tup_fetched
FROM pg_stat_database WHERE datname = %s
"""
BACKENDS_SQL = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
    "AND pid <> pg_backend_pid()"
)


@dataclass(frozen=True)
class Counters:
    statements: int  # xact_commit + xact_rollback: one per autocommit statement
    rows: int  # tup_returned + tup_fetched

    def __sub__(self, other: Counters) -> Counters:
        return Counters(self.statements - other.statements, self.rows - other.rows)


@dataclass(frozen=True)
class LoadResult:
    workers: int
    concurrency: int
    budget_requests: int
    budget_seconds: float
    requests: int
    errors: int
    seconds: float
    latency: Summary
    primary: Counters
    replica: Counters
    log: RequestLog

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def replica_share(self) -> float:
        total = self.primary.statements + self.replica.statements
        return self.replica.statements / total if total else 0.0

    @property
    def replica_rows_share(self) -> float:
        total = self.primary.rows + self.replica.rows
        return self.replica.rows / total if total else 0.0


# --- the servers' own counters ------------------------------------------------


def _query(cluster: Cluster, role: str, sql: str) -> tuple:
    # A fresh connection each time: a session caches the statistics it read.
    conn = psycopg2.connect(cluster.url(role, "postgres"), connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(sql, [DATABASE])
            return cursor.fetchone()
    finally:
        conn.close()


def counters(cluster: Cluster, role: str) -> Counters:
    return Counters(*_query(cluster, role, COUNTERS_SQL))


def wait_for_backends_to_exit(cluster: Cluster, timeout: float = 15) -> None:
    """Until no session is left on the console database, so that every
    counter of the run has been flushed."""
    deadline = time.monotonic() + timeout
    for role in cluster.roles:
        while _query(cluster, role, BACKENDS_SQL)[0]:
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)


# --- gunicorn -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(*, workers: int, log_path: Path) -> Iterator[str]:
    """gunicorn with the project's config on a free loopback port; its URL."""
    port = free_port()
    env = {
        **os.environ,
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(f"{url}/healthz", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


def _wait_until_serving(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise TimeoutError(f"gunicorn did not answer {url} within 60s")


# --- the client ---------------------------------------------------------------


class _Budget:
    """Hands out request numbers until the request or time budget is spent."""

    def __init__(self, requests: int, seconds: float) -> None:
        self.left = requests
        self.deadline = time.monotonic() + seconds
        self.lock = threading.Lock()

    def take(self) -> int | None:
        with self.lock:
            if self.left <= 0 or time.monotonic() > self.deadline:
                return None
            self.left -= 1
            return self.left


def _client(
    url: str, paths: list[str], cookies: dict[str, str], budget: _Budget, out: list
) -> None:
    session = requests.Session()
    for name, value in cookies.items():
        session.cookies.set(name, value, domain="127.0.0.1")
    while (number := budget.take()) is not None:
        started = time.perf_counter()
        try:
            response = session.get(
                url + paths[number % len(paths)], allow_redirects=False, timeout=30
            )
            ok = response.status_code == 200
        except requests.RequestException:
            ok = False
        out.append(((time.perf_counter() - started) * 1000, ok))


def hammer(
    url: str,
    paths: list[str],
    *,
    cookies: dict[str, str],
    concurrency: int,
    requests: int,
    seconds: float,
) -> tuple[list[tuple[float, bool]], float]:
    """(milliseconds, ok) of each request, and the wall time of the run."""
    budget = _Budget(requests, seconds)
    results: list[tuple[float, bool]] = []
    threads = [
        threading.Thread(target=_client, args=(url, paths, cookies, budget, results))
        for _ in range(concurrency)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


@dataclass(frozen=True)
class RequestLog:
    """What the console's JSON request log says about the load test."""

    routes: Counter  # requests per alias their reads were routed to
    reads: Counter  # reads per alias, from each request's query counts


def read_request_log(log_path: Path, prefix: str) -> RequestLog:
    """The requests under `prefix` in the console's JSON request log (empty
    counters if the log says nothing of the kind)."""
    routes: Counter = Counter()
    reads: Counter = Counter()
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not str(record.get("path", "")).startswith(prefix):
            continue
        route = record.get("route") or {}
        routes[route.get("alias") or "none"] += 1
        for alias, counts in (record.get("queries") or {}).items():
            reads[alias] += counts.get("reads", 0)
    return RequestLog(routes=routes, reads=reads)


def measure(
    cluster: Cluster,
    *,
    paths: list[str],
    cookies: dict[str, str],
    log_path: Path,
    workers: int = 2,
    concurrency: int = 4,
    requests: int = 1500,
    seconds: float = 30,
) -> LoadResult:
    """The load test; the caller has closed its own database connections."""
    wait_for_backends_to_exit(cluster)
    before = {role: counters(cluster, role) for role in cluster.roles}
    with gunicorn(workers=workers, log_path=log_path) as url:
        hammer(  # warm-up: imports, templates and connections in each worker
            url, paths, cookies=cookies, concurrency=concurrency, requests=20,
            seconds=30,
        )  # fmt: skip
        results, elapsed = hammer(
            url,
            paths,
            cookies=cookies,
            concurrency=concurrency,
            requests=requests,
            seconds=seconds,
        )
    wait_for_backends_to_exit(cluster)
    after = {role: counters(cluster, role) for role in cluster.roles}
    return LoadResult(
        workers=workers,
        concurrency=concurrency,
        budget_requests=requests,
        budget_seconds=seconds,
        requests=len(results),
        errors=sum(1 for _, ok in results if not ok),
        seconds=elapsed,
        latency=Summary.of([ms for ms, _ in results]),
        primary=after["primary"] - before["primary"],
        replica=after["replica"] - before["replica"],
        log=read_request_log(log_path, paths[0].split("?")[0]),
    )
