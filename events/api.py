"""The API of events out (SPEC §17): a team's webhooks, their deliveries and attempts, redelivery."""

from django.db.models import Q
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action

from dciserver.api.filters import DCIFilterSet
from dciserver.api.query import Embed
from dciserver.api.schema import ERRORS, ETAG_HEADERS, WRITE_ERRORS, sublist_schema
from dciserver.api.serializers import DCIModelSerializer, ScopedRelatedField, StorableJSONField
from dciserver.api.viewsets import DCIViewSet, request_etag
from events import services
from events.models import SUBSCRIBABLE, Delivery, DeliveryAttempt, Event, Webhook
from teams.models import Team


class WebhookSerializer(DCIModelSerializer):
    team_id = ScopedRelatedField(source="team", queryset=Team.objects.all(), required=False)
    kinds = StorableJSONField(help_text=f"What it is sent: some of {', '.join(SUBSCRIBABLE)}.")

    class Meta:
        model = Webhook
        fields = ("id", "name", "url", "kinds", "team_id", "state", "created_at", "updated_at", "etag")
        read_only_fields = ("updated_at", "etag")

    def validate_kinds(self, value):
        if not isinstance(value, list) or not value or not all(isinstance(kind, str) for kind in value):
            raise serializers.ValidationError(f"A non-empty list of event kinds: {', '.join(SUBSCRIBABLE)}.")
        unknown = sorted(set(value) - set(SUBSCRIBABLE))
        if unknown:
            raise serializers.ValidationError(f"Unknown kinds {unknown}: choose among {', '.join(SUBSCRIBABLE)}.")
        return sorted(set(value))


class WebhookWithSecretSerializer(WebhookSerializer):
    """A webhook as its creation and its secret's rotation answer it: the only times the secret
    is shown."""

    class Meta(WebhookSerializer.Meta):
        fields = (*WebhookSerializer.Meta.fields, "secret")
        read_only_fields = (*WebhookSerializer.Meta.read_only_fields, "secret")


class EventSerializer(DCIModelSerializer):
    # Sequence ids are numbers on the wire (as a test case's).
    id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Event
        fields = ("id", "kind", "job_id", "team_id", "status", "regressions", "created_at", "dispatched_at")


class DeliverySerializer(DCIModelSerializer):
    id = serializers.IntegerField(read_only=True)
    event_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Delivery
        fields = (
            "id",
            "event_id",
            "channel",
            "webhook_id",
            "user_id",
            "team_id",
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
        )


class DeliveryAttemptSerializer(DCIModelSerializer):
    id = serializers.IntegerField(read_only=True)
    delivery_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = DeliveryAttempt
        fields = ("id", "delivery_id", "number", "started_at", "duration_ms", "status_code", "error", "worker")


class WebhookFilter(DCIFilterSet):
    class Meta:
        model = Webhook
        fields = ["name", "url", "team_id"]


class EventFilter(DCIFilterSet):
    class Meta:
        model = Event
        fields = ["kind", "job_id", "status"]


class DeliveryFilter(DCIFilterSet):
    class Meta:
        model = Delivery
        fields = ["status", "channel", "event_id", "webhook_id", "user_id"]


class DeliveryAttemptFilter(DCIFilterSet):
    class Meta:
        model = DeliveryAttempt
        fields = ["delivery_id", "status_code"]


class EventViewSet(DCIViewSet):
    """What happened to the team's jobs, as told to its webhooks, followers and AMQP (``/events``,
    newest first; ``/events/<id>/deliveries``)."""

    model = Event
    serializer_class = EventSerializer
    singular, plural = "event", "events"
    http_method_names = ["get", "head", "options"]
    sort_fields = ("id", "created_at")
    default_sort = "-id"
    filterset_class = EventFilter

    @sublist_schema(DeliverySerializer, "deliveries")
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """``GET /events/<id>/deliveries``: one per destination."""
        event = self.get_object()
        return self.sublist(DeliveryViewSet, chosen=Q(event=event))


