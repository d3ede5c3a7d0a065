from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.urls import path

from notes import views

app_name = "notes"

urlpatterns = [
    path("", staff_member_required(views.NoteListView.as_view()), name="list"),
    path(
        "create/",
        staff_member_required(views.NoteCreateView.as_view()),
        name="create",
    ),
    path(
        "<int:pk>/delete/",
        staff_member_required(views.NoteDeleteView.as_view()),
        name="delete",
    ),
]
