from uuid import UUID

from django.conf import settings
from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import Truncator

from dciserver.admin import ReadOnlyAdmin
from dciserver.paginators import CappedCountPaginator
from files.models import File, JUnitResult, Test, TestCase
from jobs.admin import JobAdmin
from jobs.models import Job
from teams.admin import IMMUTABLE_READ_ONLY, ArchiveAdmin, ArchivedFilter


def change_link(model, pk, text=None):
    """A link to the admin page of ``model`` ``pk``, made from the id alone: no row is read for it."""
    if pk is None:
        return "-"
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])
    return format_html('<a href="{}">{}</a>', url, pk if text is None else text)


def cases_link(text, **lookups):
    """A link to the test cases that ``lookups`` (the change list's query string) select."""
    url = reverse("admin:files_testcase_changelist") + "?" + urlencode(lookups)
    return format_html('<a href="{}">{}</a>', url, text)


def html_table(headers, rows):
    """An escaped HTML table: ``rows`` are tuples of values (safe ones, such as links, kept)."""
    cells = "".join("<td>{}</td>" for _ in headers)
    return format_html(
        "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
        format_html_join("", "<th>{}</th>", ((header,) for header in headers)),
        format_html_join("", "<tr>" + cells + "</tr>", rows),
    )


def typed_id(term):
    """``term`` as a UUID or a non-negative 63-bit integer, if it is one; else ``None``."""
    try:
        return UUID(term)
    except ValueError:
        pass
    if term.isascii() and term.isdigit() and int(term) < 1 << 63:
        return int(term)
    return None


@admin.register(File)
class FileAdmin(ArchiveAdmin):
    list_display = ("name", "mime", "size", "job", "team", "created_at")
    list_filter = ("team",)
    search_fields = ("=id", "=job__id", "name", "md5")
    raw_id_fields = ("job", "jobstate", "team")
    readonly_fields = (*IMMUTABLE_READ_ONLY, "md5", "size")
    list_select_related = ("team",)


