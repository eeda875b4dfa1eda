"""The routes of files under jobs (jobs know nothing of files): a job's files and JUnit results."""

from django.urls import re_path

from files.api import JobFileViewSet

urlpatterns = [
    re_path(
        r"^jobs/(?P<pk>[^/]+)/files/?$",
        JobFileViewSet.as_view({"get": "list", "post": "create"}),
        name="job-files",
    ),
    re_path(r"^jobs/(?P<pk>[^/]+)/results/?$", JobFileViewSet.as_view({"get": "results"}), name="job-results"),
]
