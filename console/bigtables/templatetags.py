"""Template tags of the big-table changelists (the `bigtables` library)."""

from __future__ import annotations

from django import template
from django.contrib.admin.views.main import PAGE_VAR
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from unfold.templatetags import unfold_list

from console.bigtables import result_list

register = template.Library()


@register.simple_tag
def page_link(cl, number) -> str:
    """unfold's page link (`paginator_number`), with the thousands of the
    number separated: page 20,101 rather than 20101."""
    if number == cl.paginator.ELLIPSIS:
        return format_html("{}", number)
    label = intcomma(number)
    if number == cl.page_num:
        return format_html(
            '<span class="font-medium text-primary-600">{}</span>', label
        )
    # Like unfold's: keep the URL's fragment when following the link.
    return format_html(
        '<a href="{}"{} x-data x-on:click.prevent="window.location.href = '
        '$el.href + window.location.hash">{}</a> ',
        cl.get_query_string({PAGE_VAR: number}),
        mark_safe(' class="end"') if number == cl.paginator.num_pages else "",
        label,
    )


@register.simple_tag(takes_context=True)
def bigtable_result_list(context, cl) -> str:
    """The changelist's table: unfold's headers over rows rendered in one
    pass (console/bigtables/result_list.py), or unfold's own table where
    the changelist is not a plain one."""
    headers = list(unfold_list.result_headers(cl))
    columns = result_list.plain_columns(cl, headers, context.get("actions_row"))
    if columns is None:
        name, values = (
            "admin/change_list_results.html",
            unfold_list.result_list(context, cl),
        )
    else:
        name, values = (
            "admin/bigtables/change_list_results.html",
            {
                "cl": cl,
                "rows": result_list.rows_html(cl, columns),
                "result_headers": headers,
                "num_sorted_fields": sum(
                    h["sortable"] and h["sorted"] for h in headers
                ),
            },
        )
    return context.template.engine.get_template(name).render(context.new(values))
