"""``GET /audits``: the audit log, for super admins and for team admins (their team only)."""

from rest_framework import serializers

from dciserver.api.filters import DCIFilterSet
from dciserver.api.viewsets import DCIViewSet
from dciserver.models import AuditLog


class AuditLogSerializer(serializers.ModelSerializer):
    user_id = serializers.UUIDField(read_only=True)
    team_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = AuditLog
        fields = (
            "id",
            "created_at",
            "user_id",
            "user_name",
            "team_id",
            "action",
            "resource",
            "object_id",
            "method",
            "path",
            "status_code",
        )
        read_only_fields = fields


class AuditLogFilter(DCIFilterSet):
    class Meta:
        model = AuditLog
        fields = ["user_id", "team_id", "user_name", "action", "resource", "object_id", "method"]


class AuditLogViewSet(DCIViewSet):
    model = AuditLog
    serializer_class = AuditLogSerializer
    singular, plural = "audit", "audits"
    http_method_names = ["get", "head", "options"]
    sort_fields = ("created_at", "action", "resource")
    filterset_class = AuditLogFilter

    # Checked in the actions, not in initial(): a method the route does not serve is a 405 for everyone.
    def list(self, request, *args, **kwargs):
        self.check_admin(request.user)
        return super().list(request, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        self.check_admin(request.user)
        return super().retrieve(request, *args, **kwargs)

    def check_admin(self, user):
        if not (user.is_super_admin or user.is_team_admin):
            self.deny("The audit log is for admins.")
