"""The admin side of imports and exports.

`ImportExportAdmin` keeps django-import-export's buttons, forms and formats
and sends CSV through the set-based pipeline: the preview stages and checks
the file (counts and the first rows, whatever its size), the confirm merges
the staged rows (any worker: they are on the primary), in the request for
small files and as a background job for big ones. `ImportAdmin` shows the
imports, with a job's live progress, its result and its problems, and lets
its owner cancel it.
"""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.text import capfirst
from django.views.decorators.http import require_POST
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from import_export.signals import post_export, post_import
from unfold.admin import ModelAdmin
from unfold.contrib.import_export import forms as unfold_forms

from console.bulk import export, jobs, pipeline, spec
from console.bulk.models import Import
from dbops import routing
from dbops.ops import jobqueue
from dbops.routing import PRIMARY, consistency

logger = logging.getLogger("console.bulk")

FORMAT_PARAM = "_format"
FIELDS_PARAM = "_fields"


class CSV(base_formats.CSV):
    """The only import format: the pipeline reads CSV itself, strictly."""


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


class ExportForm(unfold_forms.SelectableFieldsExportForm):
    """unfold's export form, its field choices named as the admin names the
    columns (the model field's verbose name: "ISBN", where the library
    title-cases the attribute into "Isbn")."""

    def _get_field_label(self, resource, field_name: str) -> str:
        model = resource._meta.model
        try:
            name = model._meta.get_field(field_name).verbose_name
        except FieldDoesNotExist:
            return super()._get_field_label(resource, field_name)
        label = capfirst(str(name))
        field = resource.fields.get(field_name)
        if field and field.column_name != field_name:
            label = f"{label} ({field.column_name})"
        return label


