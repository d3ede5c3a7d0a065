"""`manage.py dbops status` and `manage.py dbops sample --every 5`.

`status` is the command-line twin of the replication and migrations pages;
it exits non-zero when a replica is down or over the lag limits, so that it
can gate a deploy or feed a cron alert. `sample` stores the lag history that
the replication page charts.
"""

from __future__ import annotations

import signal
import threading
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from dbops.ops import metrics, migration_status, replication
from dbops.routing import rule
from dbops.routing.aliases import PRIMARY


def describe_primary(primary: rule.PrimaryState) -> str:
    """The primary's line, saying what is wrong and what to do."""
    if not primary.reachable:
        return (
            f"primary: DOWN  {primary.error}\n"
            "  Is the server running, and does DATABASE_URL name it? "
            "(the local one: manage.py pgcluster up)"
        )
    if primary.in_recovery:
        return (
            f"primary: WRONG SERVER  {primary.server} is a replica (in recovery, "
            "read-only)\n  DATABASE_URL must name the primary; replicas go in "
            "DATABASE_REPLICA_URLS."
        )
    return f"primary: up  {primary.server}  wal={rule.int_to_lsn(primary.position)}"


def describe_replica(row: replication.ReplicaRow) -> str:
    s = row.status
    if not s.reachable:
        return f"{row.alias}: DOWN  {row.verdict.detail}"
    replay = "paused" if s.replay_paused else "replaying"
    return (
        f"{row.alias}: up  {replay}  lag {format_seconds(s.lag_seconds)}, "
        f"{format_bytes(s.lag_bytes)}  received={s.receive_lsn} "
        f"replayed={s.replay_lsn}  router: {row.verdict.detail}"
    )


def format_seconds(seconds: float | None) -> str:
    return "unknown" if seconds is None else f"{seconds:.1f} s"


def format_bytes(count: int | None) -> str:
    """Binary units, as the pages show them."""
    if count is None:
        return "unknown bytes"
    if count < 1024:
        return f"{count} bytes"
    size = count / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


class Command(BaseCommand):
    help = "Replication and migration status, and the replica lag sampler."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)
        status = commands.add_parser(
            "status",
            help="Print replica state and lag and the migration summary; exit 1 "
            "when a replica is down or over the lag limits.",
        )
        status.add_argument(
            "--no-model-check",
            action="store_true",
            help="skip the check for model changes without a migration",
        )
        sample = commands.add_parser(
            "sample", help="Store a lag sample per replica every few seconds."
        )
        sample.add_argument("--every", type=float, default=5.0, help="seconds (5)")
        sample.add_argument(
            "--keep-hours",
            type=float,
            default=replication.RETENTION.total_seconds() / 3600,
            help="delete samples older than this (24)",
        )
        sample.add_argument("--once", action="store_true", help="one tick, then exit")

    def handle(self, *args, action, **options):
        self.verbosity = options["verbosity"]
        if action == "status":
            self.status(check_changes=not options["no_model_check"])
        else:
            self.sample(
                every=options["every"],
                keep=timedelta(hours=options["keep_hours"]),
                once=options["once"],
            )

    # --- status -------------------------------------------------------------

    def status(self, *, check_changes: bool) -> None:
        now = replication.replicas_now(fresh=True)
        write = self.stdout.write
        write(describe_primary(now.primary))
        for row in now.replicas:
            write(describe_replica(row))
        if not now.replicas:
            write("no replica configured")
        if now.primary_up and not now.primary.in_recovery:
            self._migrations(check_changes)
        else:
            # Applied migrations are read from the primary: without it,
            # every migration would look unapplied.
            write("migrations: not checked (they are read from the primary)")
        problems = now.problems
        if problems:
            raise CommandError("; ".join(problems))

    def _migrations(self, check_changes: bool) -> None:
        write = self.stdout.write
        status = migration_status.migration_status(check_changes=check_changes)
        unapplied = status.unapplied
        write(f"unapplied migrations: {len(unapplied)}")
        for migration in unapplied:
            flags = "; ".join(
                f"{'BIG TABLE ' if r.big else ''}{r.table}: {r.lock}"
                for r in migration.risks
            )
            name = f"{migration.app}.{migration.name}"
            write(f"  {name}  [{flags}]" if flags else f"  {name}")
        if status.pending_changes:
            write("model changes without a migration:")
            for app, changes in status.pending_changes.items():
                for change in changes:
                    write(f"  {app}: {change}")
        for replica in status.replicas:
            if not replica.reachable:
                state = "unreachable"
            elif replica.behind:
                state = f"{len(replica.behind)} applied migration(s) not replayed yet"
            else:
                state = "has replayed the latest applied migration"
            write(f"{replica.alias}: {state}")

    # --- sample -------------------------------------------------------------

    def sample(self, *, every: float, keep: timedelta, once: bool) -> None:
        stop = threading.Event()
        if not once:
            # SIGTERM (from `make run`'s script or a process manager) and
            # Ctrl-C end the loop between ticks, never halfway through one.
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
        # The sampler's own queries are monitoring overhead, not the
        # console's load: keep them out of the query counters.
        with metrics.not_counted():
            while True:
                self._tick(keep)
                if once or stop.wait(every):
                    break
        connections.close_all()

    def _tick(self, keep: timedelta) -> None:
        now = replication.replicas_now()
        if not now.primary_up:
            self.stderr.write("primary is down: no sample stored")
            return
        try:
            replication.store_samples(now)
            replication.prune_samples(older_than=keep)
        except DatabaseError as exc:
            self.stderr.write(f"could not store samples: {exc}")
            connections[PRIMARY].close()
        try:
            metrics.note_reads()  # for the replica share of the last minutes
        except OSError as exc:
            self.stderr.write(f"could not note the read totals: {exc}")
        for row in now.replicas:
            if self.verbosity > 1:
                self.stdout.write(
                    f"{row.alias}: reachable={row.status.reachable} "
                    f"lag={row.status.lag_bytes} bytes {row.status.lag_seconds} s"
                )
