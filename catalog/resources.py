"""django-import-export resources for authors and books, and the base they share.

The library's defaults are wrong for this project in ways that only show at
scale or under replica lag, so `BulkResource` changes them in one place:

- every lookup an import makes (existing rows by id, authors by name) runs
  on the primary, in one query for the whole file, never one per row;
- an import is all or nothing: any bad row rolls every row back, including
  rows that fail model validation (the library commits those by default);
- the preview (dry run) validates every row but writes nothing, where the
  library would write every row and roll it back;
- rows are written with bulk INSERT and UPDATE in batches, in one transaction;
- problems name the file's line and column, worded for the person importing;
- exported text that a spreadsheet would run as a formula is escaped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Model, QuerySet
from import_export import exceptions, resources, widgets
from import_export.fields import Field
from import_export.instance_loaders import BaseInstanceLoader
from import_export.resources import Diff
from import_export.results import Error, Result, RowResult

from catalog.models import Author, Book
from dbops.routing import use_primary

logger = logging.getLogger("catalog.importing")

# Rows per INSERT/UPDATE statement and per fetch of an export.
BATCH_SIZE = 2000
# The preview page shows this many rows; computing a diff for more is waste.
PREVIEW_ROWS = 100
# Bad rows listed one by one; past this only their number is given.
MAX_LISTED_PROBLEM_ROWS = 1000
PROGRESS_EVERY = 10_000
# Cells a spreadsheet would evaluate (OWASP's list for CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: str) -> str:
    """`value`, made inert for spreadsheets by a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def unescape_formula(value: str) -> str:
    """The inverse of `escape_formula`, so that an export imports unchanged."""
    if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


class ImportProblem(Exception):
    """Why an import cannot go ahead, worded for the person importing."""

    def __repr__(self) -> str:
        # The library's `import` command prints repr() of every error.
        return str(self)


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


