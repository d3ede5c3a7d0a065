"""Imports in the test process: a CSV file in, what it did out (the tests' way
to run the pipeline that the admin and the job worker run)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO

from django.db.models import Model

from console.bulk import pipeline, spec
from console.bulk.models import Import
from console.bulk.pipeline import Problem
from dbops import routing


@dataclass(frozen=True)
class ImportOutcome:
    """What an import did (or, for a dry run, would do).

    Nothing is written unless `ok`: an import is all or nothing.
    """

    dry_run: bool
    total_rows: int
    new: int
    updated: int
    unchanged: int
    problems: tuple[Problem, ...]
    problem_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @classmethod
    def of(cls, upload: Import, *, dry_run: bool) -> ImportOutcome:
        return cls(
            dry_run=dry_run,
            total_rows=upload.total_rows,
            new=upload.new_rows,
            updated=upload.updated_rows,
            unchanged=upload.unchanged_rows,
            problems=tuple(pipeline.problems_of(upload)),
            problem_rows=upload.problem_rows,
        )

    @classmethod
    def refused(cls, reason: str, *, dry_run: bool) -> ImportOutcome:
        return cls(dry_run, 0, 0, 0, 0, (Problem(None, "", reason),), 1)


def import_csv(
    *,
    model: type[Model],
    file: IO[bytes] | bytes | str,
    owner_id: int | None = None,
    dry_run: bool,
    file_name: str = "",
) -> ImportOutcome:
    """Import a CSV file of `model`'s rows, all or nothing, in this process."""
    if isinstance(file, str):
        file = file.encode()
    stream = io.BytesIO(file) if isinstance(file, bytes) else file
    import_spec = spec.for_model(model)
    with routing.use_primary("import"):
        try:
            upload = pipeline.stage(
                spec=import_spec, stream=stream, owner_id=owner_id, file_name=file_name
            )
        except pipeline.Refused as exc:
            return ImportOutcome.refused(str(exc), dry_run=dry_run)
        if dry_run or upload.problems:
            pipeline.discard(upload)
            return ImportOutcome.of(upload, dry_run=dry_run)
        merged = pipeline.merge(spec=import_spec, upload=upload)
    assert merged is not None  # nobody else knows this upload
    if merged.problems:
        pipeline.discard(merged)
    return ImportOutcome.of(merged, dry_run=False)
