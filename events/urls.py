"""The routes of people following jobs, under topics and remotecis (they know nothing of events).

Included before the router: ``/topics/notifications`` would otherwise be ``/topics/<id>`` of a
topic named "notifications"."""

from django.urls import re_path

from events.follows_api import RemoteciFollowerViewSet, TopicFollowerViewSet

urlpatterns = [
    re_path(r"^topics/notifications/?$", TopicFollowerViewSet.as_view({"get": "topics"}), name="topics-followed"),
    re_path(
        r"^topics/(?P<pk>[^/]+)/notifications/?$",
        TopicFollowerViewSet.as_view({"post": "follow", "delete": "unfollow"}),
        name="topic-notifications",
    ),
    re_path(
        r"^topics/(?P<pk>[^/]+)/notifications/users/?$",
        TopicFollowerViewSet.as_view({"get": "users"}),
        name="topic-followers",
    ),
    re_path(
        r"^remotecis/(?P<pk>[^/]+)/users/?$",
        RemoteciFollowerViewSet.as_view({"get": "users", "post": "follow"}),
        name="remoteci-followers",
    ),
    re_path(
        r"^remotecis/(?P<pk>[^/]+)/users/(?P<user_id>[^/]+)/?$",
        RemoteciFollowerViewSet.as_view({"delete": "unfollow"}),
        name="remoteci-follower",
    ),
]
