"""The results as Markdown: printed, and kept in docs/benchmarks.md.

The file is shared with other benchmarks, each in its own `## ` section;
only the section "Big-table admin and load" is replaced, the rest of the
file is left as it is.
"""

from __future__ import annotations

import os
import platform
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench.dataset import Population
from bench.load import LoadResult
from bench.pages import PageResult

SECTION = "## Big-table admin and load"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
FILE_HEADER = (
    "# Benchmarks\n\n"
    "How fast the console is, measured on a known machine. Each section says "
    "the command that produced it and is rewritten by that command.\n"
)
COMMAND = "make bench"
LOAD_REPLICA_TARGET = 0.95
POPULATE_TARGET_SECONDS = 60


@dataclass(frozen=True)
class Machine:
    cpus: int
    memory_gib: float
    postgres: str
    load_before: float
    load_after: float
    date: str

    @classmethod
    def here(cls, *, postgres: str, load_before: float) -> Machine:
        return cls(
            cpus=len(os.sched_getaffinity(0)),
            memory_gib=_memory_gib(),
            postgres=postgres,
            load_before=load_before,
            load_after=os.getloadavg()[0],
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )

    def describe(self) -> str:
        return (
            f"{self.cpus} CPUs, {self.memory_gib:.0f} GiB RAM, PostgreSQL "
            f"{self.postgres}, Python {platform.python_version()}, Django "
            f"{version('django')}, gunicorn {version('gunicorn')}; {self.date}. "
            f"Load average {self.load_before:.1f} before the run and "
            f"{self.load_after:.1f} after it (the machine's other work competes "
            "for the same cores)."
        )


def _memory_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _mark(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def population_text(population: Population) -> str:
    size = f"{population.books:,} books by {population.authors:,} authors"
    if population.populate_seconds is None:
        return f"{size}, loaded before the benchmark kept a record of it."
    when = "in this run" if population.loaded_now else population.measured_at
    target = population.populate_seconds < POPULATE_TARGET_SECONDS
    return (
        f"{size}. `populate` loaded them in **{population.populate_seconds:.1f} s** "
        f"({when}; target under {POPULATE_TARGET_SECONDS} s: {_mark(target)}), "
        f"and the replica replayed them {population.replay_seconds:.1f} s later."
    )


def _target_text(result: PageResult) -> str:
    wanted = []
    if result.page.target_ms:
        wanted.append(f"p50 < {result.page.target_ms:.0f} ms")
    if result.page.replica_only:
        wanted.append("reads on the replica")
    return ", ".join(wanted)


def pages_table(results: list[PageResult]) -> list[str]:
    lines = [
        "| page | p50 | p95 | CPU p50 | SQL floor p50 | queries (primary / "
        "replica) | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.page.name} | {_ms(result.timing.p50)} | "
            f"{_ms(result.timing.p95)} | {_ms(result.cpu.p50)} | "
            f"{_ms(result.floor.p50)} | {result.primary_reads} / "
            f"{result.replica_reads} | "
            f"{_target_text(result)} | "
            f"{_mark(result.passed)} |"
        )
    return lines


def checks(results: list[PageResult]) -> list[str]:
    counting = [r.page.name for r in results if r.counts_every_book]
    on_primary = [
        r.page.name for r in results if r.page.replica_only and r.primary_reads
    ]
    return [
        "- A `COUNT` over all of `catalog_book` (no filter, no limit): "
        + (", ".join(counting) if counting else "none, on any page")
        + ".",
        "- Reads on the primary where the replica should serve them: "
        + (", ".join(on_primary) if on_primary else "none")
        + ".",
    ]


def _counts(counter) -> str:
    return ", ".join(f"{alias} {count:,}" for alias, count in counter.items())


def load_text(load: LoadResult) -> list[str]:
    share_ok = load.replica_share >= LOAD_REPLICA_TARGET and load.errors == 0
    return [
        f"gunicorn with gunicorn.conf.py and {load.workers} sync workers; "
        f"{load.concurrency} client threads over loopback, logged in as the staff "
        "user, request book changelist pages 1 to 5 for at most "
        f"{load.budget_requests:,} requests or {load.budget_seconds:.0f} s:",
        "",
        "| requests | seconds | requests/s | p50 | p95 | p99 | errors |",
        "|---|---|---|---|---|---|---|",
        f"| {load.requests:,} | {load.seconds:.1f} | {load.per_second:.1f} | "
        f"{_ms(load.latency.p50)} | {_ms(load.latency.p95)} | "
        f"{_ms(load.latency.p99)} | {load.errors} |",
        "",
        f"The replica served **{load.replica_share:.1%}** of the statements "
        f"({load.replica.statements:,} against {load.primary.statements:,} on the "
        f"primary) and {load.replica_rows_share:.1%} of the rows read, by "
        "PostgreSQL's own counters: `pg_stat_database` for the console database "
        "on each server, read before gunicorn started and after it stopped "
        "(warm-up included; in autocommit a transaction is a statement, and "
        "anything else on the server, autovacuum for one, counts too). The "
        "console's request log, per request: reads routed to "
        f"{_counts(load.log.routes) or 'n/a'}; reads counted "
        f"{_counts(load.log.reads) or 'n/a'}. Target zero errors and at least "
        f"{LOAD_REPLICA_TARGET:.0%} of reads on the replica: {_mark(share_ok)}.",
    ]


def render(
    *,
    machine: Machine,
    population: Population,
    results: list[PageResult],
    load: LoadResult | None,
    samples: int,
) -> str:
    lines = [
        SECTION,
        "",
        f"Command: `{COMMAND}` (that is, `.venv/bin/python -m bench`). It runs on "
        "a primary and streaming replica of its own, under `var/pgcluster-bench/` "
        "on 127.0.0.1:55452 and :55453, never on the development database.",
        "",
        f"Machine: {machine.describe()}",
        "",
        f"Data: {population_text(population)}",
        "",
        "### Admin pages",
        "",
        f"Through the whole Django stack (Django's test client in-process, "
        f"production settings, `DEBUG` off), logged in as a staff user, "
        f"{samples} requests per page after a warm-up. *CPU* is the process's "
        "CPU time per request: Python and templates, what the code costs however "
        "busy the machine is. *SQL floor* is the same statements the page ran, "
        "run bare with a psycopg2 cursor on the server that ran them.",
        "",
        *pages_table(results),
        "",
        *checks(results),
        "",
        "The SQL floor is a few milliseconds on every page: the rest is Python, "
        "mostly rendering the page's rows (50) through unfold's templates. "
        "CPU time per request differs by up to about 15% between processes "
        "running the same code (how the process was started, its memory "
        "layout), so compare runs "
        "by their SQL floor and query counts first.",
        "",
        "### Load test",
        "",
        *(load_text(load) if load else ["Skipped (`--no-load`)."]),
        "",
    ]
    return "\n".join(_wrap(line) for line in lines)


def _wrap(line: str) -> str:
    """Prose and bullets wrapped to 79 columns; headings and tables as they are."""
    if not line or line.startswith(("#", "|")):
        return line
    indent = "  " if line.startswith("- ") else ""
    return textwrap.fill(
        line,
        width=79,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def write_section(text: str, path: Path = DOCS) -> None:
    """Replace (or add) this benchmark's section of `path`, keep the rest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    current = path.read_text() if path.exists() else FILE_HEADER
    start = current.find(SECTION + "\n")
    if start == -1:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(SECTION))
        rest = current[end + 1 :] if end != -1 else ""
        updated = current[:start] + text + ("\n" + rest if rest else "")
    path.write_text(updated)
