from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.utils import timezone

from dciserver.paginators import CappedCountPaginator
from teams.models import RemoteCI, Team, User

READ_ONLY = ("id", "etag", "created_at", "updated_at", "archived_at")
IMMUTABLE_READ_ONLY = ("id", "created_at", "archived_at")


class ArchiveAdmin(admin.ModelAdmin):
    """Shared admin behaviour: read-only bookkeeping fields, archived filter, restore action."""

    readonly_fields = READ_ONLY
    actions = ["restore", "archive"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_list_filter(self, request):
        return (*self.list_filter, ArchivedFilter)

    @admin.action(description="Restore the selected archived rows")
    def restore(self, request, queryset):
        restored = queryset.filter(archived_at__isnull=False).update(archived_at=None)
        self.message_user(request, f"Restored {restored} row(s).")

    @admin.action(description="Archive the selected rows (hide them from the API)")
    def archive(self, request, queryset):
        archived = queryset.filter(archived_at__isnull=True).update(archived_at=timezone.now())
        self.message_user(request, f"Archived {archived} row(s).")


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
    list_display = ("name", "state", "created_at", "archived_at")
    list_filter = ("state",)
    search_fields = ("=id", "name")


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


@admin.register(RemoteCI)
class RemoteCIAdmin(ArchiveAdmin):
    list_display = ("name", "team", "state", "created_at", "updated_at")
    list_filter = ("state", "team")
    search_fields = ("=id", "name")
    list_select_related = ("team",)
    actions = ["restore", "archive", "activate", "deactivate"]

    @admin.action(description="Activate the selected remotecis")
    def activate(self, request, queryset):
        self.message_user(request, f"Activated {queryset.update(state=RemoteCI.State.ACTIVE)} remoteci(s).")

    @admin.action(description="Deactivate the selected remotecis")
    def deactivate(self, request, queryset):
        self.message_user(request, f"Deactivated {queryset.update(state=RemoteCI.State.INACTIVE)} remoteci(s).")
