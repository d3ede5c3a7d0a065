"""One fix to django-unfold 0.91's changelist rows, installed at start-up.

unfold's `items_for_result` (unfold/templatetags/unfold_list.py) calls
`result_headers(cl)` for every row, only to read each column's title for
the cells' `data-label`: on a 50-row book changelist that is 306 header
computations, each rendering the select-all checkbox through its widget
template, about a quarter of the page's CPU. The headers are the same for
every row of a page, so they are worked out once per changelist and reused:
by unfold's rows (users, groups, and the changelists that
console/bigtables/result_list.py leaves to unfold) and by the console's.
No setting or subclass reaches this function, hence the patch; it fails at
start-up, not silently, if unfold renames what it replaces.
"""

from __future__ import annotations

from collections.abc import Iterator

from unfold.templatetags import unfold_list

_unfold_result_headers = unfold_list.result_headers


def result_headers_once(cl) -> Iterator[dict]:
    """unfold's `result_headers`, computed once per changelist."""
    headers = getattr(cl, "_console_result_headers", None)
    if headers is None:
        headers = list(_unfold_result_headers(cl))
        cl._console_result_headers = headers
    return iter(headers)


def install() -> None:
    if unfold_list.result_headers is not result_headers_once:
        assert callable(unfold_list.items_for_result)  # the caller still there
        unfold_list.result_headers = result_headers_once