class FileInline(admin.TabularInline):
    model = File
    extra = 0
    fields = ("name", "mime", "size", "md5", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


# A job's page lists its files too: the job admin, extended here (files depend on jobs, not the reverse).
admin.site.unregister(Job)


@admin.register(Job)
class JobWithFilesAdmin(JobAdmin):
    inlines = [*JobAdmin.inlines, FileInline]
    readonly_fields = (*JobAdmin.readonly_fields, "test_results")

    @admin.display(description="test results")
    def test_results(self, job):
        """The job's cases counted by state (one GROUP BY on the job's index), each count a link to
        those cases, and its JUnit files' comparison with their baselines."""
        if job._state.adding:
            return "-"
        counts = dict(TestCase.objects.filter(job=job).values_list("state").annotate(Count("id")))
        results = JUnitResult.objects.filter(job=job).select_related("file").order_by("file__created_at")
        order = {state: position for position, state in enumerate(TestCase.State.values)}
        states = html_table(
            ("state", "cases"),
            (
                (state or "-", cases_link(count, job__id__exact=job.id, state__exact=state))
                for state, count in sorted(counts.items(), key=lambda item: order.get(item[0], -1))
            ),
        )
        files = html_table(
            ("JUnit file", "total", "failures", "errors", "skips", "regressions", "successfixes", "flaky regressions"),
            (
                (
                    change_link(JUnitResult, result.file_id, result.file.name),
                    result.total,
                    result.failures,
                    result.errors,
                    result.skips,
                    result.regressions,
                    result.successfixes,
                    result.flaky_regressions,
                )
                for result in results
            ),
        )
        return format_html("{}{}", states, files)


@admin.register(JUnitResult)
class JUnitResultAdmin(admin.ModelAdmin):
    list_display = (
        "file",
        "name",
        "total",
        "failures",
        "errors",
        "skips",
        "regressions",
        "successfixes",
        "flaky_regressions",
        "time",
        "error",
        "cases",
    )
    search_fields = ("=file__id", "=job__id", "name")
    raw_id_fields = ("file", "job")
    readonly_fields = ("cases",)
    # Only the file is shown: without this the change list joins every foreign key, the job's with them.
    list_select_related = ("file",)
    paginator = CappedCountPaginator
    show_full_result_count = False

    @admin.display(description="test cases")
    def cases(self, result):
        if result._state.adding:
            return "-"
        return cases_link("cases", file__id__exact=result.file_id)


class ComputedAdmin(ReadOnlyAdmin):
    """Rows computed at upload (SPEC §15): shown, never added, changed or deleted by hand, since a
    case's state and a test's runs hold together only as the upload wrote them.

    An id searched for is matched on its indexed column (``id_columns``, by the id's type):
    Django's search compares each column cast to text, which reads the whole table.
    """

    id_columns = {}

    def get_search_results(self, request, queryset, search_term):
        value = typed_id(search_term.strip())
        columns = self.id_columns.get(type(value), ())
        if not columns:
            return super().get_search_results(request, queryset, search_term)
        match = Q()
        for column in columns:
            match |= Q(**{column: value})
        return queryset.filter(match), False


@admin.register(TestCase)
class TestCaseAdmin(ComputedAdmin):
    list_display = ("name", "classname", "suite", "result", "state", "previous_result", "flaky", "job_link", "file")
    list_filter = ("state", "result", "flaky", ArchivedFilter)
    search_fields = ("name", "classname")
    search_help_text = "A job, file, test or case id, or part of a name or classname."
    id_columns = {UUID: ("job_id", "file_id"), int: ("id", "test_id")}
    raw_id_fields = ("file", "job", "team")
    # The file's name is shown; the job by its id, which the row holds.
    list_select_related = ("file",)
    ordering = ("-id",)
    fields = (
        "id",
        "name",
        "classname",
        "suite",
        "file",
        "job",
        "team",
        "test",
        "key",
        "result",
        "state",
        "previous_result",
        "flaky",
        "failing_since_job",
        "time",
        "type",
        "message",
        "archived_at",
    )
    readonly_fields = fields

    @admin.display(description="job")
    def job_link(self, case):
        return change_link(Job, case.job_id)

    @admin.display(description="test (its history)")
    def test(self, case):
        return change_link(Test, case.test_id)

    @admin.display(description="failing since")
    def failing_since_job(self, case):
        return change_link(Job, case.failing_since)


@admin.register(Test)
class TestAdmin(ComputedAdmin):
    list_display = (
        "classname",
        "name",
        "file_name",
        "remoteci",
        "topic",
        "runs",
        "outcomes",
        "flips",
        "flaky",
        "last_result",
        "updated_at",
    )
    # Topics are few: a filter listing them all stays short.
    list_filter = ("flaky", "topic")
    search_fields = ("classname", "name")
    search_help_text = "A test id, or part of a classname or name."
    id_columns = {int: ("id",)}
    list_select_related = ("remoteci", "topic")
    fields = (
        "id",
        "classname",
        "name",
        "suite",
        "file_name",
        "team",
        "remoteci",
        "topic",
        "line",
        "runs",
        "outcomes",
        "sets",
        "flips",
        "set_flip_age",
        "flaky",
        "last_result",
        "last_job",
        "failing_since_job",
        "created_at",
        "updated_at",
        "history",
    )
    readonly_fields = fields

    @admin.display(description="last job")
    def last_job(self, test):
        return change_link(Job, test.last_job_id)

    @admin.display(description="failing since")
    def failing_since_job(self, test):
        return change_link(Job, test.failing_since)

    @admin.display(description="history")
    def history(self, test):
        """The test's last runs on its line, newest first (read on the history index), as many as its
        ``outcomes`` keep."""
        runs = (
            TestCase.objects.filter(test_id=test.id, archived_at__isnull=True)
            .exclude(state=TestCase.State.REMOVED)
            .order_by("-id")
            .values_list("job_id", "result", "state", "time", "message", "failing_since")[: settings.DCI_FLAKY_RUNS]
        )
        table = html_table(
            ("job", "result", "state", "time", "message", "failing since"),
            (
                (change_link(Job, job_id), result, state, time, Truncator(message).chars(120), change_link(Job, since))
                for job_id, result, state, time, message, since in runs
            ),
        )
        every = cases_link("Every case of this test", test_id=test.id)
        return format_html("{}<p>{}</p>", table, every)
