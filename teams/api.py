"""The API of teams, users, remotecis and the caller's identity."""

from django.contrib.auth.hashers import make_password
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from dciserver.api.exceptions import NotFound
from dciserver.api.filters import ActiveFilter, DCIFilterSet
from dciserver.api.query import Embed
from dciserver.api.schema import ERRORS, ETAG_HEADERS, WRITE_ERRORS, one_envelope, sublist_schema
from dciserver.api.serializers import (
    ActiveField,
    DCIModelSerializer,
    JSONObjectField,
    ScopedRelatedField,
    StringField,
)
from dciserver.api.viewsets import DCIViewSet, request_etag
from teams import services
from teams.models import ADMIN_TEAM_NAME, Agent, Feeder, RemoteCI, Team, User

# Serializers ----------------------------------------------------------------


class TeamSerializer(DCIModelSerializer):
    class Meta:
        model = Team
        fields = (
            "id",
            "name",
            "has_pre_release_access",
            "external",
            "country",
            "state",
            "created_at",
            "updated_at",
            "etag",
        )
        read_only_fields = ("updated_at", "etag")


class UserSerializer(DCIModelSerializer):
    password = StringField(write_only=True, max_length=1024, style={"input_type": "password"})
    team_id = ScopedRelatedField(source="team", queryset=Team.objects.all(), required=False, allow_null=True)

    class Meta:
        model = User
        fields = (
            "id",
            "name",
            "password",
            "role",
            "team_id",
            "email",
            "fullname",
            "state",
            "created_at",
            "updated_at",
            "etag",
        )
        read_only_fields = ("updated_at", "etag")

    def validate_password(self, value):
        return make_password(value)


class RemoteCISerializer(DCIModelSerializer):
    team_id = ScopedRelatedField(source="team", queryset=Team.objects.all(), required=False)
    active = ActiveField()
    data = JSONObjectField(required=False)

    class Meta:
        model = RemoteCI
        fields = ("id", "name", "team_id", "data", "public", "active", "state", "created_at", "updated_at", "etag")
        read_only_fields = ("updated_at", "etag")


class FeederSerializer(DCIModelSerializer):
    team_id = ScopedRelatedField(source="team", queryset=Team.objects.all())
    data = JSONObjectField(required=False)

    class Meta:
        model = Feeder
        fields = ("id", "name", "team_id", "data", "state", "created_at", "updated_at", "etag", "api_secret")
        read_only_fields = ("updated_at", "etag", "api_secret")


class RemoteCIWithSecretSerializer(RemoteCISerializer):
    """A remoteci as ``/remotecis`` shows it to its team and super admins: with the secret its
    signatures are made with (SPEC §10). Inside another resource (a job's ``remoteci``) it is
    ``RemoteCISerializer``, without it."""

    class Meta(RemoteCISerializer.Meta):
        fields = (*RemoteCISerializer.Meta.fields, "api_secret")
        read_only_fields = (*RemoteCISerializer.Meta.read_only_fields, "api_secret")


# Filters ----------------------------------------------------------------------


class TeamFilter(DCIFilterSet):
    class Meta:
        model = Team
        fields = ["name", "has_pre_release_access", "external", "country"]


class UserFilter(DCIFilterSet):
    class Meta:
        model = User
        fields = ["name", "role", "team_id", "email"]


class FeederFilter(DCIFilterSet):
    class Meta:
        model = Feeder
        fields = ["name", "team_id"]


class RemoteCIFilter(DCIFilterSet):
    active = ActiveFilter()

    class Meta:
        model = RemoteCI
        fields = ["name", "team_id"]


# Viewsets ---------------------------------------------------------------------


class TeamViewSet(DCIViewSet):
    """Teams: super admins create and delete; a team admin may rename their own team."""

    model = Team
    serializer_class = TeamSerializer
    singular, plural = "team", "teams"
    sort_fields = ("created_at", "updated_at", "name")
    filterset_class = TeamFilter
    lookup_by_name = True

    def check_create(self, user, data):
        if not user.is_super_admin:
            self.deny("Only super admins create teams.")

    def check_update(self, user, instance, data):
        if not user.is_admin_of(instance.id):
            self.deny("Only the team's admins may change it.")
        if instance.name == ADMIN_TEAM_NAME and data.get("name", ADMIN_TEAM_NAME) != ADMIN_TEAM_NAME:
            self.deny("The admin team cannot be renamed.")

    def writable_fields(self, user, instance):
        # Pre-release access is granted by super admins, not taken by a team's admins (nor is the
        # team's external status theirs to change).
        if user.is_super_admin:
            return None
        return {n for n in TeamSerializer.Meta.fields if n not in ("has_pre_release_access", "external")}

    def check_destroy(self, user, instance):
        if not user.is_super_admin:
            self.deny("Only super admins delete teams.")
        if instance.name == ADMIN_TEAM_NAME:
            self.deny("The admin team cannot be deleted.")

    def perform_destroy(self, instance, etag):
        services.team_archive(team=instance, etag=etag)

    @sublist_schema(RemoteCISerializer, "remotecis")
    @action(detail=True, methods=["get"])
    def remotecis(self, request, pk=None):
        team = self.get_object()
        return self.sublist(RemoteCIViewSet, team=team)

    @sublist_schema(UserSerializer, "users")
    @action(detail=True, methods=["get"])
    def users(self, request, pk=None):
        team = self.get_object()
        return self.sublist(UserViewSet, team=team)


