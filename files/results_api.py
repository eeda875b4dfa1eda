"""The API of test results as data (SPEC §15): a job's cases with their states, the same against
any other job, a test's history on its line, flaky tests, and the 2025 server's JUnit report."""

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action

from dciserver.api.exceptions import NotFound
from dciserver.api.filters import DCIFilterSet
from dciserver.api.query import Embed
from dciserver.api.schema import ERRORS, LIST_PARAMETERS, list_envelope, sublist_schema
from dciserver.api.serializers import DCIDateTimeField, DCIModelSerializer
from dciserver.api.viewsets import DCIViewSet
from files import testresults
from files.models import JUnitResult, Test, TestCase
from jobs.api.jobs import JobSerializer
from jobs.models import Job, Topic
from teams.models import RemoteCI


class TestCaseSerializer(DCIModelSerializer):
    """A test case of a job's file, with its state against the baseline (or the job compared with)."""

    id = serializers.IntegerField(read_only=True)
    file_id = serializers.UUIDField(read_only=True)
    job_id = serializers.UUIDField(read_only=True)
    # 63-bit ids are strings: JavaScript reads numbers exactly to 53 bits only.
    test_id = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=TestCase.State.choices, read_only=True)

    class Meta:
        model = TestCase
        fields = (
            "id",
            "file_id",
            "job_id",
            "test_id",
            "suite",
            "classname",
            "name",
            "time",
            "result",
            "message",
            "type",
            "state",
            "previous_result",
            "flaky",
            "failing_since",
        )
        read_only_fields = fields


