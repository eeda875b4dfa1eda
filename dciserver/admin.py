from django.contrib import admin
from django.contrib.auth.models import Group

from dciserver.models import AuditLog
from dciserver.paginators import CappedCountPaginator

# DCI users have roles and teams, not Django groups (teams.User has no groups relation):
# the stock Group page would only invite setting up permissions that nothing reads.
admin.site.unregister(Group)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows shown and never added, changed or deleted by hand (big tables: a capped count)."""

    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    """The audit log is read-only, in the admin as in the API."""

    list_display = ("created_at", "user_name", "action", "resource", "object_id", "status_code")
    list_filter = ("action", "resource", "method")
    search_fields = ("=id", "=object_id", "user_name", "path")
    ordering = ("-created_at",)
