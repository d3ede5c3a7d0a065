"""A changelist paginator that never counts a big table.

`SELECT COUNT(*)` reads every row: on a million books that is the slowest
query of the changelist, run on every page. For an unfiltered queryset of a
big table this paginator takes PostgreSQL's own estimate (what the planner
uses: `pg_class.reltuples`, scaled to the table's current size), and says
"about N". Otherwise it counts exactly, but stops at `count_limit + 1` rows,
so a filter that still matches most of a big table costs a bounded scan and
reads "more than 10,000".

Use it in a ModelAdmin with `paginator = EstimatedCountPaginator` and
`show_full_result_count = False` (the full count is another COUNT(*)).
"""

from __future__ import annotations

from django.core.paginator import EmptyPage, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

EXACT = "exact"
ESTIMATE = "estimate"
AT_LEAST = "at_least"  # count_limit was reached: there are more rows

# The planner's row estimate, scaled by how much the table grew since the
# last ANALYZE, as the planner itself does; NULL before the first ANALYZE.
ESTIMATE_SQL = """
SELECT (CASE
    WHEN c.reltuples < 0 THEN NULL
    WHEN c.relpages = 0 THEN c.reltuples
    ELSE c.reltuples / c.relpages
        * (pg_relation_size(c.oid) / current_setting('block_size')::int)
END)::bigint
FROM pg_class c
WHERE c.oid = %s::regclass
"""


def table_estimate(table: str, *, using: str) -> int | None:
    """The planner's estimate of the rows in `table`, None if never analyzed."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(ESTIMATE_SQL, [connection.ops.quote_name(table)])
        row = cursor.fetchone()
    return None if row is None else row[0]


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
    template_name = "admin/pagination_estimated.html"  # read by unfold

    @cached_property
    def _counted(self) -> tuple[int, str]:
        """(count, precision), worked out once."""
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count, EXACT
        if is_whole_table(queryset):
            estimate = table_estimate(queryset.model._meta.db_table, using=queryset.db)
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
        if self.is_exact:
            return super().page(number)
        # Not clipped to `count`, which is only approximately the end.
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(
            self.object_list[bottom : bottom + self.per_page], number, self
        )
