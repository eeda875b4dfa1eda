from django.contrib import admin

from jobs import services
from jobs.models import (
    Component,
    Job,
    JobDefinition,
    JobEvent,
    JobKeyValue,
    JobState,
    Pipeline,
    Product,
    ProductTeam,
    Topic,
    TopicSubscription,
)
from teams.admin import IMMUTABLE_READ_ONLY, READ_ONLY, ArchiveAdmin


class SubscriptionInline(admin.TabularInline):
    model = TopicSubscription
    extra = 0
    raw_id_fields = ("team",)


class ProductTeamInline(admin.TabularInline):
    model = ProductTeam
    extra = 0
    raw_id_fields = ("team",)
    verbose_name, verbose_name_plural = "linked team", "linked teams (they reach its exported topics)"


@admin.register(Product)
class ProductAdmin(ArchiveAdmin):
    list_display = ("name", "label", "state", "created_at")
    list_filter = ("state",)
    search_fields = ("=id", "name", "label")
    inlines = [ProductTeamInline]


@admin.register(Topic)
class TopicAdmin(ArchiveAdmin):
    list_display = ("name", "product", "export_control", "state", "created_at")
    list_filter = ("state", "export_control", "product")
    search_fields = ("=id", "name")
    list_select_related = ("product",)
    raw_id_fields = ("next_topic",)
    inlines = [SubscriptionInline]


@admin.register(Component)
class ComponentAdmin(ArchiveAdmin):
    list_display = ("name", "type", "topic", "state", "created_at")
    list_filter = ("state", "topic", "type")
    search_fields = ("=id", "name", "canonical_project_name", "sha")
    list_select_related = ("topic",)


@admin.register(JobDefinition)
class JobDefinitionAdmin(ArchiveAdmin):
    list_display = ("name", "topic", "priority", "state", "created_at")
    list_filter = ("state", "topic")
    search_fields = ("=id", "name")
    list_select_related = ("topic",)


class JobStateInline(admin.TabularInline):
    model = JobState
    extra = 0
    fields = ("status", "comment", "created_at")
    readonly_fields = ("status", "comment", "created_at")
    ordering = ("created_at",)
    can_delete = False
    show_change_link = True


class KeyValueInline(admin.TabularInline):
    model = JobKeyValue
    extra = 0
    fields = ("key", "value", "created_at")
    readonly_fields = ("key", "value", "created_at")
    can_delete = False
    verbose_name_plural = "key/values"

    def has_add_permission(self, request, obj=None):
        return False  # recorded by the job's agent (POST /jobs/<id>/kv)


@admin.register(Job)
class JobAdmin(ArchiveAdmin):
    list_display = ("id", "name", "status", "team", "remoteci", "topic", "recheck", "created_at", "updated_at")
    list_filter = ("status", "recheck", "team", "topic")
    search_fields = ("=id", "=remoteci__id", "remoteci__name", "name", "comment")
    list_select_related = ("team", "remoteci", "topic")
    raw_id_fields = (
        "remoteci",
        "jobdefinition",
        "topic",
        "team",
        "product",
        "pipeline",
        "previous_job",
        "update_previous_job",
    )
    readonly_fields = (*READ_ONLY, "components_key", "recheck_pending", "user_agent", "client_version", "duration")
    inlines = [JobStateInline, KeyValueInline]  # and the files (files.admin)
    ordering = ("-created_at",)
    actions = ["recheck", "kill", "restore", "archive"]

    def archive_row(self, row):
        services.job_archive(job=row)

    @admin.action(description="Recheck the selected jobs (their remotecis run them again next)")
    def recheck(self, request, queryset):
        copies = [services.job_recheck(job=job) for job in queryset.filter(archived_at__isnull=True)]
        self.message_user(request, f"Created {len(copies)} recheck job(s).")

    @admin.action(description="Kill the selected unfinished jobs")
    def kill(self, request, queryset):
        killed = services.jobs_kill(jobs=queryset, reason=f"killed: by {request.user.name} from the admin")
        self.message_user(request, f"Killed {len(killed)} job(s).")


@admin.register(JobState)
class JobStateAdmin(ArchiveAdmin):
    list_display = ("id", "status", "job", "team", "created_at")
    list_filter = ("status", "team")
    search_fields = ("=id", "=job__id", "comment")
    raw_id_fields = ("job", "team")
    readonly_fields = IMMUTABLE_READ_ONLY
    list_select_related = ("team",)


@admin.register(Pipeline)
class PipelineAdmin(ArchiveAdmin):
    list_display = ("name", "team", "state", "created_at")
    list_filter = ("state", "team")
    search_fields = ("=id", "name")
    list_select_related = ("team",)
    raw_id_fields = ("team",)


@admin.register(JobEvent)
class JobEventAdmin(admin.ModelAdmin):
    """The job events consumers read (SPEC §13): written by the database, never by hand."""

    list_display = ("id", "status", "job", "topic", "created_at")
    list_filter = ("status",)
    search_fields = ("=id", "=job__id", "=status")
    raw_id_fields = ("job", "topic")
    ordering = ("-id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
