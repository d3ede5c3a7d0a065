"""The changelists' fast row checkbox is unfold's checkbox, byte for byte."""

from __future__ import annotations

from types import SimpleNamespace

from django.contrib import admin
from django.contrib.admin import helpers
from unfold.admin import ModelAdmin, checkbox

from catalog.models import Author, Book


def test_row_checkbox_same_html_as_unfold():
    """Every catalog changelist row renders the checkbox unfold would."""
    row = SimpleNamespace(pk=1234)
    expected = checkbox.render(helpers.ACTION_CHECKBOX_NAME, "1234")

    for model in (Author, Book):
        assert admin.site._registry[model].action_checkbox(row) == expected


def test_row_checkbox_header_is_unfolds():
    """The select-all header of the column is unfold's."""
    header = ModelAdmin.action_checkbox.short_description

    assert admin.site._registry[Book].action_checkbox.short_description == header
