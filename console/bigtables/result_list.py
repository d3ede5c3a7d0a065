"""The changelist rows of the console's own admins, rendered in one pass.

unfold 0.91 builds every cell in `items_for_result`: the row's checkbox
through the widget's template, the preserved filters parsed again for each
row's link, some thirty utility classes written out on every cell, and an
include per row for row actions that these admins do not have. On a 50-row
book page that was more than half of the page's CPU and 165 KB of its
237 KB. Here what is the same for every row is worked out once per page:
each column's label, classes and kind, the checkbox, the link's
URL with only the pk left to fill in. The cells carry two short class names
whose styles are unfold's own utilities written once
(static/console/result_list.css). Values are shown as the stock admin shows
them (`lookup_field`, `display_for_field`, `display_for_value`).

No setting of unfold renders rows another way, hence this module. It takes
only plain changelists (`plain_columns`); an editable list, row actions,
sections, a drag-ordering column, a popup or unfold's label, dropdown and
header columns go to unfold's own tag.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.contrib.admin import helpers

# Django's own (private) naming of a column's class, as unfold uses it too.
from django.contrib.admin.templatetags.admin_list import (  # type: ignore[attr-defined]
    _coerce_field_name,
)
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import (
    display_for_field,
    display_for_value,
    label_for_field,
    lookup_field,
    quote,
)
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

CHECKBOX = "action_checkbox"
# unfold's display options that change a cell's markup: left to unfold.
UNFOLD_DISPLAYS = ("label", "dropdown", "header")
# Model fields whose cells do not wrap, as unfold has them.
NOWRAP_FIELDS = (models.DateField, models.TimeField, models.ForeignKey)
# Stands for the pk in the change URL worked out once per page.
PK_MARK = "__console_pk__"


@dataclass(frozen=True)
class Column:
    name: str
    label: str  # the cell's data-label: the header, shown on narrow screens
    classes: str  # field-<name>, and nowrap for dates and references
    links: bool  # the cell links to the row's change form
    tag: str  # "th" for the row's first link, as unfold has it; else "td"


def plain_columns(cl, headers: list[dict], actions_row=None) -> list[Column] | None:
    """The changelist's columns, or None when unfold must render its rows."""
    admin = cl.model_admin
    if (
        cl.formset
        or cl.is_popup
        or actions_row
        or getattr(admin, "list_sections", None)
        or getattr(admin, "ordering_field", None)
    ):
        return None
    columns, linked = [], False
    for index, name in enumerate(cl.list_display):
        # What Django shows in the column: a model field first, else the
        # admin's or the model's callable or attribute.
        _, attr = label_for_field(name, cl.model, admin, return_attr=True)
        if any(getattr(attr, option, False) for option in UNFOLD_DISPLAYS):
            return None
        links = name != CHECKBOX and _links(cl, name, first=not linked)
        tag = "th" if links and not linked else "td"
        linked = linked or links
        dated = isinstance(_model_field(cl, name), NOWRAP_FIELDS)
        columns.append(
            Column(
                name=name,
                label=str(headers[index]["text"]),
                classes=f"field-{_coerce_field_name(name, index)}"
                + (" nowrap" if dated else ""),
                links=links,
                tag=tag,
            )
        )
    return columns


def rows_html(cl, columns: list[Column]) -> SafeString:
    """Every row of the page: a tbody each, as unfold's markup has them."""
    change_url = _change_url(cl)
    box = format_html(
        '<input type="checkbox" name="{}" value="{}" class="cl-box action-select"'
        ' aria-label="{}">',
        helpers.ACTION_CHECKBOX_NAME,
        PK_MARK,
        gettext("Select record"),
    )
    empty = cl.model_admin.get_empty_value_display()
    select_label = escape(gettext("Select record"))
    labels = {column.name: escape(column.label) for column in columns}
    parts = []
    for result in cl.result_list:
        pk = escape(str(result.pk))
        parts.append('<tbody class="cl-rows"><tr class="data-row cl-row">')
        for column in columns:
            if column.name == CHECKBOX:
                parts.append(
                    f'<td class="cl-check action-checkbox" data-label="{select_label}">'
                    f"{box.replace(PK_MARK, pk)}</td>"
                )
                continue
            shown, nowrap = _cell(cl, column, result, empty)
            if column.links and change_url:
                url = change_url.replace(PK_MARK, str(quote(result.pk)), 1)
                shown = format_html('<a href="{}" class="cl-link">{}</a>', url, shown)
            classes = column.classes + (" nowrap" if nowrap else "")
            parts.append(
                f'<{column.tag} class="cl {classes}" '
                f'data-label="{labels[column.name]}">'
                f"{conditional_escape(shown)}</{column.tag}>"
            )
        parts.append("</tr></tbody>")
    return mark_safe("".join(parts))  # noqa: S308  # every value escaped above


def _cell(cl, column: Column, result, empty: str) -> tuple[Any, bool]:
    """(what the cell shows, whether it must not wrap), as Django's
    `items_for_result` works them out."""
    try:
        field, attr, value = lookup_field(column.name, result, cl.model_admin)
    except ObjectDoesNotExist:
        return empty, False
    if field is None or field.auto_created:
        empty = getattr(attr, "empty_value_display", empty)
        boolean = getattr(attr, "boolean", False)
        nowrap = isinstance(value, datetime.date | datetime.time)
        return display_for_value(value, empty, boolean), nowrap
    if isinstance(field.remote_field, models.ManyToOneRel):
        related = getattr(result, field.name)
        return (empty if related is None else related), False
    return display_for_field(value, field, empty), False


def _change_url(cl) -> str:
    """The rows' change URL with the preserved filters, PK_MARK for the pk;
    "" when the model has no change view."""
    opts = cl.opts
    try:
        url = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            args=(PK_MARK,),
            current_app=cl.model_admin.admin_site.name,
        )
    except NoReverseMatch:
        return ""
    return add_preserved_filters(
        {"preserved_filters": cl.preserved_filters, "opts": opts}, url
    )


def _links(cl, name: str, *, first: bool) -> bool:
    if cl.list_display_links is None:
        return False
    if first and not cl.list_display_links:
        return True
    return name in cl.list_display_links


def _model_field(cl, name: str) -> models.Field | None:
    try:
        return cl.lookup_opts.get_field(name)
    except FieldDoesNotExist:
        return None
