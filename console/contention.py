"""An editor's save that meets another writer's row lock keeps the edit.

In a web request the primary's statements carry a `lock_timeout`
(WEB_LOCK_TIMEOUT, dbops.routing.backend.cursor): a save that would wait on
rows an import job or another writer holds is stopped after a few seconds
instead of tying up a worker until gunicorn kills it (which dropped the
connection and lost the edit). The admin then shows the form again with
what the editor typed and says who holds the record, so that the editor can
save again in a moment: nothing is lost, nothing is saved over.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import OperationalError

from console.bulk.models import Import
from dbops.routing import PRIMARY, gave_up_on_a_lock


def holder_words(model) -> str:
    """Who most likely holds the rows of `model`, for the editor."""
    label = model._meta.label_lower
    running = (
        Import.objects.using(PRIMARY)
        .filter(state=Import.State.RUNNING, model=label)
        .select_related("owner")
        .order_by("started_at")
        .first()
    )
    name = model._meta.verbose_name
    if running is None:
        holder = "by another writer"
    else:
        owner = f" by {running.owner}" if running.owner else ""
        holder = f"by import #{running.pk} ({running.file_name}{owner})"
    return (
        f"This {name} is being changed {holder}, and your save did not wait "
        f"for it. Nothing was saved; your changes are kept below: save again "
        f"in a moment."
    )


class RowLockAwareAdminMixin:
    """For a ModelAdmin: a save stopped by its lock timeout shows the form
    again, filled with the editor's input, with the holder named."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(  # type: ignore[misc]
                request, object_id, form_url, extra_context
            )
        except OperationalError as exc:
            if request.method != "POST" or not gave_up_on_a_lock(exc):
                raise
        # The save was rolled back with its transaction; the same view again,
        # with a form that refuses to save (see get_form), renders the input.
        request.row_locked = holder_words(self.model)  # type: ignore[attr-defined]
        return super().changeform_view(  # type: ignore[misc]
            request, object_id, form_url, extra_context
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]
        words = getattr(request, "row_locked", None)
        if words is None:
            return form

        class NotSavedForm(form):
            def clean(self):
                super().clean()
                raise ValidationError(words, code="row-locked")

        return NotSavedForm
