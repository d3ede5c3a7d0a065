"""The import pipeline: stage the file with COPY, check it, merge it.

    stage()  reads the upload once, as a stream, into staged rows (COPY), and
             checks them: the preview. Nothing of the target table is written.
    merge()  checks again (rows may have changed since the preview) and, in
             one transaction, inserts the new rows and updates those named by
             id, in batches of record numbers; all or nothing.

Every statement runs on the primary: the file's authors may have been
imported a moment ago, and the staged rows are on the primary only.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from console.bulk import sql
from console.bulk.models import Import, StagedRow
from console.bulk.reading import Reader, UnreadableFile, check_text, normalize_header
from console.bulk.spec import ImportSpec
from dbops.routing import PRIMARY

logger = logging.getLogger("console.bulk")

# Rows per INSERT/UPDATE of a job's batch (progress, cancelling and the
# replica lag check happen between batches).
BATCH_ROWS = 10_000
PREVIEW_ROWS = 100
# An upload not confirmed within this many seconds is deleted with its rows.
STAGED_LIFETIME = 3600
# What a check or merge writes to its Import (not the fields a job's progress
# reporter or a cancel request write meanwhile).
RESULT_FIELDS = [
    "state",
    "finished_at",
    "new_rows",
    "updated_rows",
    "unchanged_rows",
    "problem_rows",
    "problems",
]
# Cannot be taken by two merges at once (pg_advisory_xact_lock's first key).
LOCK_NAMESPACE = 7_301


@dataclass(frozen=True)
class Problem:
    """One reason a file was refused: a bad cell, row or the whole file."""

    line: int | None  # the file's line (the header is line 1); None: whole file
    column: str  # "" when the problem is not about one column
    reason: str

    def __str__(self) -> str:
        where = "file" if self.line is None else f"line {self.line}"
        if self.column:
            where += f", {self.column}"
        return f"{where}: {self.reason}"


class Refused(ValueError):
    """The file cannot be staged at all (not CSV text, no rows)."""


class WrongHeader(Refused):
    """The header names columns the import does not have, or lacks some."""


class Cancelled(Exception):
    """The job's owner asked to stop; everything is rolled back."""


def problems_of(upload: Import) -> list[Problem]:
    return [Problem(line, column, reason) for line, column, reason in upload.problems]


# --- staging ------------------------------------------------------------------


def stage(
    *,
    spec: ImportSpec,
    stream: IO[bytes],
    owner_id: int | None = None,
    file_name: str = "",
    client_position: int | None = None,
) -> Import:
    """Stage and check a CSV stream; raises Refused for a file that cannot
    be read. The Import's counts and problems say what a merge would do."""
    try:
        has_nul = check_text(stream)
        reader = Reader(stream, has_nul=has_nul)
    except UnreadableFile as exc:
        raise Refused(str(exc)) from None
    try:
        header = normalize_header(reader.header)
        if not reader.header:
            raise Refused("The file is empty.")
        if problem := spec.header_problem(header):
            raise WrongHeader(problem)
        expire_staged()
        upload = Import.objects.using(PRIMARY).create(
            model=spec.label,
            owner_id=owner_id,
            file_name=file_name[:255],
            columns=header,
            client_position=client_position,
        )
        try:
            total = _copy(spec, upload, reader, header)
        except UnreadableFile as exc:
            discard(upload)
            raise Refused(str(exc)) from None
    finally:
        reader.close()
    if total == 0:
        discard(upload)
        raise Refused("No valid data to import: the file has a header and no rows.")
    upload.total_rows = total
    check(spec, upload)
    upload.save(using=PRIMARY, update_fields=[*RESULT_FIELDS, "total_rows"])
    if upload.problems:
        discard(upload)  # nothing to confirm
    return upload


