"""Django's `migrate`, made safe for a live primary with replicas:

- each atomic migration takes its locks under a `lock_timeout` and, when it
  cannot get them, is rolled back and retried with a longer timeout
  (`dbops.ops.lock_retries`; MIGRATION_LOCK_TIMEOUT, MIGRATION_LOCK_ATTEMPTS);
- before it starts, it says which replicas are far behind (they replay the
  migration late, and its locks there cancel their long reads), and with
  `--wait-for-replicas SECONDS` waits for them to catch up first.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import migrate
from django.db import OperationalError

from dbops.ops import lock_retries, replication
from dbops.routing.aliases import PRIMARY
from dbops.routing.probes import error_text


class Command(migrate.Command):
    help = (
        "Updates database schema: each migration under a lock timeout, "
        "retried; warns about (or waits for) replicas far behind."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--wait-for-replicas",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="Wait up to SECONDS for every replica to be within the lag "
            "limits before migrating (default: only say which are behind).",
        )

    def migration_progress_callback(self, action, migration=None, fake=False):
        if action == "apply_start":
            self.current_migration = migration
        super().migration_progress_callback(action, migration, fake)

    def handle(self, *args, **options):
        self.current_migration = None
        if options["database"] == PRIMARY and (
            options["verbosity"] >= 1 or options["wait_for_replicas"]
        ):
            self._check_replicas(options["wait_for_replicas"])
        attempts = lock_retries.schedule(
            settings.MIGRATION_LOCK_TIMEOUT, settings.MIGRATION_LOCK_ATTEMPTS
        )
        try:
            lock_retries.run_with_lock_retries(
                lambda: super(Command, self).handle(*args, **options),
                attempts,
                on_retry=self._retrying,
            )
        except OperationalError as exc:
            if getattr(exc.__cause__, "pgcode", None) is not None:
                raise  # the server answered: its error is the message
            raise CommandError(
                f"The primary database is not reachable: {error_text(exc)}\n"
                "Start the local cluster with `manage.py pgcluster up` (or "
                "`make run`), or check DATABASE_URL."
            ) from exc
        except lock_retries.LocksNotTaken as exc:
            raise CommandError(
                f"{self.current_migration} could not take its locks in "
                f"{len(exc.attempts)} attempts (lock_timeout up to "
                f"{exc.attempts[-1].lock_timeout:g} s); it was rolled back and "
                "nothing of it is applied. A long transaction holds its table: "
                "find it in pg_stat_activity (or pg_locks), let it finish or "
                "end it, and run migrate again."
            ) from exc

    def _retrying(self, number: int, attempt: lock_retries.Attempt) -> None:
        self.stderr.write(
            f"  {self.current_migration}: no lock within "
            f"{attempt.lock_timeout:g} s (a transaction holds its table), "
            f"rolled back; attempt {number + 1} in {attempt.pause:g} s."
        )

    def _check_replicas(self, wait: float) -> None:
        behind = _replicas_behind()
        if behind and wait > 0:
            self.stdout.write(f"Waiting up to {wait:g} s for: {'; '.join(behind)}")
            deadline = time.monotonic() + wait
            while behind and time.monotonic() < deadline:
                time.sleep(0.5)
                behind = _replicas_behind()
        for line in behind:
            self.stderr.write(
                f"Warning: {line}. It replays this migration only once it "
                "catches up, and serves no reads until then; the migration's "
                "locks, replayed there, cancel its long reads."
            )


def _replicas_behind() -> list[str]:
    """The replicas the rule keeps from serving reads, and why."""
    now = replication.replicas_now(fresh=True)
    return [
        f"{row.alias}: {row.verdict.detail}" for row in now.replicas if not row.serving
    ]