class DeliveryAttemptViewSet(DCIViewSet):
    """A delivery's attempts, listed by ``/deliveries/<id>/attempts``."""

    model = DeliveryAttempt
    serializer_class = DeliveryAttemptSerializer
    singular, plural = "attempt", "attempts"
    http_method_names = ["get", "head", "options"]
    sort_fields = ("number", "started_at")
    default_sort = "number"
    filterset_class = DeliveryAttemptFilter


class DeliveryViewSet(DCIViewSet):
    """Deliveries of the team's events (``/deliveries``; a webhook's: ``/webhooks/<id>/deliveries``),
    their attempts, and a manual redelivery."""

    model = Delivery
    serializer_class = DeliverySerializer
    singular, plural = "delivery", "deliveries"
    http_method_names = ["get", "post", "head", "options"]
    sort_fields = ("id", "created_at", "updated_at", "next_try_at")
    default_sort = "-id"
    filterset_class = DeliveryFilter
    embeds = {"event": Embed("event", EventSerializer), "webhook": Embed("webhook", WebhookSerializer)}

    def create(self, request, *args, **kwargs):
        self.deny("Deliveries are made by events.")

    @sublist_schema(DeliveryAttemptSerializer, "attempts")
    @action(detail=True, methods=["get"])
    def attempts(self, request, pk=None):
        """``GET /deliveries/<id>/attempts``: each try, in order."""
        delivery = self.get_object()
        return self.sublist(DeliveryAttemptViewSet, chosen=Q(delivery=delivery))

    @extend_schema(request=None, responses={202: OpenApiResponse(DeliverySerializer), **ERRORS})
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        """``POST /deliveries/<id>/redeliver``: send it again now, with a new round of attempts
        (the team's admins and super admins)."""
        delivery = self.get_object()
        if not request.user.is_admin_of(delivery.team_id):
            self.deny("Only the team's admins redeliver.")
        services.delivery_redeliver(delivery=delivery)
        return self.one_response(delivery, 202)


class WebhookViewSet(DCIViewSet):
    """A team's webhooks: its admins and super admins manage them; its members read them (never
    the secret, shown once)."""

    model = Webhook
    serializer_class = WebhookSerializer
    singular, plural = "webhook", "webhooks"
    sort_fields = ("created_at", "updated_at", "name")
    filterset_class = WebhookFilter
    embeds = {}
    lookup_by_name = True

    def check_create(self, user, data):
        data.setdefault("team", user.team)
        if data["team"] is None:
            self.deny("A webhook belongs to a team.")
        if not user.is_admin_of(data["team"].id):
            self.deny("Only the team's admins manage its webhooks.")

    def check_update(self, user, instance, data):
        if not user.is_admin_of(instance.team_id):
            self.deny("Only the team's admins manage its webhooks.")

    def check_destroy(self, user, instance):
        self.check_update(user, instance, None)

    def writable_fields(self, user, instance):
        return {"name", "url", "kinds", "state"}

    def perform_create(self, serializer):
        webhook = serializer.save()
        return webhook, self.read(webhook.pk, WebhookWithSecretSerializer, Webhook)

    @extend_schema(
        request=None,
        parameters=ETAG_HEADERS,
        responses={200: OpenApiResponse(WebhookWithSecretSerializer), **ERRORS, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["put"])
    def secret(self, request, pk=None):
        """``PUT /webhooks/<id>/secret`` (If-Match): a new secret, shown in the answer, and never again."""
        webhook = self.get_object()
        self.check_update(request.user, webhook, {})
        services.webhook_secret_rotate(webhook=webhook, etag=request_etag(request))
        return self.one_response(webhook, data=self.read(webhook.pk, WebhookWithSecretSerializer, Webhook))

    @sublist_schema(DeliverySerializer, "deliveries")
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """``GET /webhooks/<id>/deliveries``: its delivery log, newest first."""
        webhook = self.get_object()
        return self.sublist(DeliveryViewSet, chosen=Q(webhook=webhook))