class ImportResult(Result):
    """The library's Result, bounded in memory and speaking in file lines.

    Only the first PREVIEW_ROWS good rows are kept (the preview shows no
    more, and a million kept rows would not fit in memory) and at most
    MAX_LISTED_PROBLEM_ROWS bad ones; `totals` still counts every row.
    Every kind of problem counts as an error, so that the library rolls
    back on any of them and its `import` command prints them all.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.line_numbers: list[int] | None = None
        self.column_names: dict[str, str] = {}
        self.unlisted_problem_rows = 0

    def append_row_result(self, row_result: RowResult) -> None:
        if row_result.is_valid() and len(self.rows) < PREVIEW_ROWS:
            self.rows.append(row_result)

    def append_invalid_row(self, number, row, validation_error) -> None:
        if self._has_room():
            super().append_invalid_row(number, row, validation_error)

    def append_error_row(self, number, row, errors) -> None:
        if self._has_room():
            super().append_error_row(number, row, errors)

    def _has_room(self) -> bool:
        if len(self.invalid_rows) + len(self.error_rows) < MAX_LISTED_PROBLEM_ROWS:
            return True
        self.unlisted_problem_rows += 1
        return False

    def has_errors(self) -> bool:
        return bool(self.base_errors or self.error_rows or self.invalid_rows)

    def line(self, number: int) -> int:
        return file_line(self.line_numbers, number)

    def problems(self) -> list[Problem]:
        found = [Problem(None, "", _reason(error.error)) for error in self.base_errors]
        for row in self.error_rows:
            found += [
                Problem(self.line(row.number), "", _reason(error.error))
                for error in row.errors
            ]
        for row in self.invalid_rows:
            for key, messages in row.error_dict.items():
                column = "" if key == NON_FIELD_ERRORS else key
                column = self.column_names.get(column, column)
                found += [Problem(self.line(row.number), column, m) for m in messages]
        return sorted(found, key=lambda p: (p.line or 0, p.column))

    def row_errors(self) -> list[tuple[int, list[Error]]]:
        return [
            (problem.line, [Error(ImportProblem(str(problem)))])
            for problem in self.problems()
            if problem.line is not None
        ]


def file_line(line_numbers: list[int] | None, number: int) -> int:
    """The file line of data row `number` (1 is the first data row).

    Without the lines the CSV reader noted (a dataset from the library's own
    formats), the record after the header is taken to be one line.
    """
    if line_numbers and 0 < number <= len(line_numbers):
        return line_numbers[number - 1]
    return number + 1


def _reason(error: BaseException) -> str:
    if isinstance(error, ImportProblem):
        return str(error)
    # A database error in a batch, or a bug: say what it was, not a traceback.
    return f"{type(error).__name__}: {error}".strip()


class FileInstanceLoader(BaseInstanceLoader):
    """Every existing row the file names by id, loaded in one query.

    The library's loaders go through the model's default manager with the
    router's choice of database (a lagging replica); the resource runs this
    inside `use_primary`, and the ids are the ones `BulkResource` parsed.
    """

    def __init__(self, resource: BulkResource, dataset: tablib.Dataset | None = None):
        super().__init__(resource, dataset)
        ids = set(resource.file_ids.values())
        queryset = resource.get_queryset().filter(pk__in=ids) if ids else []
        self.instances: dict[int, Model] = {obj.pk: obj for obj in queryset}

    def get_instance(self, row) -> Model | None:
        return self.instances.get(self.resource.file_ids.get(self.resource.number))


class IsoDateWidget(widgets.DateWidget):
    """Dates as YYYY-MM-DD only: 03/04/2020 means different days to different
    people, so it is refused rather than guessed. Parsed without strptime,
    which checks the locale on every call (a third of a preview's time)."""

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")

    def clean(self, value, row=None, **kwargs) -> date | None:
        if value is None or isinstance(value, date):
            return value
        text = str(value).strip()
        if not text:
            return None
        try:
            if len(text) != 10 or text[4] != "-" or text[7] != "-":
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a date in YYYY-MM-DD form") from None


class AuthorNameWidget(widgets.ForeignKeyWidget):
    """An author by exact name, from a map the resource fills for the whole
    file in one query (the library's widget makes one query per row)."""

    def __init__(self) -> None:
        super().__init__(Author, field="name")
        self.by_name: dict[str, Author] = {}

    def clean(self, value, row=None, **kwargs) -> Author:
        name = (value or "").strip()
        if not name:
            raise ValueError("an author name is required")
        try:
            return self.by_name[name]
        except KeyError:
            raise ValueError(
                f"no author named {name!r}; import the author first"
            ) from None


class BulkResource(resources.ModelResource):
    """The base of every resource here; see the module docstring for why."""

    #: Columns a file must have; the other columns of Meta.fields may be left out.
    required_columns: tuple[str, ...] = ()
    #: Model fields that whole-file checks validate, and that full_clean()
    #: would validate with one query per row.
    clean_exclude: tuple[str, ...] = ()
    #: ORM paths of exported columns that are not plain fields of the model.
    stream_paths: dict[str, str] = {}

    class Meta:
        use_bulk = True
        batch_size = BATCH_SIZE
        chunk_size = BATCH_SIZE
        skip_diff = True
        clean_model_instances = True
        use_transactions = True
        instance_loader_class = FileInstanceLoader

    @classmethod
    def get_result_class(cls) -> type[ImportResult]:
        return ImportResult

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.number = 0  # the data row being imported (1 is the first)
        self.total = 0
        self.columns: list[str] = []
        self.file_ids: dict[int, int] = {}  # data row -> the id it names
        self.planned: dict[int, dict[str, list[str]]] = {}
        self.line_numbers: list[int] | None = None
        self._preview: tuple[Diff, Model] | None = None
        self._import_fields: list[Field] | None = None

    def get_import_fields(self) -> list[Field]:
        # The library recomputes this list (and its ordering) for every row.
        if self._import_fields is None:
            self._import_fields = super().get_import_fields()
        return self._import_fields

    # --- the file as a whole -------------------------------------------------

    def import_data(
        self,
        dataset: tablib.Dataset,
        dry_run: bool = False,
        raise_errors: bool = False,
        use_transactions: bool | None = None,
        collect_failed_rows: bool = False,
        rollback_on_validation_errors: bool = False,
        **kwargs: Any,
    ) -> ImportResult:
        # The admin asks to keep every instance for a per-row log entry; the
        # console logs one entry per import, and a million would not fit.
        kwargs.pop("retain_instance_in_row_result", None)
        problem = self.header_problem(dataset.headers)
        if problem:
            return self._refused(dataset, problem, raise_errors)
        dataset.headers = self.columns = normalize_headers(dataset.headers)
        with use_primary("import"):
            result = super().import_data(
                dataset,
                dry_run=dry_run,
                raise_errors=raise_errors,
                use_transactions=True,
                collect_failed_rows=collect_failed_rows,
                rollback_on_validation_errors=True,
                **kwargs,
            )
        result.line_numbers = self.line_numbers
        result.column_names = {f.attribute: f.column_name for f in self.fields.values()}
        return result

    def _refused(
        self, dataset: tablib.Dataset, problem: str, raise_errors: bool
    ) -> ImportResult:
        if raise_errors:
            raise exceptions.ImportError(ImportProblem(problem))
        result = self.get_result_class()()
        result.total_rows = len(dataset)
        result.append_base_error(Error(ImportProblem(problem)))
        return result

    def header_problem(self, headers: list[str] | None) -> str | None:
        expected = [field.column_name for field in self.get_import_fields()]
        layout = f"The columns are {','.join(expected)}"
        if self.required_columns:
            layout += f" ({', '.join(self.required_columns)} required)"
        if not headers:
            return f"The file is empty. Its first line must be the header. {layout}."
        names = normalize_headers(headers)
        faults = []
        if unknown := [name for name in names if name not in expected]:
            faults.append("unknown " + _quoted(unknown))
        if missing := [name for name in self.required_columns if name not in names]:
            faults.append("missing " + _quoted(missing))
        if repeated := sorted({name for name in names if names.count(name) > 1}):
            faults.append("repeated " + _quoted(repeated))
        if faults:
            return f"Wrong header on line 1: {'; '.join(faults)}. {layout}."
        return None

    def before_import(self, dataset: tablib.Dataset, **kwargs: Any) -> None:
        self.total = len(dataset)
        self.planned = {}
        self.line_numbers = getattr(dataset, "line_numbers", None)
        for number, message in getattr(dataset, "row_problems", {}).items():
            self.plan(number, NON_FIELD_ERRORS, message)
        self.file_ids = self.collect_ids(dataset)
        self.prepare(dataset)

    def prepare(self, dataset: tablib.Dataset) -> None:
        """Whole-file checks and lookups, each one query; for subclasses."""

    def collect_ids(self, dataset: tablib.Dataset) -> dict[int, int]:
        if "id" not in self.columns:
            return {}
        ids: dict[int, int] = {}
        first_row: dict[int, int] = {}
        for number, raw in enumerate(dataset["id"], start=1):
            text = "" if raw is None else str(raw).strip()
            if not text:
                continue
            if not text.isdigit():
                self.plan(number, "id", f"{text!r} is not an id (a whole number)")
                continue
            pk = int(text)
            if pk in first_row:
                line = self.line(first_row[pk])
                self.plan(number, "id", f"id {pk} is also on line {line}")
                continue
            first_row[pk] = number
            ids[number] = pk
        return ids

    def plan(self, number: int, column: str, message: str) -> None:
        """Record a problem found by a whole-file check, for row `number`."""
        self.planned.setdefault(number, {}).setdefault(column, []).append(message)

    def line(self, number: int) -> int:
        return file_line(self.line_numbers, number)

    def after_import(self, dataset, result, **kwargs: Any) -> None:
        # ModelResource resets the id sequence here; imports never insert an
        # explicit id, and a reset racing other inserts could hand out used ids.
        return None

    # --- one row -----------------------------------------------------------

    def import_row(self, row, instance_loader, **kwargs: Any) -> RowResult:
        self.number = kwargs["row_number"]
        self._preview = None
        for key, value in row.items():
            if isinstance(value, str) and value.startswith("'"):
                row[key] = unescape_formula(value)
        row_result = super().import_row(row, instance_loader, **kwargs)
        if self.number % PROGRESS_EVERY == 0:
            # Written rows are committed together at the end, all or nothing.
            verb = "checked" if kwargs.get("dry_run") else "processed"
            name = self._meta.model._meta.verbose_name_plural
            logger.info("%s: %d of %d rows %s", name, self.number, self.total, verb)
        return row_result

    def get_or_init_instance(self, instance_loader, row) -> tuple[Model, bool]:
        pk = self.file_ids.get(self.number)
        if pk is None:
            return self.init_instance(row), True
        instance = instance_loader.get_instance(row)
        if instance is None:
            name = self._meta.model._meta.verbose_name
            self.plan(
                self.number,
                "id",
                f"there is no {name} with id {pk}; leave id empty to add a new one",
            )
            return self.init_instance(row), True
        return instance, False

    def import_instance(self, instance, row, **kwargs: Any) -> None:
        errors: dict[str, list] = {
            column: list(messages)
            for column, messages in self.planned.get(self.number, {}).items()
        }
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def validate_instance(
        self, instance, import_validation_errors=None, validate_unique=True
    ) -> None:
        # Uniqueness and the foreign keys are checked for the whole file with
        # one query each; full_clean() would run one query per row for them,
        # and one per row for each database constraint, which the database
        # checks anyway when the batch is written.
        errors = dict(import_validation_errors or {})
        try:
            instance.full_clean(
                exclude=[*errors, *self.clean_exclude],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def after_init_instance(self, instance, new, row, **kwargs: Any) -> None:
        # Diffs only for the rows the preview shows (the library's skip_diff
        # is all or nothing, and a diff per row costs more than the import).
        if kwargs.get("row_number", 0) <= PREVIEW_ROWS:
            self._preview = (Diff(self, instance, new), instance)

    def after_import_row(self, row, row_result, **kwargs: Any) -> None:
        if self._preview and row_result.is_valid():
            diff, instance = self._preview
            diff.compare_with(self, instance)
            row_result.diff = diff.as_html()
        self._preview = None

    # --- writing -----------------------------------------------------------

    def bulk_create(self, using_transactions, dry_run, raise_errors, **kwargs):
        if dry_run:  # the preview validates; writing and rolling back is waste
            self.create_instances.clear()
            return
        super().bulk_create(using_transactions, dry_run, raise_errors, **kwargs)

    def bulk_update(self, using_transactions, dry_run, raise_errors, **kwargs):
        if dry_run:
            self.update_instances.clear()
            return
        super().bulk_update(using_transactions, dry_run, raise_errors, **kwargs)

    def get_bulk_update_fields(self) -> list[str]:
        # Only the columns the file has: the others were not changed.
        return [
            field.attribute
            for name, field in self.fields.items()
            if name not in self._meta.import_id_fields
            and field.column_name in self.columns
        ]

    # --- export --------------------------------------------------------------

    # Exports for spreadsheets (CSV, XLSX) make formulae inert; the admin's
    # JSON export turns this off, the library's `export` command keeps it.
    escape_formulae = True

    def export_field(self, field, instance, **kwargs: Any):
        value = super().export_field(field, instance, **kwargs)
        if self.escape_formulae and isinstance(value, str):
            return escape_formula(value)
        return value

    def stream_columns(self, fields: list[str] | None = None) -> dict[str, str]:
        """Column name -> the ORM path of its value, for the streaming export."""
        names = fields or [field.column_name for field in self.get_export_fields()]
        return {name: self.stream_paths.get(name, name) for name in names}


def normalize_headers(headers: list[str]) -> list[str]:
    return [str(name or "").lstrip("\ufeff").strip().lower() for name in headers]


def _quoted(names: list[str]) -> str:
    return (
        "column"
        + ("s " if len(names) > 1 else " ")
        + ", ".join(repr(name) for name in names)
    )


class AuthorResource(BulkResource):
    required_columns = ("name",)

    class Meta:
        model = Author
        fields = ("id", "name", "bio", "country")

    def prepare(self, dataset: tablib.Dataset) -> None:
        """Names must be unique: one query for the whole file, where
        full_clean() would make one per row."""
        first_row: dict[str, int] = {}
        for number, raw in enumerate(dataset["name"], start=1):
            name = unescape_formula(raw or "")
            if not name:
                continue  # full_clean() reports the blank name
            if name in first_row:
                line = self.line(first_row[name])
                self.plan(number, "name", f"{name!r} is also on line {line}")
            else:
                first_row[name] = number
        taken = Author.objects.filter(name__in=list(first_row)).values_list(
            "name", "id"
        )
        for name, owner in taken:
            number = first_row[name]
            if self.file_ids.get(number) != owner:
                self.plan(
                    number,
                    "name",
                    f"an author named {name!r} already exists (id {owner}); "
                    f"put {owner} in the id column to update that author",
                )


class BookResource(BulkResource):
    author = Field(attribute="author", column_name="author", widget=AuthorNameWidget())
    published = Field(
        attribute="published", column_name="published", widget=IsoDateWidget()
    )
    required_columns = ("title", "author")
    clean_exclude = ("author",)
    stream_paths = {"author": "author__name"}

    class Meta:
        model = Book
        fields = ("id", "title", "author", "published", "isbn")

    def get_queryset(self) -> QuerySet[Book]:
        return Book.objects.select_related("author")

    def filter_export(self, queryset: QuerySet[Book], **kwargs: Any) -> QuerySet[Book]:
        return queryset.select_related("author")

    def prepare(self, dataset: tablib.Dataset) -> None:
        """Every author the file names, in one query."""
        names = {unescape_formula(raw or "").strip() for raw in dataset["author"]}
        names.discard("")
        authors = Author.objects.filter(name__in=list(names)).only("id", "name")
        self.fields["author"].widget.by_name = {
            author.name: author for author in authors
        }
