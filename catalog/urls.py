from __future__ import annotations

from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("authors/", views.authors, name="authors"),
    path("books/<int:author_id>/", views.books, name="books"),
]