class UserViewSet(DCIViewSet):
    """Users: super admins anywhere, team admins inside their team, everyone their own password."""

    model = User
    serializer_class = UserSerializer
    singular, plural = "user", "users"
    sort_fields = ("created_at", "updated_at", "name", "role")
    filterset_class = UserFilter
    embeds = {"team": Embed("team", TeamSerializer)}
    lookup_by_name = True

    SELF_SERVICE_FIELDS = {"password", "email", "fullname"}

    def check_create(self, user, data):
        if user.is_super_admin:
            return
        if not user.is_team_admin:
            self.deny("Only admins create users.")
        data.setdefault("team", user.team)
        if data["team"] is None or data["team"].id != user.team_id:
            self.deny("A team admin creates users in their own team only.")

    def check_update(self, user, instance, data):
        if user.is_super_admin or (user.is_team_admin and instance.team_id == user.team_id) or instance.id == user.id:
            return
        self.deny("You may not change this user.")

    def writable_fields(self, user, instance):
        if user.is_super_admin:
            return None
        if user.is_team_admin and instance.team_id == user.team_id:
            # Everything but the team: a team admin does not move users out of their team.
            return {name for name in UserSerializer.Meta.fields if name != "team_id"}
        return self.SELF_SERVICE_FIELDS

    def check_destroy(self, user, instance):
        if instance.id == user.id:
            self.deny("You cannot delete yourself.")
        if not (user.is_super_admin or (user.is_team_admin and instance.team_id == user.team_id)):
            self.deny("Only admins delete users.")

    @extend_schema(
        methods=["GET"],
        parameters=[OpenApiParameter("embed", str, description="Comma list of related objects to nest.")],
        responses={200: one_envelope(UserSerializer, "user"), 304: OpenApiResponse(None), **ERRORS},
    )
    @extend_schema(
        methods=["PUT"],
        parameters=ETAG_HEADERS,
        responses={
            204: OpenApiResponse(None, description="Done; the new etag is in the ETag header"),
            **ERRORS,
            412: WRITE_ERRORS[412],
        },
    )
    @action(detail=False, methods=["get", "put"])
    def me(self, request):
        """``GET /users/me`` and ``PUT /users/me`` (a user changes their own password)."""
        if request.method != "PUT":
            # GET and HEAD: the caller's own row, served like GET /users/<id> (embeds, If-None-Match).
            self.kwargs[self.lookup_field] = str(request.user.pk)
            return self.retrieve(request)
        me = self.get_queryset().filter(pk=request.user.pk).first()
        if me is None:  # a caller who is no user (a signing remoteci)
            raise NotFound()
        etag = request_etag(request)
        serializer = self.get_serializer(me, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        # The self-service route changes the self-service fields only, whoever calls it.
        self.refuse_unchangeable(me, request.data, serializer, self.SELF_SERVICE_FIELDS)
        changes = {k: v for k, v in serializer.validated_data.items() if k in self.SELF_SERVICE_FIELDS}
        fresh = me.update_with_etag(etag, changes)
        return self.updated_response(me.pk, fresh)


class SigningSecret:
    """``PUT /<agents>/<id>/api_secret`` (If-Match): a new secret, answered with the row; the old
    secret is refused from now on (SPEC §10). Who may: ``check_rotate``."""

    @extend_schema(
        request=None,
        parameters=ETAG_HEADERS,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description='{"<agent>": the row with its new api_secret}'),
            **ERRORS,
            **WRITE_ERRORS,
        },
    )
    @action(detail=True, methods=["put"], url_path="api_secret")
    def api_secret(self, request, pk=None):
        agent = self.get_object()
        self.check_rotate(request.user, agent)
        services.api_secret_rotate(agent=agent, etag=request_etag(request))
        return self.one_response(agent)

    def check_rotate(self, user, agent):
        self.check_update(user, agent, {})