def _copy(spec: ImportSpec, upload: Import, reader: Reader, header: list[str]) -> int:
    """COPY the records into the staging table; the number of records."""
    positions = [header.index(name) if name in header else None for name in spec.names]
    counter = iter(range(1, 1 << 62))
    number = 0

    def rows() -> Iterator[list[Any]]:
        nonlocal number
        for record in reader:
            number = next(counter)
            values = record.values
            yield [
                upload.pk,
                number,
                record.line,
                record.problem,
                *(None if at is None else values[at] for at in positions),
            ]

    stream = CsvStream(rows())
    with connections[PRIMARY].cursor() as cursor:
        try:
            # size positionally: Django's debug cursor passes no keywords on.
            cursor.copy_expert(sql.copy_in(spec), stream, CsvStream.CHUNK_CHARS)
        except Exception:
            # COPY reports an error of the reading as its own (psycopg's,
            # which Django's error wrapper does not see around copy_expert).
            if stream.error is not None:
                raise stream.error from None
            raise
    return number


class CsvStream(io.TextIOBase):
    """Rows as CSV text, read by COPY in chunks: the file never whole in memory."""

    CHUNK_CHARS = 1 << 18

    def __init__(self, rows: Iterator[list[Any]]) -> None:
        self._rows = rows
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self._pending = ""
        self.error: Exception | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        try:
            return self._read(size)
        except Exception as exc:
            self.error = exc
            raise

    def _read(self, size: int | None) -> str:
        want = size if size and size > 0 else self.CHUNK_CHARS
        while len(self._pending) < want:
            for row in self._rows:
                self._writer.writerow(row)
                if self._buffer.tell() >= self.CHUNK_CHARS:
                    break
            else:
                self._pending += self._drain()
                break
            self._pending += self._drain()
        chunk, self._pending = self._pending[:want], self._pending[want:]
        return chunk

    def _drain(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


def discard(upload: Import) -> None:
    """Delete an upload's staged rows (its Import stays, as a record)."""
    StagedRow.objects.using(PRIMARY).filter(upload_id=upload.pk).delete()


def expire_staged() -> None:
    """Forget uploads never confirmed: their staged rows and their Import."""
    cutoff = timezone.now() - timedelta(seconds=STAGED_LIFETIME)
    stale = Import.objects.using(PRIMARY).filter(
        state__in=[Import.State.STAGED, Import.State.REFUSED], created_at__lt=cutoff
    )
    for pk in stale.values_list("pk", flat=True)[:100]:
        StagedRow.objects.using(PRIMARY).filter(upload_id=pk).delete()
    stale.filter(state=Import.State.STAGED).delete()


# --- checks -------------------------------------------------------------------


def check(spec: ImportSpec, upload: Import) -> None:
    """Fill the upload's problems and counts from its staged rows."""
    params = _params(spec, upload)
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute(sql.problems(spec, upload.columns), params)
        found = cursor.fetchall()
        upload.problem_rows = found[0][0] if found else 0
        upload.problems = [[line, column, reason] for _, line, column, reason in found]
        if found:
            upload.state = Import.State.REFUSED
            upload.new_rows = upload.updated_rows = upload.unchanged_rows = 0
            return
        cursor.execute(sql.counts(spec, upload.columns), params)
        upload.new_rows, upload.updated_rows, upload.unchanged_rows = cursor.fetchone()


def preview_rows(spec: ImportSpec, upload: Import) -> list[tuple]:
    """(line, kind, values...) of the first staged rows, for the preview page."""
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute(
            sql.preview(spec, upload.columns, PREVIEW_ROWS), _params(spec, upload)
        )
        return cursor.fetchall()


def _params(spec: ImportSpec, upload: Import) -> dict[str, Any]:
    return {"upload": upload.pk, "verbose_name": spec.verbose_name}


# --- the merge ----------------------------------------------------------------


def merge(
    *,
    spec: ImportSpec,
    upload: Import,
    from_states: tuple[str, ...] = (Import.State.STAGED,),
    batch_rows: int | None = None,
    on_locked: Callable[[], None] | None = None,
    between_batches: Callable[[int], None] | None = None,
    pace: Callable[[], None] | None = None,
) -> Import | None:
    """Check again and write the staged rows, all or nothing.

    None when the upload is no longer in one of `from_states` (another
    confirm took it, or it expired). Otherwise the Import as it ended: done,
    or refused with the problems found now. `between_batches(rows_done)` runs
    after each batch and may raise Cancelled: then nothing is written and the
    Import ends cancelled, in the same transaction. With no batch size, the
    file is one batch (the request path: a fixed number of queries for any
    size).

    The transaction holds an advisory lock on the upload: two confirms of one
    upload run one after the other, the second finding it taken, and a job
    whose state says running but whose lock is free has lost its worker (see
    jobs.py). `on_locked` runs once the lock is held.

    `pace()` may wait (for lagging replicas, say). It is called only between
    batches of new rows, which nobody else can be waiting on, never once
    rows of others have been updated: the updates come last, at full speed,
    so that an editor saving one of them waits for the rest of the merge at
    most, never for a replica (all or nothing holds every updated row locked
    until the commit).
    """
    params = _params(spec, upload)
    with transaction.atomic(using=PRIMARY):
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, upload.pk]
            )
            # No FOR UPDATE: the job's progress is written to this row by
            # another connection while the merge runs.
            cursor.execute("SELECT state FROM bulk_import WHERE id = %s", [upload.pk])
            row = cursor.fetchone()
            if row is None or row[0] not in from_states:
                return None
            if on_locked:
                on_locked()
            check(spec, upload)
            if upload.problems:
                upload.finished_at = timezone.now()
                upload.save(using=PRIMARY, update_fields=RESULT_FIELDS)
                return upload
            size = batch_rows or upload.total_rows
            updating = sql.update(spec, upload.columns)
            steps: list[tuple[str, Callable[[], None] | None]] = [
                (sql.insert(spec), pace)
            ]
            if updating and "id" in upload.columns:
                steps.append((updating, None))
            done = 0
            cancelled = False
            try:
                # A savepoint: a cancel undoes the batches but keeps the lock
                # until the cancel is recorded, so that the job never looks
                # like one whose worker died (jobs.settle) in between.
                with transaction.atomic(using=PRIMARY):
                    for phase, (statement, wait) in enumerate(steps):
                        for first in range(1, upload.total_rows + 1, size):
                            last = first + size - 1
                            batch = {**params, "first": first, "last": last}
                            cursor.execute(statement, batch)
                            # Progress over both passes, in rows of the file.
                            through = min(last, upload.total_rows)
                            done = (phase * upload.total_rows + through) // len(steps)
                            if between_batches:
                                between_batches(done)
                            if wait:
                                wait()
            except Cancelled:
                cancelled = True
            cursor.execute(
                f"DELETE FROM {sql.STAGING_TABLE} WHERE upload_id = %s", [upload.pk]
            )
            if cancelled:
                return _record_cancel(upload)
        upload.state = Import.State.DONE
        upload.done_rows = done
        upload.finished_at = timezone.now()
        upload.waiting_for = ""
        upload.save(
            using=PRIMARY, update_fields=[*RESULT_FIELDS, "done_rows", "waiting_for"]
        )
    logger.info(
        "imported %s (%s): %d new, %d updated",
        upload.file_name,
        spec.label,
        upload.new_rows,
        upload.updated_rows,
    )
    return upload


def _record_cancel(upload: Import) -> Import:
    upload.state = Import.State.CANCELLED
    upload.new_rows = upload.updated_rows = upload.unchanged_rows = 0
    upload.finished_at = timezone.now()
    upload.message = upload.waiting_for = ""
    upload.save(using=PRIMARY, update_fields=[*RESULT_FIELDS, "message", "waiting_for"])
    return upload


def merge_failure(exc: Exception) -> str:
    """What to tell the importer about an error during a merge."""
    if isinstance(exc, DatabaseError):
        return f"The database refused the import: {exc}".strip()
    return f"The import failed ({type(exc).__name__}: {exc}); nothing was written."
