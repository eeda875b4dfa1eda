"""The routes of files under jobs (jobs know nothing of files): a job's files and JUnit results."""

from django.urls import re_path

from files.api import ComponentFileViewSet, JobFileViewSet

urlpatterns = [
    re_path(
        r"^jobs/(?P<pk>[^/]+)/files/?$",
        JobFileViewSet.as_view({"get": "list", "post": "create"}),
        name="job-files",
    ),
    re_path(r"^jobs/(?P<pk>[^/]+)/results/?$", JobFileViewSet.as_view({"get": "results"}), name="job-results"),
    # A component's files (components know nothing of files either).
    re_path(
        r"^components/(?P<pk>[^/]+)/files/?$",
        ComponentFileViewSet.as_view({"get": "list", "post": "create"}),
        name="component-files",
    ),
    re_path(
        r"^components/(?P<pk>[^/]+)/files/(?P<component_file_id>[^/]+)/?$",
        ComponentFileViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="component-file-detail",
    ),
    re_path(
        r"^components/(?P<pk>[^/]+)/files/(?P<component_file_id>[^/]+)/content/?$",
        ComponentFileViewSet.as_view({"get": "content"}),
        name="component-file-content",
    ),
]
