"""The API of topics, their team subscriptions, components and job definitions."""

import uuid

from django.db.models import Q
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from dciserver.api.exceptions import NotFound
from dciserver.api.filters import ActiveFilter, DCIFilterSet, TagFilter
from dciserver.api.query import Embed
from dciserver.api.schema import ERRORS, WRITE_ERRORS, sublist_schema
from dciserver.api.serializers import (
    ActiveField,
    DCIModelSerializer,
    JSONObjectField,
    ScopedRelatedField,
    StorableJSONField,
    StringField,
    TagsField,
)
from dciserver.api.viewsets import DCIViewSet
from jobs import services
from jobs.models import Component, JobDefinition, Product, Topic
from teams.api import TeamSerializer, TeamViewSet
from teams.models import Team


class StringListField(serializers.ListField):
    child = serializers.CharField(max_length=255)


class ComponentTypesField(StringListField):
    """Component types, lower-cased (SPEC §11): ``OCP`` and ``ocp`` are one type."""

    def to_internal_value(self, data):
        return [value.lower() for value in super().to_internal_value(data)]


class TopicSerializer(DCIModelSerializer):
    component_types = ComponentTypesField(required=False)
    component_types_optional = ComponentTypesField(required=False)
    product_id = ScopedRelatedField(source="product", queryset=Product.objects.all(), required=False, allow_null=True)
    next_topic_id = ScopedRelatedField(
        source="next_topic", queryset=Topic.objects.all(), required=False, allow_null=True
    )
    data = JSONObjectField(required=False)

    class Meta:
        model = Topic
        fields = (
            "id",
            "name",
            "component_types",
            "component_types_optional",
            "product_id",
            "export_control",
            "next_topic_id",
            "data",
            "state",
            "created_at",
            "updated_at",
            "etag",
        )
        read_only_fields = ("updated_at", "etag")


class ProductSerializer(DCIModelSerializer):
    # Upper-cased; the name upper-cased where none is given.
    label = StringField(required=False, max_length=255)
    description = StringField(required=False, allow_blank=True, max_length=65536)

    class Meta:
        model = Product
        fields = ("id", "name", "label", "description", "state", "created_at", "updated_at", "etag")
        read_only_fields = ("updated_at", "etag")

    def validate_label(self, value):
        return value.upper()

    def validate(self, attrs):
        if self.instance is None and not attrs.get("label"):
            attrs["label"] = attrs["name"].upper()
        return attrs


class ComponentSerializer(DCIModelSerializer):
    """A component; a modern client may name it by ``display_name`` alone (``name`` is then the
    display name, and the reverse), and give it to its team (``team_id``)."""

    name = StringField(required=False, max_length=255)
    display_name = StringField(required=False, allow_blank=True, max_length=255)
    topic_id = ScopedRelatedField(source="topic", queryset=Topic.objects.all())
    team_id = ScopedRelatedField(source="team", queryset=Team.objects.all(), required=False, allow_null=True)
    data = StorableJSONField(required=False)
    tags = TagsField(required=False)

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
            "display_name",
            "version",
            "uid",
            "tags",
            "released_at",
            "team_id",
            "state",
            "created_at",
            "updated_at",
            "etag",
        )
        read_only_fields = ("updated_at", "etag")

    def validate_type(self, value):
        return value.lower()

    def validate(self, attrs):
        # One of the names is needed; the model gives the other (Component.save).
        if self.instance is None and not attrs.get("name") and not attrs.get("display_name"):
            raise serializers.ValidationError({"name": ["This field is required (or give display_name)."]})
        return attrs


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
    """Catalogue rows: members read those their team reaches; super admins write them, and feeders
    create and update the resources that say so (``feeder_writes``)."""

    delete_requires_etag = False

    def check_create(self, user, data):
        if not (user.is_super_admin or (getattr(user, "feeds_catalogue", False) and self.action in self.feeder_writes)):
            self.deny("Only super admins manage the catalogue.")

    def check_update(self, user, instance, data):
        self.check_create(user, data)

    def check_destroy(self, user, instance):
        if not user.is_super_admin:
            self.deny("Only super admins manage the catalogue.")


class SubscriptionSerializer(serializers.Serializer):
    team_id = ScopedRelatedField(source="team", queryset=Team.objects.all())


class TopicFilter(DCIFilterSet):
    class Meta:
        model = Topic
        fields = ["name", "product_id", "export_control", "next_topic_id"]


class ProductFilter(DCIFilterSet):
    class Meta:
        model = Product
        fields = ["name", "label"]


class ComponentFilter(DCIFilterSet):
    tags = TagFilter()

    class Meta:
        model = Component
        fields = [
            "name",
            "type",
            "topic_id",
            "canonical_project_name",
            "title",
            "sha",
            "display_name",
            "version",
            "uid",
            "team_id",
        ]