class FeederViewSet(SigningSecret, DCIViewSet):
    """Feeders: super admins manage them; their team's members read them, with their secret, and
    its admins rotate it."""

    model = Feeder
    serializer_class = FeederSerializer
    singular, plural = "feeder", "feeders"
    sort_fields = ("created_at", "updated_at", "name")
    filterset_class = FeederFilter
    embeds = {"team": Embed("team", TeamSerializer)}
    lookup_by_name = True

    def check_create(self, user, data):
        if not user.is_super_admin:
            self.deny("Only super admins manage feeders.")

    def check_update(self, user, instance, data):
        self.check_create(user, data)

    def check_destroy(self, user, instance):
        self.check_create(user, None)

    def check_rotate(self, user, agent):
        if not user.is_admin_of(agent.team_id):
            self.deny("Only the team's admins rotate a feeder's secret.")


class RemoteCIViewSet(SigningSecret, DCIViewSet):
    """Remote CI agents: managed by the members of the owning team and by super admins."""

    model = RemoteCI
    serializer_class = RemoteCIWithSecretSerializer
    singular, plural = "remoteci", "remotecis"
    sort_fields = ("created_at", "updated_at", "name")
    filterset_class = RemoteCIFilter
    embeds = {"team": Embed("team", TeamSerializer)}
    lookup_by_name = True

    def check_create(self, user, data):
        if isinstance(user, Agent):
            self.deny("Remotecis are created by users.")
        data.setdefault("team", user.team)
        if data["team"] is None:
            self.deny("A remoteci belongs to a team.")
        if not user.is_super_admin and data["team"].id != user.team_id:
            self.deny("You create remotecis in your own team only.")

    def writable_fields(self, user, instance):
        # Only super admins move a remoteci to another team.
        return None if user.is_super_admin else {n for n in RemoteCISerializer.Meta.fields if n != "team_id"}

    def perform_update(self, instance, changes, etag):
        return services.remoteci_update(remoteci=instance, etag=etag, changes=changes)

    @extend_schema(
        parameters=[OpenApiParameter("keys", str, description="Comma list of the keys to return (default: all).")],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The data, a bare object"), **ERRORS},
    )
    @action(detail=True, methods=["get"])
    def data(self, request, pk=None):
        """``GET /remotecis/<id>/data?keys=a,b``: the remoteci's data, or only those keys.

        A bare object, as the 2016 server answered and its client reads it.
        """
        remoteci = self.get_object()
        keys = [k for k in request.query_params.get("keys", "").split(",") if k]
        data = remoteci.data or {}
        if keys:
            data = {key: data[key] for key in keys if key in data}
        return Response(data)


IDENTITY = inline_serializer(
    "Identity",
    {
        "identity": inline_serializer(
            "IdentityBody",
            {
                "id": serializers.UUIDField(),
                "name": serializers.CharField(),
                "email": serializers.CharField(),
                "fullname": serializers.CharField(),
                "role": serializers.CharField(),
                "team_id": serializers.UUIDField(allow_null=True),
                "team_name": serializers.CharField(allow_null=True),
                "is_super_admin": serializers.BooleanField(),
                "teams": serializers.DictField(),
            },
        )
    },
)


class IdentityView(APIView):
    """``GET /identity``: who the caller is, in the shape old and modern clients read."""

    @extend_schema(responses={200: IDENTITY, **ERRORS})
    def get(self, request):
        user = request.user
        if isinstance(user, Agent):
            # A signing agent, as the modern server shows one (reference §1.4): its team in ``teams``.
            team = user.team
            teams = {
                str(team.id): {
                    "team_name": team.name,
                    "state": team.state,
                    "has_pre_release_access": team.has_pre_release_access,
                }
            }
            identity = {"id": str(user.row.id), "name": user.row.name, "etag": None, "teams": teams}
            return Response({"identity": identity})
        teams = {}
        if user.team_id:
            teams[str(user.team_id)] = {"team_name": user.team.name, "id": str(user.team_id), "role": user.role}
        identity = {
            "id": str(user.id),
            "name": user.name,
            "email": user.email,
            "fullname": user.fullname,
            "role": user.role,
            "team_id": str(user.team_id) if user.team_id else None,
            "team_name": user.team.name if user.team_id else None,
            "is_super_admin": user.is_super_admin,
            "teams": teams,
        }
        return Response({"identity": identity})
