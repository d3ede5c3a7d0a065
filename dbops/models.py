"""The operations pages' permissions, the replica lag history and the job
workers' heartbeats."""

from __future__ import annotations

from django.db import models


class Operations(models.Model):
    """No table: it only carries the permissions of the operations pages.

    Permissions belong to a model in Django; an unmanaged model gives them a
    home (and a content type) without creating anything in the database.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_operations", "Can view the operations pages"),
            ("reset_query_counters", "Can reset query counters"),
        ]

    def __str__(self) -> str:
        return "operations"


class LagSample(models.Model):
    """One reading of one replica's lag, kept on the primary for the history
    chart. A replica that could not be reached is stored with `reachable`
    false and no lag, so that outages show in the history too."""

    alias = models.CharField(max_length=100)
    taken_at = models.DateTimeField()
    reachable = models.BooleanField()
    replay_paused = models.BooleanField(null=True)
    lag_bytes = models.BigIntegerField(null=True)
    lag_seconds = models.FloatField(null=True)

    class Meta:
        ordering = ["taken_at", "id"]
        indexes = [
            # The history chart reads one replica's last hour; pruning
            # deletes by age across all replicas.
            models.Index(fields=["alias", "taken_at"], name="dbops_lagsample_alias_at"),
            models.Index(fields=["taken_at"], name="dbops_lagsample_taken_at"),
        ]

    def __str__(self) -> str:
        return f"{self.alias} at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class UserWritePosition(models.Model):
    """The WAL position of a user's last write, whichever browser, device or
    script made it: read-your-writes by user as well as by client (the
    cookie and header). Written on the primary with GREATEST, so it only
    moves forward; read by each process with its periodic primary check."""

    user_id = models.BigIntegerField(primary_key=True)
    position = models.BigIntegerField()
    written_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"user {self.user_id} at {self.position}"


class JobWorker(models.Model):
    """A job worker process (`db_worker`), as its last heartbeat left it
    (console/bulk/workers.py writes it; dbops/ops/jobqueue.py reads it).

    One silent for JOB_WORKER_STALE_SECONDS is gone (killed, its machine
    down, or cut off from the primary): the dashboard, the Imports list,
    /readyz and /metrics say so when jobs wait with no live worker.
    """

    worker_id = models.CharField(max_length=64, primary_key=True)
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    class Meta:
        verbose_name = "job worker"

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"