class ImportExportAdmin(ImportExportModelAdmin):
    """django-import-export's admin on the set-based pipeline.

    Combine it after unfold's ModelAdmin and set `resource_classes` (used for
    the exports' columns and the non-CSV formats); the model needs an import
    spec (console.bulk.spec): `class BookAdmin(ModelAdmin, ImportExportAdmin)`.
    """

    import_form_class = ImportForm
    export_form_class = ExportForm
    import_formats = [CSV]
    export_formats = [base_formats.CSV, base_formats.XLSX, base_formats.JSON]
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

    def _url(self, name: str, *args: Any) -> str:
        opts = self.opts
        return reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_{name}",
            args=args,
        )

    @property
    def import_spec(self) -> spec.ImportSpec:
        return spec.for_model(self.model)

    # --- import: the preview -------------------------------------------------

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_import_form(request)
        context: dict[str, Any] = {}
        if request.method == "POST" and form.is_valid():
            context = self._preview(request, form)
        return self._import_page(request, form, context)

    def _preview(self, request: HttpRequest, form) -> dict[str, Any]:
        upload_file = form.cleaned_data["import_file"]
        try:
            with routing.use_primary("import"):
                upload = pipeline.stage(
                    spec=self.import_spec,
                    stream=upload_file.open("rb"),
                    owner_id=request.user.pk,
                    file_name=upload_file.name,
                    client_position=consistency.read_token(request),
                )
        except pipeline.WrongHeader as exc:
            return {"problems": [pipeline.Problem(None, "", str(exc))]}
        except pipeline.Refused as exc:
            form.add_error("import_file", str(exc))
            return {}
        context = import_context(self.import_spec, upload)
        if upload.state == Import.State.STAGED:
            context["confirm_form"] = self.get_confirm_form_class(request)(
                initial={
                    "import_file_name": str(upload.pk),
                    "original_file_name": upload_file.name,
                    "format": form.cleaned_data["format"],
                    "resource": form.cleaned_data.get("resource", ""),
                }
            )
        return context

    def _import_page(
        self, request: HttpRequest, form, context: dict
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            **context,
            "upload_limit": settings.IMPORT_MAX_UPLOAD_BYTES,
            "title": "Import",
            "form": form,
            "opts": self.opts,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)

    # --- import: the confirm -------------------------------------------------

    @method_decorator(require_POST)
    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm_form = self.get_confirm_form_class(request)(request.POST)
        if not confirm_form.is_valid():
            errors = "; ".join(
                str(error) for field in confirm_form.errors.values() for error in field
            )
            messages.error(request, f"This confirm cannot be used: {errors}")
            return HttpResponseRedirect(self._url("import"))
        upload = self._confirmed_upload(request, confirm_form)
        if upload is None:
            return self._expired(request)
        if upload.total_rows > settings.IMPORT_JOB_ROWS:
            if not jobs.enqueue(upload):
                return self._expired(request)
            messages.info(
                request,
                f"Importing {upload.total_rows:,} rows in the background; "
                "this page shows how far it is.",
            )
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:bulk_import_change", args=[upload.pk])
            )
        with routing.use_primary("import"):
            merged = pipeline.merge(spec=self.import_spec, upload=upload)
        if merged is None:
            return self._expired(request)
        if merged.problems:
            # Rows changed since the preview (a concurrent import or edit).
            pipeline.discard(merged)
            context = import_context(self.import_spec, merged)
            form = self.get_import_form_class(request)(
                self.get_import_formats(), self.get_import_resource_classes(request)
            )
            return self._import_page(request, form, context)
        self.log_import(request, merged)
        post_import.send(sender=None, model=self.model)
        messages.success(request, success_message(self.import_spec, merged))
        return HttpResponseRedirect(self._url("changelist"))

    def _confirmed_upload(self, request: HttpRequest, confirm_form) -> Import | None:
        """The staged upload the confirm names, if it is the user's own.

        Both name and format come back from the browser: a forged one is
        treated as an upload that expired, never as a server error.
        """
        name = confirm_form.cleaned_data["import_file_name"]
        index = confirm_form.cleaned_data["format"]
        if not name.isdigit() or len(name) > 18 or index != "0":
            return None
        return (
            Import.objects.using(PRIMARY)
            .filter(
                pk=int(name),
                owner_id=request.user.pk,
                model=self.import_spec.label,
                state=Import.State.STAGED,
            )
            .first()
        )

    def _expired(self, request: HttpRequest) -> HttpResponse:
        messages.error(
            request,
            "This upload was already imported, or it expired. Upload the file again.",
        )
        return HttpResponseRedirect(self._url("import"))

    def log_import(self, request: HttpRequest, upload: Import) -> None:
        # One entry per import, not one per row: twenty thousand entries
        # would slow the import down and bury the admin's recent actions.
        log_import(user_id=request.user.pk, model=self.model, upload=upload)

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

    def export_file_view(self, request: HttpRequest) -> HttpResponseBase:
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
        request.GET = params  # type: ignore[assignment]
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
                export.stream_csv(
                    queryset=queryset, columns=resource.stream_columns(fields)
                ),
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
        resource.escape_formulae = isinstance(file_format, base_formats.XLSX)
        dataset = resource.export(
            queryset=queryset,
            export_fields=fields,
            force_native_type=type(file_format) in base_formats.BINARY_FORMATS,
        )
        return HttpResponse(
            file_format.export_data(dataset),
            content_type=file_format.get_content_type(),
        )


def import_context(import_spec: spec.ImportSpec, upload: Import) -> dict[str, Any]:
    """What the import page shows of a staged (or refused) upload."""
    problems = pipeline.problems_of(upload)
    rows = [] if problems else pipeline.preview_rows(import_spec, upload)
    return {
        "upload": upload,
        "problems": problems,
        "problem_rows": upload.problem_rows,
        "unlisted_problem_rows": max(
            0, upload.problem_rows - len({p.line for p in problems})
        ),
        "total_rows": upload.total_rows,
        "new_rows": upload.new_rows,
        "updated_rows": upload.updated_rows,
        "unchanged_rows": upload.unchanged_rows,
        "preview_columns": upload.columns,
        "preview": [
            {"line": line, "kind": kind, "values": values}
            for line, kind, *values in rows
        ],
        "preview_rows": len(rows),
        "runs_as_job": upload.total_rows > settings.IMPORT_JOB_ROWS,
    }


