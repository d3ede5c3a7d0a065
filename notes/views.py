"""The small notes pages: a list, a create form and a delete confirmation.

They render inside the admin's frame (sidebar, header, messages, styles) by
extending unfold's `admin/base_site.html` with the admin site's context.
Staff only: `notes/urls.py` wraps every view in `staff_member_required`,
which sends anyone else to the admin login; and each page needs its Note
permission (view, add, delete), refused with a 403 like the admin's own.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.contrib.messages.views import SuccessMessageMixin
from django.template.loader import render_to_string
from django.urls import reverse_lazy
from django.utils.formats import date_format
from django.utils.text import Truncator
from django.utils.timezone import localtime
from django.views.generic import CreateView, DeleteView, ListView

from console.bigtables.paginator import EstimatedCountPaginator
from notes.forms import NoteForm
from notes.models import Note


class NotePermissionMixin(PermissionRequiredMixin):
    raise_exception = True  # staff without the permission: 403, not a login


class ConsolePageMixin:
    """Gives a template what the admin's base template needs."""

    title = ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(admin.site.each_context(self.request))
        context["title"] = self.title
        return context


class NoteListView(NotePermissionMixin, ConsolePageMixin, ListView):
    permission_required = "notes.view_note"
    title = "Notes"
    queryset = Note.objects.order_by("-created_at", "-id")
    paginate_by = 25
    paginator_class = EstimatedCountPaginator

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["table"] = notes_table(self.request, context["object_list"])
        page = context["page_obj"]
        if page.has_previous():
            context["previous_url"] = f"?page={page.previous_page_number()}"
        if page.has_next():
            context["next_url"] = f"?page={page.next_page_number()}"
        return context


def notes_table(request, notes) -> dict:
    """The page's notes in the shape of unfold's table component."""
    return {
        "headers": ["Title", "Content", "Created", ""],
        "rows": [
            [
                note.title,
                Truncator(note.content).chars(80),
                date_format(localtime(note.created_at), "DATETIME_FORMAT"),
                render_to_string(
                    "notes/delete_button.html", {"note": note}, request=request
                ),
            ]
            for note in notes
        ],
    }


class NoteCreateView(
    NotePermissionMixin, ConsolePageMixin, SuccessMessageMixin, CreateView
):
    permission_required = "notes.add_note"
    title = "New note"
    form_class = NoteForm
    template_name = "notes/note_form.html"
    success_url = reverse_lazy("notes:list")
    success_message = "Note “%(title)s” was created."


class NoteDeleteView(NotePermissionMixin, SuccessMessageMixin, DeleteView):
    """GET asks first (the list's Delete button leads here), POST deletes."""

    permission_required = "notes.delete_note"
    model = Note
    title = "Delete note"
    success_url = reverse_lazy("notes:list")

    def get_success_message(self, cleaned_data) -> str:
        return f"Note “{self.object.title}” was deleted."