class TestSerializer(DCIModelSerializer):
    """A test on its line: its last runs' outcomes (newest first), flips and flakiness."""

    id = serializers.CharField(read_only=True)
    team_id = serializers.UUIDField(read_only=True)
    topic_id = serializers.UUIDField(read_only=True, allow_null=True)
    remoteci_id = serializers.UUIDField(read_only=True)
    updated_at = DCIDateTimeField(read_only=True)

    class Meta:
        model = Test
        fields = (
            "id",
            "file_name",
            "suite",
            "classname",
            "name",
            "team_id",
            "topic_id",
            "remoteci_id",
            "runs",
            "outcomes",
            "flips",
            "flaky",
            "last_result",
            "last_job_id",
            "failing_since",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class TestCaseFilter(DCIFilterSet):
    class Meta:
        model = TestCase
        fields = ["state", "result", "suite", "classname", "name", "file_id", "job_id", "test_id", "flaky"]


class TestFilter(DCIFilterSet):
    class Meta:
        model = Test
        fields = ["file_name", "suite", "classname", "name", "topic_id", "remoteci_id", "flaky", "last_result"]


class TestCaseViewSet(DCIViewSet):
    """Test cases, listed by the routes that choose them (a job's, a test's history)."""

    model = TestCase
    serializer_class = TestCaseSerializer
    singular, plural = "testcase", "testcases"
    http_method_names = ["get", "head", "options"]
    sort_fields = ("id", "suite", "classname", "name", "time", "result", "state")
    default_sort = "id"
    filterset_class = TestCaseFilter
    embeds = {"job": Embed("job", JobSerializer)}


BASELINE_PARAMETER = OpenApiParameter(
    "baseline",
    OpenApiTypes.UUID,
    description="Another job to compare with, instead of the job's baseline: the states are computed against it.",
)


class TestViewSet(DCIViewSet):
    """Tests on their lines (``/tests``), their history, and the flaky ones of a topic or remoteci."""

    model = Test
    serializer_class = TestSerializer
    singular, plural = "test", "tests"
    http_method_names = ["get", "head", "options"]
    sort_fields = ("created_at", "updated_at", "flips", "runs", "name", "classname")
    default_sort = "-updated_at"
    filterset_class = TestFilter

    @sublist_schema(TestCaseSerializer, "testcases")
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        """``GET /tests/<id>/history``: its runs on its line, newest first (``embed=job``: each job)."""
        test = self.get_object()
        # A REMOVED row is the comparison's, not a run.
        return self.sublist(TestCaseViewSet, default_sort="-id", chosen=Q(test_id=test.pk) & ~Q(state="REMOVED"))

    def flaky(self, model):
        """The flaky tests of the row of ``model`` (a topic, a remoteci) the URL names, most flips first."""
        row = self.visible(model, self.kwargs["pk"])
        field = "topic" if model is Topic else "remoteci"
        return self.sublist(TestViewSet, default_sort="-flips", chosen=Q(**{field: row, "flaky": True}))

    @sublist_schema(TestSerializer, "tests")
    def topic_flaky(self, request, *args, **kwargs):
        """``GET /topics/<id>/flaky_tests``."""
        return self.flaky(Topic)

    @sublist_schema(TestSerializer, "tests")
    def remoteci_flaky(self, request, *args, **kwargs):
        """``GET /remotecis/<id>/flaky_tests``."""
        return self.flaky(RemoteCI)


def _diff_source(job, other):
    """The cases of ``job`` against those of ``other`` (``Reader.page``'s ``source``): each live
    case of either, matched by key, its state computed as an upload computes it
    (``testresults.state_sql``); a case of ``other`` alone is ``REMOVED``."""
    columns = [field.column for field in TestCase._meta.concrete_fields]
    chosen = {"state", "previous_result", "failing_since"}
    values = ", ".join(f"coalesce(a.{c}, b.{c}) AS {c}" for c in columns if c not in chosen)
    sql = (
        f"SELECT {values}, {testresults.state_sql('b', 'a')} AS state, coalesce(b.result, '') AS previous_result, "
        "a.failing_since AS failing_since FROM "
        "(SELECT * FROM files_testcase WHERE job_id = %s AND state <> 'REMOVED' AND archived_at IS NULL) a "
        "FULL JOIN (SELECT * FROM files_testcase WHERE job_id = %s AND state <> 'REMOVED' AND archived_at IS NULL) b "
        "ON a.key = b.key"
    )
    return sql, [job.id, other.id]


job_tests_schema = extend_schema(
    parameters=[*LIST_PARAMETERS, BASELINE_PARAMETER],
    responses={200: list_envelope(TestCaseSerializer, "testcases"), **ERRORS},
)


class JobTestCaseViewSet(TestCaseViewSet):
    """``/jobs/<id>/tests`` (files.urls)."""

    @job_tests_schema
    def list(self, request, *args, **kwargs):
        """A job's cases with their states against its baseline, or against ``?baseline=<job>``."""
        job = self.visible(Job, self.kwargs["pk"])
        other_id = request.query_params.get("baseline")
        if not other_id:
            return self.list_response(Q(job=job))
        return self.list_response(source=_diff_source(job, self.visible(Job, other_id)))


def junit_report(user, file):
    """The 2025 server's ``GET /files/<id>/junit`` (reference §9.4), from the stored cases: the
    file's suites in order of appearance, each with its counts and its cases sorted by name."""
    result = JUnitResult.objects.filter(file=file).first()
    if result is None:
        raise NotFound(f"File {file.id} is not a JUnit report.")
    rows = (
        TestCase.objects.for_user(user)
        .filter(file=file)
        .order_by("id")
        .values_list("suite", "classname", "name", "time", "result", "message", "type", "state", "flaky")
    )
    suites = {}
    for suite, classname, name, time, result_, message, type_, state, flaky in rows:
        entry = suites.get(suite)
        if entry is None:
            entry = suites[suite] = _suite(len(suites), suite)
        _count(entry, result_, time, state, flaky)
        entry["testcases"].append(
            {
                "name": name,
                "classname": classname,
                "time": float(time),
                "action": result_,
                "message": message or None,
                "type": type_ or None,
                "value": None,
                "stdout": None,
                "stderr": None,
                "properties": [],
                "state": state,
                "regression": state == TestCase.State.REGRESSED and not flaky,
                "successfix": state == TestCase.State.RECOVERED,
                "flaky": flaky,
            }
        )
    for entry in suites.values():
        entry["testcases"].sort(key=lambda case: case["name"])
        entry["time"] = float(entry["time"])
    previous = None
    if result.baseline_id is not None:
        previous = Job.objects.for_user(user).filter(files__id=result.baseline_id).values("id", "name").first()
    return {
        "id": str(file.id),
        "name": result.name,
        "job": {"id": str(file.job_id), "name": file.job.name},
        "previous_job": {"id": str(previous["id"]), "name": previous["name"]} if previous else None,
        "testsuites": list(suites.values()),
        **({"error": result.error} if result.error else {}),
    }


def _suite(index, name):
    counts = ("tests", "failures", "errors", "skipped", "success", "additions", "deletions", "unchanged")
    return {
        "id": index,
        "name": name,
        **dict.fromkeys(counts, 0),
        "regressions": 0,
        "successfixes": 0,
        "time": 0,
        "properties": [],
        "testcases": [],
    }


_ACTION_COUNT = {"failure": "failures", "error": "errors", "skipped": "skipped", "success": "success"}
_STATE_COUNT = {"ADDED": "additions", "REMOVED": "deletions", "UNCHANGED": "unchanged", "RECOVERED": "successfixes"}


def _count(entry, result, time, state, flaky):
    if state in _STATE_COUNT:
        entry[_STATE_COUNT[state]] += 1
    elif state == TestCase.State.REGRESSED and not flaky:
        entry["regressions"] += 1
    if state == TestCase.State.REMOVED:
        return  # a row of the comparison: it did not run
    entry["tests"] += 1
    entry[_ACTION_COUNT[result]] += 1
    entry["time"] += time


junit_schema = extend_schema(responses={200: OpenApiTypes.OBJECT, **ERRORS})
