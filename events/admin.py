"""The admin of events out (SPEC §17): teams' webhooks, the events and their deliveries with each
attempt (read-only, but for a redelivery), and who follows which topics and remotecis."""

from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.utils.text import Truncator
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from dciserver.api.exceptions import PreconditionFailed
from events import services
from events.models import SUBSCRIBABLE, Delivery, DeliveryAttempt, Event, RemoteciFollower, TopicFollower, Webhook
from files.admin import ComputedAdmin, change_link
from jobs.models import Job
from teams.admin import ArchiveAdmin


class WebhookForm(forms.ModelForm):
    # An address typed without a scheme is https (Django 6's default): a signed body is still readable.
    url = forms.URLField(max_length=2048, assume_scheme="https")
    kinds = forms.MultipleChoiceField(
        choices=[(kind, kind) for kind in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
        help_text="What it is sent.",
    )

    class Meta:
        model = Webhook
        fields = ("name", "team", "url", "kinds", "state")

    def clean_kinds(self):
        return sorted(set(self.cleaned_data["kinds"]))


@admin.register(Webhook)
class WebhookAdmin(ArchiveAdmin):
    """A team's webhooks. The secret is shown once, when it is made (on adding, by the rotation
    action), as the API shows it: never in a list or form, where it would be read over a shoulder."""

    form = WebhookForm
    list_display = ("name", "team", "url", "kinds", "state", "created_at")
    list_filter = ("state", "team")
    search_fields = ("=id", "name", "url")
    list_select_related = ("team",)
    actions = ["restore", "archive", "rotate_secret"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(request, f"Secret of webhook {obj} (shown this once): {obj.secret}")

    @admin.action(description="Rotate the secret of the selected webhooks")
    def rotate_secret(self, request, queryset):
        for webhook in queryset.filter(archived_at__isnull=True):
            try:
                services.webhook_secret_rotate(webhook=webhook)
            except PreconditionFailed:
                self.message_user(request, f"Skipped webhook {webhook}: it changed meanwhile.", messages.WARNING)
                continue
            self.message_user(request, f"New secret of webhook {webhook} (shown this once): {webhook.secret}")


def destination(delivery):
    return delivery.webhook or delivery.user or delivery.channel


class WorkersRowsAdmin(ComputedAdmin):
    """Rows the database and the workers write (events, deliveries): never by hand, or the log
    would no longer tell what was sent. Searched by id on their indexed columns."""

    ordering = ("-id",)


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "started_at", "duration_ms", "status_code", "error", "worker")
    readonly_fields = fields
    ordering = ("number",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(WorkersRowsAdmin):
    list_display = (
        "id",
        "event_link",
        "channel",
        "to",
        "status",
        "attempts",
        "last_status_code",
        "short_error",
        "next_try_at",
        "updated_at",
    )
    list_filter = ("status", "channel")
    search_fields = ("webhook__name", "user__name")
    search_help_text = "A delivery id, its idempotency key, or part of its webhook's or user's name."
    id_columns = {int: ("id",), UUID: ("idempotency_key",)}
    list_select_related = ("webhook", "user")
    fields = (
        "id",
        "event_link",
        "channel",
        "webhook",
        "user",
        "team",
        "idempotency_key",
        "status",
        "attempts",
        "max_attempts",
        "next_try_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
        "updated_at",
        "task_id",
    )
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["redeliver"]

    @admin.display(description="event")
    def event_link(self, delivery):
        return change_link(Event, delivery.event_id)

    @admin.display(description="to")
    def to(self, delivery):
        return destination(delivery)

    @admin.display(description="last error")
    def short_error(self, delivery):
        return Truncator(delivery.last_error).chars(80)

    @admin.action(description="Redeliver the selected deliveries now (a new round of attempts)")
    def redeliver(self, request, queryset):
        queued = 0
        for delivery in queryset:
            services.delivery_redeliver(delivery=delivery)
            queued += 1
        self.message_user(request, f"Queued {queued} {model_ngettext(queryset, queued)} again.")


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("channel", "to", "status", "attempts", "last_status_code", "last_error", "next_try_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("webhook", "user")

    @admin.display(description="to")
    def to(self, delivery):
        return destination(delivery)


@admin.register(Event)
class EventAdmin(WorkersRowsAdmin):
    list_display = ("id", "kind", "status", "job_link", "team", "regressions", "created_at", "dispatched_at")
    list_filter = ("kind",)
    search_fields = ("=kind", "=status")
    search_help_text = "An event id, its job's id, or a kind or status."
    id_columns = {int: ("id",), UUID: ("job_id",)}
    list_select_related = ("team",)
    fields = ("id", "kind", "status", "regressions", "job_link", "team", "created_at", "dispatched_at", "payload")
    readonly_fields = fields
    inlines = [DeliveryInline]

    @admin.display(description="job")
    def job_link(self, event):
        return change_link(Job, event.job_id)


@admin.register(TopicFollower)
class TopicFollowerAdmin(admin.ModelAdmin):
    list_display = ("user", "topic", "created_at")
    # Topics are few: a filter listing them all stays short.
    list_filter = ("topic",)
    search_fields = ("=id", "user__name", "topic__name")
    raw_id_fields = ("user",)
    list_select_related = ("user", "topic")


@admin.register(RemoteciFollower)
class RemoteciFollowerAdmin(admin.ModelAdmin):
    list_display = ("user", "remoteci", "created_at")
    search_fields = ("=id", "user__name", "remoteci__name")
    raw_id_fields = ("user", "remoteci")
    list_select_related = ("user", "remoteci")


# The worker's tasks, as django_tasks_db shows them, found by id or by what they run.
admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(DBTaskResultAdmin):
    search_fields = ("=id", "task_path")
