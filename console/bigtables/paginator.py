"""A changelist paginator that never counts a big table.

`SELECT COUNT(*)` reads every row: on a million books that is the slowest
query of the changelist, run on every page. For an unfiltered queryset of a
big table this paginator takes the console's row estimate
(`console.bigtables.rows`, the number the dashboard shows too), and says
"about N". Otherwise it counts exactly, but stops at `count_limit + 1` rows,
so a filter that still matches most of a big table costs a bounded scan and
reads "more than 10,000".

Deep pages seek instead of skipping: `OFFSET 500000` makes PostgreSQL
read and throw away half a million whole rows (and their joins) for every
page past the middle. Where the ordering allows, the paginator finds the
page's first key with an index-only walk of the ordering's index (only the
key columns, no joins) and reads the page from there with a row comparison
on that index. A page number past an estimated end shows the last rows,
never an empty page.

Use it in a ModelAdmin with `paginator = EstimatedCountPaginator` and
`show_full_result_count = False` (the full count is another COUNT(*)).
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import EmptyPage, Paginator
from django.db import connections
from django.db.models import BooleanField, Field, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.functional import cached_property

from console.bigtables.rows import estimated_rows

EXACT = "exact"
ESTIMATE = "estimate"
AT_LEAST = "at_least"  # count_limit was reached: there are more rows


def seek_keys(queryset: QuerySet) -> tuple[list[Field], bool] | None:
    """The queryset's ordering as (fields, descending) when a page can be
    found by seeking: plain, non-null fields of the model, all in one
    direction (a row comparison then matches the index's order), the last
    unique (no ties across a page boundary). None otherwise."""
    query = queryset.query
    ordering = query.order_by or (
        query.default_ordering and queryset.model._meta.ordering
    )
    if query.extra_order_by or not ordering:
        return None
    names = [name for name in ordering if isinstance(name, str)]
    if len(names) != len(ordering):
        return None  # an expression: no plain column to seek on
    descending = {name.startswith("-") for name in names}
    if len(descending) != 1:
        return None
    meta = queryset.model._meta
    fields = []
    for name in names:
        name = name.lstrip("-")
        try:
            field = meta.pk if name == "pk" else meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if not getattr(field, "concrete", False) or field.null:
            return None
        fields.append(field)
    if not fields[-1].unique:
        return None
    return fields, descending.pop()


def seek(queryset: QuerySet, keys: tuple[list[Field], bool], start: int) -> QuerySet:
    """The rows of `queryset` from the `start`-th on, as a filter on the
    ordering's key; empty when `start` is past the end."""
    fields, descending = keys
    # Only the key columns: an index-only scan when the index covers them.
    first = queryset.values_list(*(field.attname for field in fields))
    boundary = next(iter(first[start : start + 1]), None)
    if boundary is None:
        return queryset.none()
    quote = connections[queryset.db].ops.quote_name
    table = quote(queryset.model._meta.db_table)
    row = ", ".join(f"{table}.{quote(field.column)}" for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    after = RawSQL(
        f"({row}) {'<=' if descending else '>='} ({marks})",
        list(boundary),
        output_field=BooleanField(),
    )
    return queryset.filter(after)


def is_whole_table(queryset: QuerySet) -> bool:
    """Whether the queryset has one row per row of its table."""
    query = queryset.query
    return not (query.where or query.is_sliced or query.distinct or query.combinator)


class EstimatedCountPaginator(Paginator):
    """Paginator whose `count` is exact up to `count_limit`, else not.

    `precision` says which: EXACT, ESTIMATE ("about N") or AT_LEAST ("more
    than count_limit"). Page numbers past an inexact end are accepted (the
    page is then short or empty), since the true end is unknown.
    """

    count_limit = 10_000
    # Pages that start this far in seek; nearer ones use OFFSET, which is as
    # cheap there and works for every ordering.
    seek_from_row = 2_000
    template_name = "admin/pagination_estimated.html"  # read by unfold

    @cached_property
    def _counted(self) -> tuple[int, str]:
        """(count, precision), worked out once."""
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count, EXACT
        if is_whole_table(queryset):
            table = queryset.model._meta.db_table
            estimate = estimated_rows([table], fallback=queryset.db).get(table)
            if estimate is not None and estimate > self.count_limit:
                return estimate, ESTIMATE
        # COUNT over a LIMIT subquery reads at most count_limit + 1 rows. The
        # order and the annotations do not change the count, only its cost.
        limited = queryset.order_by().values("pk")[: self.count_limit + 1]
        count = limited.count()
        return count, AT_LEAST if count > self.count_limit else EXACT

    @property
    def count(self) -> int:
        return self._counted[0]

    @property
    def precision(self) -> str:
        return self._counted[1]

    @property
    def is_exact(self) -> bool:
        return self.precision == EXACT

    def validate_number(self, number):
        try:
            return super().validate_number(number)
        except EmptyPage:
            # Past an inexact end the true end is unknown: let the page be empty.
            if self.is_exact or int(number) < 1:
                raise
            return int(number)

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = self._rows_from(bottom)
        if not self.is_exact and number > 1 and not rows:
            # Past an estimated end: the last rows, not an empty page.
            rows = list(self.object_list.reverse()[: self.per_page])[::-1]
        return self._get_page(rows, number, self)

    def _rows_from(self, bottom: int) -> list:
        # Not clipped to `count` when it is only approximately the end.
        queryset = self.object_list
        top = bottom + self.per_page
        if not isinstance(queryset, QuerySet) or bottom < self.seek_from_row:
            return list(queryset[bottom:top])
        keys = seek_keys(queryset)
        if keys is None:
            return list(queryset[bottom:top])
        return list(seek(queryset, keys, bottom)[: self.per_page])
