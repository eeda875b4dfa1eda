from django.db import connection
from django.http import JsonResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response


@extend_schema(
    responses=inline_serializer("ApiRoot", {"_status": serializers.CharField(), "message": serializers.CharField()})
)
@api_view(["GET"])
@permission_classes([AllowAny])
def api_root(request):
    return Response({"_status": "OK", "message": "Distributed CI."})


def healthz(request):
    """200 when the database answers, 503 otherwise (for load balancers and probes)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        connection.close_if_unusable_or_obsolete()
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok", "database": "up"})
