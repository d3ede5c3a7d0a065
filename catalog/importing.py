"""CSV imports and exports of authors, books and notes: the service and its admin.

django-import-export does the work; this module closes the gaps that show
with several workers, a lagging replica and big files:

- `CSV` reads uploads strictly as UTF-8 and remembers each record's line,
  so that problems name the line a person sees in an editor;
- `UploadStorage` keeps the upload between preview and confirm in the
  database cache, where every worker finds it, read from the primary;
- `import_csv` is the service the tests and scripts call, on the same
  resources as the admin;
- `stream_csv` exports in pages with bounded memory, where the library
  builds the whole file in memory;
- `ImportExportAdmin` wires these into the library's admin views.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

import tablib
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from import_export.results import RowResult
from import_export.signals import post_export
from import_export.tmp_storages import CacheStorage
from unfold.contrib.import_export import forms as unfold_forms

from catalog.resources import (
    BATCH_SIZE,
    MAX_LISTED_PROBLEM_ROWS,
    BulkResource,
    ImportResult,
    Problem,
    escape_formula,
)
from dbops import routing

logger = logging.getLogger("catalog.importing")

FORMAT_PARAM = "_format"
# The name UploadStorage gives an upload (uuid4().hex).
UPLOAD_NAME = re.compile(r"[0-9a-f]{32}")
FIELDS_PARAM = "_fields"


# --- Reading uploads -----------------------------------------------------------


class UnreadableFile(ValueError):
    """The upload is not UTF-8 CSV text; the message says what to do."""


class CSV(base_formats.CSV):
    """CSV read strictly as UTF-8 (with or without a BOM), line by line.

    The library's CSV goes through tablib, which forgets where a record
    started; a quoted value with a line break or a blank line would then
    shift every line number it reports.
    """

    def create_dataset(self, in_stream, **kwargs) -> tablib.Dataset:
        return read_csv(decode(in_stream))


def decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if data.startswith(b"PK\x03\x04") or b"\x00" in data[:4096]:
        raise UnreadableFile(
            "This is a binary file (a spreadsheet?), not CSV text. "
            "Save it as 'CSV UTF-8' and upload that."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableFile(
            f"The file is not UTF-8 text: line {line} has a byte that is not "
            "UTF-8. Save it as 'CSV UTF-8' and upload it again."
        ) from None


def read_csv(text: str) -> tablib.Dataset:
    """A dataset with `line_numbers` (the file line of each record) and
    `row_problems` (records that cannot be imported as they are: more values
    than the header has columns, or a NUL byte, which PostgreSQL text cannot
    hold).

    Quoting is read strictly: a quote that is never closed would otherwise
    swallow the rest of the file into one value.
    """
    # A single value may be as big as the upload (a note's content is
    # unbounded); the csv module's default limit is 128 KiB.
    csv.field_size_limit(max(csv.field_size_limit(), settings.IMPORT_MAX_UPLOAD_BYTES))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    problems: dict[int, str] = {}
    start = 1
    try:
        header = next((record for record in reader if record), None)
        start = reader.line_num + 1
        for record in reader:
            if record:
                rows.append(_fit(record, len(header), len(rows) + 1, problems))
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise UnreadableFile(_csv_error(str(exc), start, reader.line_num)) from None
    if header is None:
        return tablib.Dataset()
    dataset = tablib.Dataset(*rows, headers=header)
    dataset.line_numbers = lines
    dataset.row_problems = problems
    return dataset


def _csv_error(error: str, record_line: int, line: int) -> str:
    if "unexpected end of data" in error:
        return (
            f"Line {record_line} opens a quoted value that is never closed: "
            "everything after it would be read as one value. Close the quote "
            '(a quote inside a value is written twice: "").'
        )
    return f"Line {line} is not valid CSV: {error}."


def _fit(record: list[str], width: int, number: int, problems: dict) -> list[str]:
    # Fewer values than columns is common (editors drop trailing empty
    # cells) and loses nothing; more would silently drop data.
    if len(record) > width:
        problems[number] = f"{len(record)} values, but the header has {width} columns"
    nul = next((n for n, value in enumerate(record, 1) if "\x00" in value), None)
    if nul is not None:
        problems.setdefault(
            number, f"value {nul} holds a NUL byte, which text cannot hold"
        )
    return (record + [""] * width)[:width]


# --- The upload between preview and confirm ----------------------------------


class UploadStorage(CacheStorage):
    """The upload in the database cache (settings.CACHES), for any worker.

    The library's default keeps it on the disk of the worker that showed the
    preview, so a confirm served by another worker fails. Reads go to the
    primary, because a lagging replica would not have the upload yet, and an
    upload not confirmed within an hour is dropped.
    """

    CACHE_LIFETIME = 3600

    def read(self):
        with routing.use_primary("import"):
            return super().read()

    def claim(self) -> bool:
        """Delete the upload; True for exactly one of several callers.

        Inside the confirm's transaction the delete holds the row, so that
        of two confirms of one upload (a double click, two workers) one
        imports and the other finds it gone.
        """
        return bool(cache.delete(self.CACHE_PREFIX + self.name))


# --- The service -------------------------------------------------------------


@dataclass(frozen=True)
class ImportOutcome:
    """What an import did (or, for a dry run, would do).

    Nothing is written unless `ok`: an import is all or nothing.
    """

    dry_run: bool
    total_rows: int
    new: int
    updated: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @classmethod
    def from_result(cls, result: ImportResult, *, dry_run: bool) -> ImportOutcome:
        return cls(
            dry_run=dry_run,
            total_rows=result.total_rows,
            new=result.totals[RowResult.IMPORT_TYPE_NEW],
            updated=result.totals[RowResult.IMPORT_TYPE_UPDATE],
            problems=tuple(result.problems()),
        )

    @classmethod
    def refused(cls, reason: str, *, dry_run: bool) -> ImportOutcome:
        return cls(dry_run, 0, 0, 0, (Problem(None, "", reason),))


def import_csv(
    *,
    resource_class: type[BulkResource],
    file: IO[bytes] | bytes | str,
    user: Any = None,
    dry_run: bool,
    file_name: str = "",
) -> ImportOutcome:
    """Import a CSV file with `resource_class`, all or nothing."""
    data = file if isinstance(file, bytes | str) else file.read()
    try:
        dataset = CSV().create_dataset(data)
    except UnreadableFile as exc:
        return ImportOutcome.refused(str(exc), dry_run=dry_run)
    if not dataset.headers:
        return ImportOutcome.refused("The file is empty.", dry_run=dry_run)
    with routing.use_primary("import"):
        result = resource_class().import_data(
            dataset, dry_run=dry_run, user=user, file_name=file_name
        )
    return ImportOutcome.from_result(result, dry_run=dry_run)


# --- Streaming export --------------------------------------------------------


def stream_csv(
    *,
    resource: BulkResource,
    queryset: QuerySet,
    fields: list[str] | None = None,
    page_size: int = BATCH_SIZE,
) -> Iterator[str]:
    """The queryset as CSV text, `page_size` rows per chunk, in keyset pages
    (`WHERE id > last ORDER BY id LIMIT n`), so that memory stays bounded
    however many rows there are; the library's export builds the whole
    file in memory instead.

    Each page is a short query of its own rather than one long server-side
    cursor: a replica that fails mid-file (its connection lost, its answer
    late) has that page and the rest served by the primary, continuing
    after the last row sent, so the file is never silently short. Where the
    primary fails too, the error ends the stream and the client sees a
    broken download, not a complete-looking file.
    """
    columns = resource.stream_columns(fields)
    rows = queryset.order_by("pk").values_list("pk", *columns.values())
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    last_pk = None
    while True:
        page = rows if last_pk is None else rows.filter(pk__gt=last_pk)
        batch = list(page[:page_size])
        for _, *values in batch:
            writer.writerow([_cell(value) for value in values])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(batch) < page_size:
            return
        last_pk = batch[-1][0]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return escape_formula(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


# --- The admin ---------------------------------------------------------------


class ImportForm(unfold_forms.ImportForm):
    """unfold's import form, refusing files over IMPORT_MAX_UPLOAD_BYTES."""

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; the limit is "
                f"{filesizeformat(limit)}. Split it, or import it with the "
                "`import` management command."
            )
        return upload


