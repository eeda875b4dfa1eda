"""Routes of the catalogue under teams (teams know nothing of products): a team's products."""

from django.urls import re_path

from jobs.api.catalogue import TeamProductViewSet

urlpatterns = [
    re_path(r"^teams/(?P<pk>[^/]+)/products/?$", TeamProductViewSet.as_view({"get": "list"}), name="team-products"),
]
