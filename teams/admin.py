from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm

from dciserver.api.exceptions import Conflict, NotFound, PreconditionFailed
from dciserver.paginators import CappedCountPaginator
from teams import services
from teams.models import Feeder, RemoteCI, Team, User

READ_ONLY = ("id", "etag", "created_at", "updated_at", "archived_at")
IMMUTABLE_READ_ONLY = ("id", "created_at", "archived_at")


class ArchiveAdmin(admin.ModelAdmin):
    """Shared admin behaviour: read-only bookkeeping fields, the archived filter, and archiving
    and restoring through the same model methods and services as the API.

    Nothing is deleted here: a row is archived, as DELETE in the API does, with the rows that
    share its lifetime, and ``manage.py purge`` removes it (and any stored bytes) after the
    retention period. Django's own delete would remove rows behind the API's back, and would
    refuse any job that has files.
    """

    readonly_fields = READ_ONLY
    actions = ["restore", "archive"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_list_filter(self, request):
        return (*self.list_filter, ArchivedFilter)

    def has_delete_permission(self, request, obj=None):
        return False

    def archive_row(self, row):
        """Archive ``row`` as DELETE in the API does (admins of resources with a service override this)."""
        row.archive()

    @admin.action(description="Restore the selected archived rows")
    def restore(self, request, queryset):
        restored = 0
        for row in queryset.filter(archived_at__isnull=False):
            try:
                restored += row.restore()
            except Conflict as conflict:
                self.message_user(request, self.conflict_message(row, conflict), messages.ERROR)
        self.message_user(request, f"Restored {restored} {model_ngettext(queryset, restored)}.")

    def conflict_message(self, row, conflict):
        own, other, field = self.opts.verbose_name, conflict.resource, conflict.field
        taken = f"its {field}" if other == own else f"the {field} of a {other} restored with it"
        return f"Could not restore {own} {row}: a live {other} has {taken}. Rename one of them first."

    @admin.action(description="Archive the selected rows (hide them from the API)")
    def archive(self, request, queryset):
        archived = 0
        for row in queryset.filter(archived_at__isnull=True):
            try:
                self.archive_row(row)
            except NotFound:
                continue  # archived meanwhile
            archived += 1
        self.message_user(request, f"Archived {archived} {model_ngettext(queryset, archived)}.")


class ArchivedFilter(admin.SimpleListFilter):
    title = "archived"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return (("no", "Live"), ("yes", "Archived"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(archived_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(archived_at__isnull=False)
        return queryset


@admin.register(Team)
class TeamAdmin(ArchiveAdmin):
    list_display = ("name", "has_pre_release_access", "external", "state", "created_at", "archived_at")
    list_filter = ("state", "has_pre_release_access", "external")
    search_fields = ("=id", "name")

    def archive_row(self, row):
        services.team_archive(team=row)


class UserCreateForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("name", "team", "role")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = ("name", "password", "fullname", "email", "team", "role", "state")


@admin.register(User)
class UserAdmin(ArchiveAdmin, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    list_display = ("name", "team", "role", "email", "state", "created_at")
    list_filter = ("role", "state", "team")
    search_fields = ("=id", "name", "email", "fullname")
    ordering = ("name",)
    list_select_related = ("team",)
    readonly_fields = (*READ_ONLY, "last_login")
    filter_horizontal = ()
    fieldsets = (
        (None, {"fields": ("name", "password")}),
        ("Profile", {"fields": ("fullname", "email", "team", "role", "state")}),
        ("Bookkeeping", {"fields": (*READ_ONLY, "last_login")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("name", "team", "role", "password1", "password2")}),)


class SigningAgentAdmin(ArchiveAdmin):
    """Agents that sign their requests: their secret is rotated by an action, shown once, and never
    displayed in lists or forms."""

    @admin.action(description="Rotate the signing secret of the selected rows")
    def rotate_secret(self, request, queryset):
        """A new ``api_secret`` for each, shown this once (the lists and forms never show it)."""
        kind = self.model._meta.model_name
        for row in queryset.filter(archived_at__isnull=True):
            try:
                services.api_secret_rotate(agent=row)
            except PreconditionFailed:
                self.message_user(request, f"Skipped {kind} {row}: it changed meanwhile.", messages.WARNING)
                continue
            self.message_user(request, f"New secret of {kind} {row} ({kind}/{row.id}): {row.api_secret}")


@admin.register(Feeder)
class FeederAdmin(SigningAgentAdmin):
    list_display = ("name", "team", "state", "created_at", "updated_at")
    list_filter = ("state", "team")
    search_fields = ("=id", "name")
    list_select_related = ("team",)
    actions = ["restore", "archive", "rotate_secret"]


@admin.register(RemoteCI)
class RemoteCIAdmin(SigningAgentAdmin):
    list_display = ("name", "team", "state", "created_at", "updated_at")
    list_filter = ("state", "team")
    search_fields = ("=id", "name")
    list_select_related = ("team",)
    actions = ["restore", "archive", "activate", "deactivate", "rotate_secret"]

    @admin.action(description="Activate the selected remotecis")
    def activate(self, request, queryset):
        self.set_state(request, queryset, RemoteCI.State.ACTIVE, "Activated")

    @admin.action(description="Deactivate the selected remotecis")
    def deactivate(self, request, queryset):
        self.set_state(request, queryset, RemoteCI.State.INACTIVE, "Deactivated")

    def set_state(self, request, queryset, state, done):
        """Write the state as ``PUT /remotecis/<id>`` does (``remoteci_update``): a new etag, so a
        client holding the old one gets 412 instead of silently writing the old state back."""
        changed = 0
        for remoteci in queryset.exclude(state=state):
            if remoteci.is_archived:
                self.message_user(request, f"Skipped remote CI {remoteci}: it is archived.", messages.WARNING)
                continue
            try:
                services.remoteci_update(remoteci=remoteci, etag=remoteci.etag, changes={"state": state})
            except PreconditionFailed:
                message = f"Skipped remote CI {remoteci}: it changed meanwhile. Reload the page and try again."
                self.message_user(request, message, messages.WARNING)
                continue
            changed += 1
        self.message_user(request, f"{done} {changed} {model_ngettext(queryset, changed)}.")
