"""The routes of files under jobs, topics and remotecis (they know nothing of files): a job's
files, JUnit results and test cases, flaky tests."""

from django.urls import re_path

from files.api import ComponentFileViewSet, JobFileViewSet
from files.results_api import JobTestCaseViewSet, TestViewSet

urlpatterns = [
    re_path(
        r"^jobs/(?P<pk>[^/]+)/files/?$",
        JobFileViewSet.as_view({"get": "list", "post": "create"}),
        name="job-files",
    ),
    re_path(r"^jobs/(?P<pk>[^/]+)/results/?$", JobFileViewSet.as_view({"get": "results"}), name="job-results"),
    # Test results as data (SPEC §15).
    re_path(r"^jobs/(?P<pk>[^/]+)/tests/?$", JobTestCaseViewSet.as_view({"get": "list"}), name="job-tests"),
    re_path(
        r"^topics/(?P<pk>[^/]+)/flaky_tests/?$", TestViewSet.as_view({"get": "topic_flaky"}), name="topic-flaky-tests"
    ),
    re_path(
        r"^remotecis/(?P<pk>[^/]+)/flaky_tests/?$",
        TestViewSet.as_view({"get": "remoteci_flaky"}),
        name="remoteci-flaky-tests",
    ),
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
