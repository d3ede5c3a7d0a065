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

from dbops import metrics, migration_status, replication
from dbops.aliases import PRIMARY


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
        if now.primary_up:
            write(f"primary: up  wal={now.primary_lsn}")
        else:
            write(f"primary: DOWN  {now.primary.error}")
        for row in now.replicas:
            s = row.status
            if not s.reachable:
                write(f"{row.alias}: DOWN  {row.verdict.detail}")
                continue
            replay = "paused" if s.replay_paused else "replaying"
            write(
                f"{row.alias}: up  {replay}  lag={s.lag_bytes} bytes "
                f"{s.lag_seconds} s  received={s.receive_lsn} "
                f"replayed={s.replay_lsn}  router: {row.verdict.detail}"
            )
        if not now.replicas:
            write("no replica configured")

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

        problems = now.problems
        if problems:
            raise CommandError("; ".join(problems))

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
        for row in now.replicas:
            if self.verbosity > 1:
                self.stdout.write(
                    f"{row.alias}: reachable={row.status.reachable} "
                    f"lag={row.status.lag_bytes} bytes {row.status.lag_seconds} s"
                )