def success_message(import_spec: spec.ImportSpec, upload: Import) -> str:
    return (
        f"Import finished: {upload.new_rows:,} new, {upload.updated_rows:,} updated "
        f"and {upload.unchanged_rows:,} unchanged "
        f"{import_spec.model._meta.verbose_name_plural}."
    )


def log_import(*, user_id: int | None, model, upload: Import) -> None:
    if user_id is None:
        return
    LogEntry.objects.create(
        user_id=user_id,
        content_type_id=ContentType.objects.get_for_model(model).pk,
        object_repr=f"{upload.file_name}: {upload.new_rows} new, "
        f"{upload.updated_rows} updated"[:200],
        action_flag=CHANGE if upload.updated_rows else ADDITION,
        change_message=f"Imported {upload.new_rows + upload.updated_rows} rows "
        f"from {upload.file_name}",
    )


# --- the imports and their jobs ------------------------------------------------------


@admin.register(Import)
class ImportAdmin(ModelAdmin):
    """Each user's imports (a superuser sees all): state, progress, result.

    Read-only: an import is made by an upload, and its owner may only cancel
    it. A running job's page reloads itself every two seconds (a meta
    refresh: no script, which the Content-Security-Policy would refuse).
    """

    list_display = ["__str__", "model", "owner", "state", "total_rows", "created_at"]
    list_filter = ["state", "model"]
    change_form_template = "admin/bulk/import/job.html"

    def get_queryset(self, request: HttpRequest):
        imports = super().get_queryset(request).using(PRIMARY)
        if request.user.is_superuser:
            return imports
        return imports.filter(owner_id=request.user.pk)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        queue = jobqueue.job_queue()
        if queue is not None and queue.stranded:
            messages.warning(request, queue.words)
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list:
        cancel = path(
            "<int:pk>/cancel/",
            self.admin_site.admin_view(self.cancel_view),
            name="bulk_import_cancel",
        )
        return [cancel, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        upload = get_object_or_404(self.get_queryset(request), pk=object_id)
        upload = jobs.settle(upload)
        context = {
            **self.admin_site.each_context(request),
            **job_context(upload),
            "title": str(upload),
            "opts": self.opts,
            "original": upload,
            "upload": upload,
            "problems": pipeline.problems_of(upload),
        }
        request.current_app = self.admin_site.name
        response = TemplateResponse(request, self.change_form_template, context)
        if upload.state == Import.State.DONE:
            # The job's rows are on the client's next page, whatever the
            # replicas' lag: its position is past the job's commit, which
            # this request has just read.
            consistency.hand_out_primary_position()
        return response

    @method_decorator(require_POST)
    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        upload = get_object_or_404(self.get_queryset(request), pk=pk)
        if upload.owner_id != request.user.pk and not request.user.is_superuser:
            raise PermissionDenied
        jobs.request_cancel(upload)
        messages.info(request, "Cancelling: nothing of this import will be written.")
        return HttpResponseRedirect(reverse("admin:bulk_import_change", args=[pk]))


def job_context(upload: Import) -> dict[str, Any]:
    """Progress in numbers: rows done of total, rows per second, time left."""
    percent = (
        int(100 * upload.done_rows / upload.total_rows) if upload.total_rows else 0
    )
    rate = time_left = None
    if upload.started_at and upload.done_rows:
        end = upload.finished_at or timezone.now()
        seconds = max((end - upload.started_at).total_seconds(), 0.001)
        rate = upload.done_rows / seconds
        if not upload.finished:
            time_left = (upload.total_rows - upload.done_rows) / rate
    return {
        "percent": 100 if upload.state == Import.State.DONE else percent,
        "rows_per_second": rate,
        "seconds_left": time_left,
        "refresh": not upload.finished and upload.state != Import.State.STAGED,
        "can_cancel": upload.state in (Import.State.QUEUED, Import.State.RUNNING)
        and not upload.cancel_requested,
    }