class ImportExportAdmin(ImportExportModelAdmin):
    """django-import-export's admin, made safe for many workers and big files.

    Combine it after unfold's ModelAdmin and set `resource_classes`:
    `class BookAdmin(ModelAdmin, ImportExportAdmin)`.
    """

    import_form_class = ImportForm
    export_form_class = unfold_forms.SelectableFieldsExportForm
    import_formats = [CSV]
    export_formats = [CSV, base_formats.XLSX, base_formats.JSON]
    import_template_name = "admin/console_import_export/import.html"
    import_export_change_list_template = "admin/console_import_export/change_list.html"

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        download = path(
            "export/file/",
            self.admin_site.admin_view(self.export_file_view),
            name="{}_{}_export_file".format(*info),
        )
        return [download, *super().get_urls()]

    # The library checks one permission code per flow (its
    # IMPORT_EXPORT_*_PERMISSION_CODE settings, unset by default: any staff
    # user). An import creates and overwrites rows, so it needs both add and
    # change; an export shows every row, so it needs view. Every URL of
    # both flows asks these two, the streaming download too.
    def has_import_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def _url(self, name: str) -> str:
        opts = self.opts
        return reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_{name}"
        )

    # --- import: preview ---------------------------------------------------

    def get_import_context_data(self, **kwargs) -> dict:
        return {"upload_limit": settings.IMPORT_MAX_UPLOAD_BYTES}

    def write_to_tmp_storage(self, import_file, input_format):
        # The library joins chunks with `+=`, quadratic for big uploads.
        storage = self.get_tmp_storage_class()(**self.get_tmp_storage_class_kwargs())
        storage.save(b"".join(import_file.chunks()))
        return storage

    def add_data_read_fail_error_to_form(self, form, e) -> None:
        if isinstance(e, UnreadableFile):
            form.add_error("import_file", str(e))
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def import_action(self, request: HttpRequest, **kwargs) -> HttpResponse:
        response = super().import_action(request, **kwargs)
        context = response.context_data
        if "confirm_form" not in context:
            self._forget_upload(context.get("form"))
        if result := context.get("result"):
            context.update(problem_context(result))
        return response

    def _forget_upload(self, form) -> None:
        """Drop an upload that cannot be confirmed (it has problems)."""
        upload = form.files.get("import_file") if form is not None else None
        name = getattr(upload, "tmp_storage_name", None)
        if name:
            self.get_tmp_storage_class()(name=name).remove()

    # --- import: confirm -----------------------------------------------------

    @method_decorator(require_POST)
    def process_import(self, request: HttpRequest, **kwargs) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm_form = self.create_confirm_form(request)
        if not confirm_form.is_valid():
            return super().process_import(request, **kwargs)
        storage, input_format = self._confirmed_upload(confirm_form)
        with transaction.atomic():
            data = storage.read() if storage else None
            if data is None or not storage.claim():
                messages.error(
                    request,
                    "This upload was already imported, or it expired. "
                    "Upload the file again.",
                )
                return HttpResponseRedirect(self._url("import"))
            dataset = input_format.create_dataset(data)
            result = self.process_dataset(dataset, confirm_form, request, **kwargs)
            if result.has_errors():
                transaction.set_rollback(True)
        if result.has_errors():
            # Rows changed since the preview (a concurrent import or edit).
            storage.remove()
            return self._confirm_failed(request, result)
        return self.process_result(result, request)

    def _confirmed_upload(self, confirm_form) -> tuple[UploadStorage | None, Any]:
        """The stored upload and its format, named by the confirm form.

        Both come back from the browser: a forged name or format is treated
        as an upload that expired, never as a server error.
        """
        name = confirm_form.cleaned_data["import_file_name"]
        index = confirm_form.cleaned_data["format"]
        formats = self.get_import_formats()
        if not UPLOAD_NAME.fullmatch(name) or not index.isdigit():
            return None, None
        if int(index) >= len(formats):
            return None, None
        return self.get_tmp_storage_class()(name=name), formats[int(index)]()

    def _confirm_failed(self, request: HttpRequest, result) -> TemplateResponse:
        form_class = self.get_import_form_class(request)
        form = form_class(
            self.get_import_formats(), self.get_import_resource_classes(request)
        )
        context = {
            **self.admin_site.each_context(request),
            **self.get_import_context_data(),
            **problem_context(result),
            "title": "Import",
            "form": form,
            "opts": self.opts,
            "media": self.media + form.media,
            "result": result,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)

    def generate_log_entries(self, result, request: HttpRequest) -> None:
        # One entry per import, not one per row: twenty thousand entries
        # would slow the import down and bury the admin's recent actions.
        totals = result.totals
        new, updated = (
            totals[RowResult.IMPORT_TYPE_NEW],
            totals[RowResult.IMPORT_TYPE_UPDATE],
        )
        file_name = request.POST.get("original_file_name", "")
        LogEntry.objects.create(
            user_id=request.user.pk,
            content_type_id=ContentType.objects.get_for_model(self.model).pk,
            object_repr=f"{file_name}: {new} new, {updated} updated"[:200],
            action_flag=CHANGE if updated else ADDITION,
            change_message=f"Imported {new + updated} rows from {file_name}",
        )
        logger.info(
            "%s imported %s: %d new, %d updated %s",
            request.user,
            file_name,
            new,
            updated,
            self.opts.verbose_name_plural,
        )

    # --- export ------------------------------------------------------------

    def export_action(self, request: HttpRequest) -> HttpResponse:
        try:
            return super().export_action(request)
        except IncorrectLookupParameters:
            return self._bad_filters()

    def _bad_filters(self) -> HttpResponse:
        # What the changelist itself does with filters it cannot apply.
        return HttpResponseRedirect(f"{self._url('changelist')}?e=1")

    def _do_file_export(self, file_format, request, queryset, export_form=None):
        """Send the export form on to the download, as a GET.

        The form is a POST, and every read of a POST goes to the primary; the
        download is a GET, so a replica serves it under read-your-writes.
        """
        params = request.GET.copy()
        params[FORMAT_PARAM] = file_format.get_extension()
        fields = self.get_export_resource_fields_from_form(export_form)
        if fields:
            params.setlist(FIELDS_PARAM, fields)
        response = HttpResponseRedirect(
            f"{self._url('export_file')}?{params.urlencode()}"
        )
        response.status_code = 303
        return response

    def export_file_view(self, request: HttpRequest) -> HttpResponse:
        """The changelist's rows (its filters and search) as a file."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        params = request.GET.copy()
        extension = params.pop(FORMAT_PARAM, ["csv"])[-1]
        wanted = params.pop(FIELDS_PARAM, [])
        formats = {f().get_extension(): f for f in self.get_export_formats()}
        if extension not in formats:
            raise Http404(f"No export format {extension!r}")
        file_format = formats[extension]()
        # The changelist takes its filters from request.GET and refuses
        # parameters it does not know.
        request.GET = params
        resource = self.get_export_resource_classes(request)[0](
            **self.get_export_resource_kwargs(request)
        )
        fields = [name for name in wanted if name in resource.fields] or None
        # Chosen now, while the request's routing state (read-your-writes)
        # is in force; the stream is read after the view has returned.
        try:
            queryset = self.get_export_queryset(request)
        except IncorrectLookupParameters:
            return self._bad_filters()
        queryset = queryset.using(routing.read_alias())
        if isinstance(file_format, base_formats.CSV):
            response = StreamingHttpResponse(
                stream_csv(resource=resource, queryset=queryset, fields=fields),
                content_type="text/csv; charset=utf-8",
            )
        else:
            response = self._export_in_memory(
                request, resource, queryset, file_format, fields
            )
        if response.status_code == 200:
            name = self.get_export_filename(request, queryset, file_format)
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            post_export.send(sender=None, model=self.model)
        return response

    def _export_in_memory(self, request, resource, queryset, file_format, fields):
        limit = settings.EXPORT_MAX_IN_MEMORY_ROWS
        count = queryset.count()
        if count > limit:
            messages.error(
                request,
                f"{count:,} rows are too many for {file_format.get_title().upper()}, "
                f"which is built in memory (the limit is {limit:,}). Export CSV, "
                "which streams, or filter the list first.",
            )
            changelist = self._url("changelist")
            return HttpResponseRedirect(f"{changelist}?{request.GET.urlencode()}")
        # Formula escaping is for spreadsheets: JSON carries values as they are.
        resource.escape_formulae = isinstance(
            file_format, base_formats.CSV | base_formats.XLSX
        )
        dataset = resource.export(
            queryset=queryset,
            export_fields=fields,
            force_native_type=type(file_format) in base_formats.BINARY_FORMATS,
        )
        return HttpResponse(
            file_format.export_data(dataset),
            content_type=file_format.get_content_type(),
        )


def problem_context(result: ImportResult) -> dict:
    totals = result.totals
    return {
        "problems": result.problems(),
        "problem_rows": totals[RowResult.IMPORT_TYPE_INVALID]
        + totals[RowResult.IMPORT_TYPE_ERROR],
        "unlisted_problem_rows": result.unlisted_problem_rows,
        "listed_problem_rows_limit": MAX_LISTED_PROBLEM_ROWS,
        "total_rows": result.total_rows,
        "new_rows": totals[RowResult.IMPORT_TYPE_NEW],
        "updated_rows": totals[RowResult.IMPORT_TYPE_UPDATE],
        "preview_rows": len(result.rows),
    }
