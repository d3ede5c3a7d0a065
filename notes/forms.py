from __future__ import annotations

from django import forms
from unfold.widgets import UnfoldAdminTextareaWidget, UnfoldAdminTextInputWidget

from notes.models import Note


class NoteForm(forms.ModelForm):
    class Meta:
        model = Note
        fields = ["title", "content"]
        # unfold's widgets, so that the page matches the admin's forms.
        widgets = {
            "title": UnfoldAdminTextInputWidget,
            "content": UnfoldAdminTextareaWidget,
        }
