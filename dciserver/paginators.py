"""Admin pagination that stays fast on tables of millions of rows."""

from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most ``COUNT_CAP`` rows; past that, PostgreSQL's row estimate for the table.

    Django's admin counts the rows of every change list page. On the jobs table that is
    a scan of the whole history each time; a capped count reads at most ``COUNT_CAP``
    index entries, and the estimate is free. Past the cap the page count is approximate,
    which is fine for browsing newest-first.
    """

    @cached_property
    def count(self):
        capped = self.object_list[: COUNT_CAP + 1].count()
        if capped <= COUNT_CAP:
            return capped
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [self.object_list.model._meta.db_table],
            )
            estimate = cursor.fetchone()[0]
        return max(estimate, capped)
