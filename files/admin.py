from django.contrib import admin

from dciserver.paginators import CappedCountPaginator
from files.models import File, JUnitResult
from jobs.admin import JobAdmin
from jobs.models import Job
from teams.admin import IMMUTABLE_READ_ONLY, ArchiveAdmin


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


@admin.register(JUnitResult)
class JUnitResultAdmin(admin.ModelAdmin):
    list_display = ("file", "name", "total", "failures", "errors", "skips", "time", "error")
    search_fields = ("=file__id", "=job__id", "name")
    raw_id_fields = ("file", "job")
    paginator = CappedCountPaginator
    show_full_result_count = False
