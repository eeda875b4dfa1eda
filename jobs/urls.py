"""Routes of the jobs app outside the router: a team's products (teams know nothing of
products), and the job events' routes, whose keys are a number and a cursor (SPEC §13)."""

from django.urls import re_path

from jobs.api.catalogue import TeamProductViewSet
from jobs.api.jobs import JobEventSequenceViewSet, JobEventViewSet

urlpatterns = [
    re_path(r"^teams/(?P<pk>[^/]+)/products/?$", TeamProductViewSet.as_view({"get": "list"}), name="team-products"),
    re_path(
        r"^jobs_events/sequence/?$",
        JobEventSequenceViewSet.as_view({"get": "retrieve", "put": "update"}),
        name="jobs-events-sequence",
    ),
    re_path(
        r"^jobs_events/(?P<sequence>[0-9]{1,18})/?$",
        JobEventViewSet.as_view({"get": "list", "delete": "destroy"}),
        name="jobs-events",
    ),
]
