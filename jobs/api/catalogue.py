"""The API of topics, their team subscriptions, components and job definitions."""

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from dciserver.api.exceptions import NotFound
from dciserver.api.filters import ActiveFilter, DCIFilterSet
from dciserver.api.query import Embed
from dciserver.api.schema import ERRORS, sublist_schema
from dciserver.api.serializers import (
    ActiveField,
    DCIModelSerializer,
    ScopedRelatedField,
    StorableJSONField,
)
from dciserver.api.viewsets import DCIViewSet
from jobs import services
from jobs.models import Component, JobDefinition, Topic
from teams.api import TeamSerializer, TeamViewSet
from teams.models import Team


class StringListField(serializers.ListField):
    child = serializers.CharField(max_length=255)


class TopicSerializer(DCIModelSerializer):
    component_types = StringListField(required=False)

    class Meta:
        model = Topic
        fields = ("id", "name", "component_types", "state", "created_at", "updated_at", "etag")
        read_only_fields = ("updated_at", "etag")


class ComponentSerializer(DCIModelSerializer):
    topic_id = ScopedRelatedField(source="topic", queryset=Topic.objects.all())
    data = StorableJSONField(required=False)

    class Meta:
        model = Component
        fields = (
            "id",
            "name",
            "type",
            "topic_id",
            "canonical_project_name",
            "title",
            "message",
            "url",
            "data",
            "sha",
            "state",
            "created_at",
            "updated_at",
            "etag",
        )
        read_only_fields = ("updated_at", "etag")


class JobDefinitionSerializer(DCIModelSerializer):
    topic_id = ScopedRelatedField(source="topic", queryset=Topic.objects.all())
    component_types = StringListField(required=False)
    priority = serializers.IntegerField(min_value=0, max_value=1000, required=False)
    active = ActiveField()

    class Meta:
        model = JobDefinition
        fields = (
            "id",
            "name",
            "topic_id",
            "priority",
            "component_types",
            "comment",
            "active",
            "state",
            "created_at",
            "updated_at",
            "etag",
        )
        read_only_fields = ("updated_at", "etag")


class SuperAdminWrites:
    """Catalogue rows: members read them through their subscriptions; super admins write."""

    delete_requires_etag = False

    def check_create(self, user, data):
        if not user.is_super_admin:
            self.deny("Only super admins manage the catalogue.")

    def check_update(self, user, instance, data):
        self.check_create(user, data)

    def check_destroy(self, user, instance):
        self.check_create(user, None)


class SubscriptionSerializer(serializers.Serializer):
    team_id = ScopedRelatedField(source="team", queryset=Team.objects.all())


class TopicFilter(DCIFilterSet):
    class Meta:
        model = Topic
        fields = ["name"]


class ComponentFilter(DCIFilterSet):
    class Meta:
        model = Component
        fields = ["name", "type", "topic_id", "canonical_project_name", "title", "sha"]


class JobDefinitionFilter(DCIFilterSet):
    active = ActiveFilter()

    class Meta:
        model = JobDefinition
        fields = ["name", "topic_id", "priority"]


class TopicViewSet(SuperAdminWrites, DCIViewSet):
    model = Topic
    serializer_class = TopicSerializer
    singular, plural = "topic", "topics"
    sort_fields = ("created_at", "updated_at", "name")
    filterset_class = TopicFilter
    lookup_by_name = True

    @sublist_schema(TeamSerializer, "teams", methods=["GET"])
    @extend_schema(
        methods=["POST"],
        request=SubscriptionSerializer,
        responses={
            201: inline_serializer(
                "Subscription",
                {"topic_id": serializers.UUIDField(), "team_id": serializers.UUIDField(), "team": TeamSerializer()},
            ),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["get", "post"])
    def teams(self, request, pk=None):
        """``GET /topics/<id>/teams`` lists the subscribed teams; ``POST {team_id}`` subscribes one."""
        topic = self.get_object()
        if request.method != "POST":  # GET and HEAD (DRF routes HEAD to the GET action)
            return self.sublist(TeamViewSet, topics=topic)
        self.check_create(request.user, None)
        serializer = SubscriptionSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        team = serializer.validated_data["team"]
        services.topic_subscribe(topic=topic, team=team)
        return Response(
            {"topic_id": str(topic.id), "team_id": str(team.id), "team": self.read(team.pk, TeamSerializer, Team)},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses={204: OpenApiResponse(None, description="Unsubscribed"), **ERRORS})
    @action(detail=True, methods=["delete"], url_path=r"teams/(?P<team_id>[^/]+)")
    def unsubscribe(self, request, pk=None, team_id=None):
        """``DELETE /topics/<id>/teams/<team_id>``."""
        topic = self.get_object()
        self.check_create(request.user, None)
        if not services.topic_unsubscribe(topic=topic, team_id=_uuid_or_404(team_id)):
            raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @sublist_schema(ComponentSerializer, "components")
    @action(detail=True, methods=["get"])
    def components(self, request, pk=None):
        return self.sublist(ComponentViewSet, topic=self.get_object())

    @sublist_schema(JobDefinitionSerializer, "jobdefinitions")
    @action(detail=True, methods=["get"])
    def jobdefinitions(self, request, pk=None):
        return self.sublist(JobDefinitionViewSet, topic=self.get_object())


def _uuid_or_404(value):
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound() from None


class ComponentViewSet(SuperAdminWrites, DCIViewSet):
    model = Component
    serializer_class = ComponentSerializer
    singular, plural = "component", "components"
    sort_fields = ("created_at", "updated_at", "name", "type")
    filterset_class = ComponentFilter
    embeds = {"topic": Embed("topic", TopicSerializer)}
    lookup_by_name = True


class JobDefinitionViewSet(SuperAdminWrites, DCIViewSet):
    model = JobDefinition
    serializer_class = JobDefinitionSerializer
    singular, plural = "jobdefinition", "jobdefinitions"
    sort_fields = ("created_at", "updated_at", "name", "priority")
    filterset_class = JobDefinitionFilter
    embeds = {"topic": Embed("topic", TopicSerializer)}
    lookup_by_name = True
