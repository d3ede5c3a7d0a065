"""An import: its staged rows, its checks' findings, and its run as a job.

One row follows an upload from the preview to its end. The preview stages
the file (`StagedRow`, one row per record, text as it came) and checks it;
the confirm merges the staged rows, in the request for small files and as a
background job for big ones. The staged rows are the upload: any web worker
and the job worker find them on the primary, and they are deleted when the
import ends or expires.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Import(models.Model):
    class State(models.TextChoices):
        STAGED = "staged", "checked, waiting for confirmation"
        REFUSED = "refused", "refused: the file has problems"
        QUEUED = "queued", "waiting for a job worker"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed: nothing was written"
        CANCELLED = "cancelled", "cancelled: nothing was written"

    FINISHED = (State.REFUSED, State.DONE, State.FAILED, State.CANCELLED)

    model = models.CharField(max_length=100)  # app_label.model_name
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL
    )
    file_name = models.CharField(max_length=255, blank=True)
    columns = models.JSONField(default=list)  # the file's columns, normalized
    state = models.CharField(max_length=20, choices=State, default=State.STAGED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    # What the checks found: rows in the file, new, to update, unchanged,
    # rows with problems, and the listed problems [[line, column, reason]].
    total_rows = models.IntegerField(default=0)
    new_rows = models.IntegerField(default=0)
    updated_rows = models.IntegerField(default=0)
    unchanged_rows = models.IntegerField(default=0)
    problem_rows = models.IntegerField(default=0)
    problems = models.JSONField(default=list)
    # A job's progress, committed as it goes (rows merged so far).
    done_rows = models.IntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    waiting_for = models.CharField(max_length=200, blank=True)  # a lagging replica
    message = models.TextField(blank=True)  # why it failed, in words
    # Read-your-writes: the submitting client's write position, and the
    # primary's position once the job's writes were committed.
    client_position = models.BigIntegerField(null=True)
    result_position = models.BigIntegerField(null=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "import"
        verbose_name_plural = "imports"
        indexes = [
            models.Index(fields=["state", "created_at"], name="bulk_import_state")
        ]

    def __str__(self) -> str:
        return f"{self.file_name or 'import'} ({self.get_state_display()})"

    @property
    def finished(self) -> bool:
        return self.state in self.FINISHED


class StagedRow(models.Model):
    """One record of an upload, its cells as text in the model's column order
    (c1 is the first of the resource's columns, absent columns are NULL).

    The table is UNLOGGED (see the migration): staged rows are scratch data
    of the primary, not worth WAL or replicas, and a crash that empties the
    table only expires the uploads that were waiting.

    NULL, not "", is a cell the file does not have (COPY's empty field).
    """

    # The key is the only index: COPY maintains nothing else while loading,
    # and a job merges in batches of consecutive record numbers.
    pk = models.CompositePrimaryKey("upload", "number")
    upload = models.ForeignKey(
        Import, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False
    )
    number = models.IntegerField()  # 1 for the first record
    line = models.IntegerField()  # the file line the record starts on
    problem = models.TextField(null=True)  # noqa: DJ001  # found while reading the record
    c1 = models.TextField(null=True)  # noqa: DJ001
    c2 = models.TextField(null=True)  # noqa: DJ001
    c3 = models.TextField(null=True)  # noqa: DJ001
    c4 = models.TextField(null=True)  # noqa: DJ001
    c5 = models.TextField(null=True)  # noqa: DJ001
    c6 = models.TextField(null=True)  # noqa: DJ001
    c7 = models.TextField(null=True)  # noqa: DJ001
    c8 = models.TextField(null=True)  # noqa: DJ001

    def __str__(self) -> str:
        return f"line {self.line} of upload {self.upload_id}"
