"""django-import-export's `import` command, with CSV through the pipeline.

`manage.py import catalog.resources.BookResource books.csv` (or the model,
`catalog.Book`) streams the file into staged rows, checks them and merges
them in batches, all or nothing, in bounded memory, waiting between batches
while a replica is over the lag limit; problems are listed by line and the
command exits with 1. Other formats go to the library's command.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import sys
import tempfile
from typing import IO, NoReturn

from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError
from django.utils.module_loading import import_string

from console.bulk import jobs, pipeline, spec

# "import" is a keyword: the library's module cannot be named in an import.
from dbops import routing
from dbops.routing import conf

# "import" is a keyword: the library's module cannot be named in an import.
library = importlib.import_module("import_export.management.commands.import")
logger = logging.getLogger("console.bulk")


def model_of(name: str):
    """The model a resource class or an "app_label.Model" names."""
    try:
        return import_string(name)._meta.model
    except (ImportError, AttributeError):
        pass
    try:
        return apps.get_model(name)
    except (LookupError, ValueError):
        raise CommandError(
            f"Cannot import {name!r} as a resource class or model."
        ) from None


def seekable(path: str) -> IO[bytes]:
    """The file, or standard input spooled to a temporary file (the pipeline
    reads its input twice)."""
    if path != "-":
        return open(path, "rb")  # noqa: SIM115 (closed by the caller)
    spool = tempfile.TemporaryFile()
    shutil.copyfileobj(sys.stdin.buffer, spool)
    spool.seek(0)
    return spool


class Command(library.Command):  # type: ignore[name-defined]  # (a module object)
    help = library.Command.help

    def handle(self, *args, **options):
        model = model_of(options["resource"])
        fmt = (options.get("format") or "CSV").rsplit(".", 1)[-1].upper()
        try:
            import_spec = spec.for_model(model)
        except KeyError:
            import_spec = None
        if import_spec is None or fmt != "CSV":
            return super().handle(*args, **options)
        if options["interactive"]:
            self._confirm(options["import_file_name"])
        with seekable(options["import_file_name"]) as stream:
            self._import(import_spec, stream, options)

    def _confirm(self, file_name: str) -> None:
        """Ask before importing, as django-import-export does, but only where
        someone can answer: a prompt on a pipe or a script's stdin would end
        in EOFError (or read the CSV itself, for `-`)."""
        if file_name == "-" or not sys.stdin.isatty():
            raise CommandError(
                "Nothing imported: there is no terminal to confirm on. "
                "Add --noinput to import without asking."
            )
        try:
            answer = input("Are you sure you want to import the data? [yes/no]: ")
        except (EOFError, KeyboardInterrupt):
            answer = ""
        if answer != "yes":
            raise CommandError("Import cancelled.")

    def _import(self, import_spec: spec.ImportSpec, stream: IO[bytes], options) -> None:
        name = options["import_file_name"]
        with routing.use_primary("import"):
            try:
                upload = pipeline.stage(spec=import_spec, stream=stream, file_name=name)
            except pipeline.Refused as exc:
                self._fail([pipeline.Problem(None, "", str(exc))])
            if upload.problems:
                self._fail(pipeline.problems_of(upload), upload.problem_rows)
            if options.get("dry_run"):
                pipeline.discard(upload)
                self.stderr.write(
                    f"Dry run, nothing written: {upload.new_rows} new, "
                    f"{upload.updated_rows} to update, "
                    f"{upload.unchanged_rows} unchanged."
                )
                return
            plural = import_spec.model._meta.verbose_name_plural
            limits = conf.limits()

            def report_wait(lagging: str) -> None:
                logger.info("%s: waiting for %s", plural, lagging)

            def between_batches(done: int) -> None:
                logger.info("%s: %d of %d rows merged", plural, done, upload.total_rows)

            merged = pipeline.merge(
                spec=import_spec,
                upload=upload,
                batch_rows=settings.IMPORT_BATCH_ROWS,
                between_batches=between_batches,
                pace=lambda: jobs.wait_for_replicas(limits, on_wait=report_wait),
            )
        if merged is None or merged.problems:
            self._fail(pipeline.problems_of(merged) if merged else [], 0)
        self.stderr.write(
            f"Import finished: {merged.new_rows} new, {merged.updated_rows} updated "
            f"and {merged.unchanged_rows} unchanged {plural}."
        )

    def _fail(self, problems: list[pipeline.Problem], rows: int = 1) -> NoReturn:
        self.stderr.write(self.style.ERROR("Import errors! Nothing was written."))
        for problem in problems:
            self.stderr.write(self.style.ERROR(str(problem)))
        if rows > len({p.line for p in problems}):
            self.stderr.write(f"{rows} rows have problems; the first are listed.")
        sys.exit(1)