class JobDefinitionFilter(DCIFilterSet):
    active = ActiveFilter()

    class Meta:
        model = JobDefinition
        fields = ["name", "topic_id", "priority"]


class ProductViewSet(SuperAdminWrites, DCIViewSet):
    """Products: super admins write; a team's members read those linked to their team, each with
    the topics they reach (SPEC §11)."""

    model = Product
    serializer_class = ProductSerializer
    singular, plural = "product", "products"
    sort_fields = ("created_at", "updated_at", "name", "label")
    filterset_class = ProductFilter
    embeds = {"topics": Embed("topics", "jobs.api.catalogue.TopicSerializer", many=True, order_by=("name",))}
    inline = ("topics",)
    lookup_by_name = True
    delete_requires_etag = True

    @sublist_schema(TeamSerializer, "teams", methods=["GET"])
    @extend_schema(
        methods=["POST"],
        request=SubscriptionSerializer,
        responses={
            201: inline_serializer(
                "ProductTeam", {"product_id": serializers.UUIDField(), "team_id": serializers.UUIDField()}
            ),
            **ERRORS,
            **WRITE_ERRORS,
        },
    )
    @action(detail=True, methods=["get", "post"])
    def teams(self, request, pk=None):
        """``GET /products/<id>/teams`` lists the linked teams; ``POST {team_id}`` links one. Super admins only."""
        product = self.get_object()
        self.check_create(request.user, None)
        if request.method != "POST":  # GET and HEAD
            return self.sublist(TeamViewSet, products=product)
        serializer = SubscriptionSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        team = serializer.validated_data["team"]
        services.product_link_team(product=product, team=team)
        return Response({"product_id": str(product.id), "team_id": str(team.id)}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: OpenApiResponse(None, description="Unlinked"), **ERRORS})
    @action(detail=True, methods=["delete"], url_path=r"teams/(?P<team_id>[^/]+)")
    def unlink(self, request, pk=None, team_id=None):
        """``DELETE /products/<id>/teams/<team_id>``."""
        product = self.get_object()
        self.check_create(request.user, None)
        if not services.product_unlink_team(product=product, team_id=_uuid_or_404(team_id)):
            raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamProductViewSet(ProductViewSet):
    """``GET /teams/<id>/products`` (jobs.urls): the products linked to a team, as its caller reads them."""

    def list(self, request, *args, **kwargs):
        return self.list_response(Q(teams=self.visible(Team, self.kwargs["pk"])))


class TopicViewSet(SuperAdminWrites, DCIViewSet):
    model = Topic
    # Feeders feed the catalogue (SPEC §10).
    feeder_writes = frozenset({"create", "update", "partial_update"})
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
    """Components: global ones written by super admins and feeders, a team's by its members."""

    model = Component
    # Feeders feed the catalogue (SPEC §10).
    feeder_writes = frozenset({"create", "update", "partial_update"})
    serializer_class = ComponentSerializer
    singular, plural = "component", "components"
    sort_fields = ("created_at", "updated_at", "released_at", "name", "type", "version")
    # The newest release first (SPEC §11); a seed component is released when created.
    default_sort = "-released_at"
    filterset_class = ComponentFilter
    embeds = {"topic": Embed("topic", TopicSerializer), "team": Embed("team", TeamSerializer)}
    lookup_by_name = True

    def check_create(self, user, data):
        refusal = component_write_refusal(user, data.get("team"), self.action in self.feeder_writes)
        if refusal:
            self.deny(refusal)

    def check_update(self, user, instance, data):
        if "team" in data and data["team"] != instance.team and not user.is_super_admin:
            self.deny("Only super admins move a component between teams.")
        self.check_create(user, {"team": instance.team})

    def check_destroy(self, user, instance):
        refusal = component_write_refusal(user, instance.team, feeder_may=False)
        if refusal:
            self.deny(refusal)


def component_write_refusal(user, team, feeder_may):
    """Why ``user`` may not write a component of ``team`` (``None``: a global one), or ``None``
    where they may: a global component is a super admin's (and a feeder's, where ``feeder_may``),
    a team component its team's members' (an agent of the team included, never a feeder)."""
    feeder = getattr(user, "feeds_catalogue", False)
    if team is None:
        if user.is_super_admin or (feeder and feeder_may):
            return None
        return "Only super admins manage the catalogue."
    if feeder or not (user.is_super_admin or user.team_id == team.id):
        return "A team component is written by its team."
    return None


class JobDefinitionViewSet(SuperAdminWrites, DCIViewSet):
    model = JobDefinition
    serializer_class = JobDefinitionSerializer
    singular, plural = "jobdefinition", "jobdefinitions"
    sort_fields = ("created_at", "updated_at", "name", "priority")
    filterset_class = JobDefinitionFilter
    embeds = {"topic": Embed("topic", TopicSerializer)}
    lookup_by_name = True
