"""People following jobs (SPEC §17), at the 2025 server's routes: a topic's (``/topics/<id>/notifications``)
and a remoteci's (``/remotecis/<id>/users``). A follower is mailed when one of their jobs fails."""

import uuid

from django.db.models import Q
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from dciserver.api.exceptions import NotFound
from dciserver.api.schema import ERRORS, sublist_schema
from dciserver.api.viewsets import DCIViewSet
from events import services
from events.models import RemoteciFollower, TopicFollower
from jobs.api.catalogue import TopicSerializer, TopicViewSet
from jobs.models import Topic
from teams.api import UserSerializer, UserViewSet
from teams.models import Agent, RemoteCI


class TopicFollowerSerializer(serializers.Serializer):
    """What following a topic answers: the 2025 server's row of its join table."""

    user_id = serializers.UUIDField(read_only=True)
    topic_id = serializers.UUIDField(read_only=True)


class RemoteciFollowerSerializer(serializers.Serializer):
    user_id = serializers.UUIDField(read_only=True)
    remoteci_id = serializers.UUIDField(read_only=True)


UNFOLLOWED = {204: OpenApiResponse(None, description="Not following any more"), **ERRORS}


class Following(DCIViewSet):
    """What the follow routes share: the followed row must be one the caller reads, and the
    follower is the caller, a person (agents run jobs; nobody reads their mail)."""

    http_method_names = ["get", "post", "delete", "head", "options"]

    def followed(self, model):
        row = self.visible(model, self.kwargs["pk"])
        self.audited_object_id = row.pk
        return row

    def follower(self):
        if isinstance(self.request.user, Agent):
            self.deny("Remotecis and feeders follow no jobs: people do.")
        return self.request.user

    def followers(self, follows):
        """The users among ``follows``' (followers of one row), as ``/users`` shows them to the caller."""
        return self.sublist(UserViewSet, chosen=Q(pk__in=follows.values("user_id")))


class TopicFollowerViewSet(Following):
    """``/topics/<id>/notifications``: who is mailed about a topic's failing jobs."""

    model = TopicFollower
    serializer_class = TopicFollowerSerializer
    singular, plural = "topic_follower", "topic_followers"

    @extend_schema(request=None, responses={201: TopicFollowerSerializer, **ERRORS})
    def follow(self, request, *args, **kwargs):
        """``POST /topics/<id>/notifications``: the caller follows the topic (again: still once)."""
        follow = services.topic_follow(topic=self.followed(Topic), user=self.follower())
        return Response(TopicFollowerSerializer(follow).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=UNFOLLOWED)
    def unfollow(self, request, *args, **kwargs):
        """``DELETE /topics/<id>/notifications``: the caller stops following it (following or not,
        as the 2025 server)."""
        services.topic_unfollow(topic=self.followed(Topic), user=self.follower())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @sublist_schema(UserSerializer, "users")
    def users(self, request, *args, **kwargs):
        """``GET /topics/<id>/notifications/users``: its followers the caller may see (the 2025
        server showed them to super admins only; the users' own scope is as safe)."""
        return self.followers(TopicFollower.objects.filter(topic=self.followed(Topic)))

    @sublist_schema(TopicSerializer, "topics")
    def topics(self, request, *args, **kwargs):
        """``GET /topics/notifications``: the topics the caller follows (among those they still read)."""
        follows = TopicFollower.objects.filter(user_id=request.user.pk)
        return self.sublist(TopicViewSet, chosen=Q(pk__in=follows.values("topic_id")))


class RemoteciFollowerViewSet(Following):
    """``/remotecis/<id>/users``: who is mailed about a remoteci's failing jobs."""

    model = RemoteciFollower
    serializer_class = RemoteciFollowerSerializer
    singular, plural = "remoteci_follower", "remoteci_followers"

    @extend_schema(request=None, responses={201: RemoteciFollowerSerializer, **ERRORS})
    def follow(self, request, *args, **kwargs):
        """``POST /remotecis/<id>/users``: the caller follows the remoteci. A body's ``user_id`` is
        ignored, as the 2025 server does: nobody subscribes someone else's mailbox."""
        follow = services.remoteci_follow(remoteci=self.followed(RemoteCI), user=self.follower())
        return Response(RemoteciFollowerSerializer(follow).data, status=status.HTTP_201_CREATED)

    @sublist_schema(UserSerializer, "users")
    def users(self, request, *args, **kwargs):
        """``GET /remotecis/<id>/users``: its followers the caller may see."""
        return self.followers(RemoteciFollower.objects.filter(remoteci=self.followed(RemoteCI)))

    @extend_schema(request=None, responses=UNFOLLOWED)
    def unfollow(self, request, *args, **kwargs):
        """``DELETE /remotecis/<id>/users/<user_id>``: a user stops following it; the admins of its
        team stop anyone (a departed colleague's mailbox)."""
        remoteci, user = self.followed(RemoteCI), self.follower()
        try:
            user_id = uuid.UUID(self.kwargs["user_id"])
        except ValueError:
            raise NotFound() from None
        if user_id != user.pk and not user.is_admin_of(remoteci.team_id):
            self.deny("You stop your own following only; the team's admins stop anyone's.")
        if not services.remoteci_unfollow(remoteci=remoteci, user_id=user_id):
            raise NotFound(f"User {user_id} does not follow remoteci {remoteci.pk}.")
        return Response(status=status.HTTP_204_NO_CONTENT)
