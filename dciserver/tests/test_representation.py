"""The one renderer (``dciserver.api.reader``) writes exactly what DRF's own steps write, for every
resource, field kind, embed and list the API serves."""

import json

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIRequestFactory

from dciserver.api.serializers import DCIModelSerializer

pytestmark = pytest.mark.django_db


def _wire(data):
    """``data`` as the client reads it (ids as text, as the JSON renderer writes them)."""
    return json.loads(JSONRenderer().render(data))


def _drf(serializer, instance):
    """What DRF's own ``ModelSerializer`` steps render for ``instance``, as the client reads it."""
    return _wire(serializers.ModelSerializer.to_representation(serializer, instance))


def serializers_and_rows(world, user, jobstate, file):
    from files.api import FileSerializer
    from jobs.api.catalogue import ComponentSerializer, JobDefinitionSerializer, TopicSerializer
    from jobs.api.jobs import JobSerializer, JobStateSerializer
    from teams.api import RemoteCISerializer, TeamSerializer, UserSerializer

    return [
        (TeamSerializer, world.team),
        (UserSerializer, user),
        (RemoteCISerializer, world.remoteci),
        (TopicSerializer, world.topic),
        (ComponentSerializer, world.component),
        (JobDefinitionSerializer, world.jobdefinition),
        (JobSerializer, world.job),
        (JobStateSerializer, jobstate),
        (FileSerializer, file),
    ]


def _read(serializer_class, row, user, context):
    from dciserver.api.reader import Reader

    (data,) = Reader.of(serializer_class, type(row)).one(user, context, row.pk)
    return data


def test_every_resource_reads_as_drf_renders_it(world, user, super_admin, jobstate, file):
    request = APIRequestFactory().get("/api/v1/")
    request.user = super_admin
    for serializer_class, row in serializers_and_rows(world, user, jobstate, file):
        assert issubclass(serializer_class, DCIModelSerializer)
        row.refresh_from_db()  # as the database holds it now (a jobstate changed its job)
        for context in ({"request": request}, {"request": request, "inline_content": True}):
            serializer = serializer_class(context=context)
            assert _wire(_read(serializer_class, row, super_admin, context)) == _drf(serializer, row), serializer_class


def test_a_null_foreign_key_a_blank_text_and_a_whole_second_read_as_drf_renders_them(world, super_admin):
    from django.utils import timezone

    from jobs.api.jobs import JobSerializer
    from jobs.models import Job

    job = Job.objects.create(remoteci=world.remoteci, topic=world.topic, team=world.team, comment="")
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now().replace(microsecond=0))
    job.refresh_from_db()
    ours = _read(JobSerializer, job, super_admin, {})
    assert ours["jobdefinition_id"] is None
    assert ours["comment"] == ""
    assert ours["created_at"].endswith(".000000")
    assert _wire(ours) == _drf(JobSerializer(), job)


# Every page and object the API reads, against DRF's own rendering of the ORM's objects -------


def _varied_rows(world, other_remoteci, file):
    """Rows that exercise every kind of value the reader renders: a null foreign key, a timestamp
    on a whole second, nested and unicode JSON, an archived related row, text with quotes and
    newlines, a JUnit result (a property among columns), a file's inline content."""
    import datetime
    import io

    from django.utils import timezone

    from files.models import JUnitResult
    from files.services import file_create
    from jobs.models import Job, JobState

    world.remoteci.data = {"lab": "Brno ✓", "nested": {"list": [1, 2.5, None, True], "empty": {}}, "q": 'a"b'}
    world.remoteci.save()
    # Written past the API (which takes strings only): the serializer's list field renders ``str`` of each.
    world.jobdefinition.component_types = ["compose", 7, None]
    world.jobdefinition.save()
    on_the_second = timezone.now().replace(microsecond=0)
    Job.objects.filter(pk=world.job.pk).update(created_at=on_the_second, comment='line 1\nline "2"')
    bare = Job.objects.create(remoteci=world.remoteci, topic=world.topic, team=world.team, comment="")
    Job.objects.filter(pk=bare.pk).update(updated_at=on_the_second + datetime.timedelta(microseconds=5))
    JobState.objects.create(job=bare, team=world.team, status="running", comment="ünïcode")
    world.job.components.add(world.component)
    JUnitResult.objects.create(file=file, job=file.job, name="unit.xml", total=7, failures=1, errors=1, skips=2)
    # A report's cases, and their tests (63-bit ids, as strings).
    report = (
        '<testsuite name="ünï"><testcase classname="c &quot;q&quot;" name="t&#10;2" time="1.5">'
        '<failure message="m">x</failure></testcase><testcase classname="c" name="ok"/></testsuite>'
    )
    file_create(job=bare, name="tests.xml", mime="application/junit", stream=io.BytesIO(report.encode()))
    gone = Job.objects.create(remoteci=other_remoteci, topic=world.topic, team=other_remoteci.team)
    other_remoteci.archived_at = timezone.now()
    other_remoteci.save()
    return gone


def _routes():
    from dciserver.urls import router

    return [(prefix, viewset) for prefix, viewset, _ in router.registry]


def _body(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.content[:300])
    return response.json()


def _embedded_model(model, path):
    for name in path.split("__"):
        model = model._meta.get_field(name).related_model
    return model


class Oracle:
    """DRF's rendering of a row read by the ORM, embeds included (related rows by their ids)."""

    def __init__(self, request, inline_content):
        self.context = {"request": request, "inline_content": inline_content}
        self.checked = 0

    def check(self, viewset, data, names, where):
        from django.utils.module_loading import import_string

        instance = viewset.model._base_manager.get(pk=data["id"])
        own = {key: value for key, value in data.items() if key not in names}
        assert own == _drf(viewset.serializer_class(context=self.context), instance), where
        self.checked += 1
        for name in names:
            spec = viewset.embeds[name]
            serializer_class = import_string(spec.serializer) if isinstance(spec.serializer, str) else spec.serializer
            model = _embedded_model(viewset.model, spec.path)
            parent = data
            for key in name.split(".")[:-1]:
                parent = parent[key] if parent is not None else None
            if parent is None:
                continue
            embedded = parent[name.split(".")[-1]]
            for item in (embedded if spec.many else [embedded]) if embedded is not None else []:
                nested = {n[len(name) + 1 :] for n in names if n.startswith(f"{name}.")}
                item = {key: value for key, value in item.items() if key not in nested}
                related = model._base_manager.get(pk=item["id"] if "id" in item else item["file_id"])
                expected = _drf(serializer_class(context={**self.context, "inline_content": False}), related)
                assert item == expected, (where, name)
                self.checked += 1


@pytest.mark.parametrize("as_admin", [True, False], ids=["super_admin", "team_user"])
def test_every_list_and_object_reads_what_drf_renders_from_the_orms_objects(
    world, other_remoteci, super_admin, user, jobstate, file, events_rows, as_admin
):
    from conftest import client_for
    from dciserver.api import query

    _varied_rows(world, other_remoteci, file)
    caller = super_admin if as_admin else user
    client = client_for(caller)
    request = APIRequestFactory().get("/api/v1/")
    request.user = caller
    # A write through the API, so that the audit log has an entry.
    written = client.post("/api/v1/jobstates", {"job_id": str(world.job.id), "status": "running"}, format="json")
    assert written.status_code == 201, written.content
    lists = objects = 0
    checked = {}
    for prefix, viewset in _routes():
        if prefix == "audits" and not as_admin:
            continue  # the audit log is for admins (403)
        oracle = Oracle(request, inline_content=prefix == "files")
        every = list(viewset.embeds)
        for embeds in [[], *[[name] for name in every], every]:
            names = query.parse_embed(",".join(embeds), viewset.embeds)
            # Embeds the resource always carries (a product's topics) are in every representation.
            names = [*viewset.inline, *(name for name in names if name not in viewset.inline)]
            # A filter every row meets: the page chosen by a queryset (audits have no state: by a blank id).
            filtered = "&where=state:active" if "state" in viewset.filterset_class.base_filters else "&where=id:"
            for chosen in ("", filtered):
                url = f"/api/v1/{prefix}?limit=1000&embed={','.join(embeds)}{chosen}"
                listed = _body(client, url)[viewset.plural]
                for row in listed:
                    oracle.check(viewset, row, names, url)
                lists += 1
            for row in listed:
                one = f"/api/v1/{prefix}/{row['id']}?embed={','.join(embeds)}"
                oracle.check(viewset, _body(client, one)[viewset.singular], names, one)
                objects += 1
        checked[prefix] = oracle.checked
    # The comparison covered real pages, objects and embedded rows of every kind of resource.
    assert lists >= 60 and objects >= 40 and all(checked.values()), (lists, objects, checked)


def test_the_reader_keeps_the_list_order_for_every_sort_key(world, other_remoteci, super_admin, file):
    from conftest import client_for
    from dciserver.api.query import parse_sort
    from jobs.api.jobs import JobViewSet
    from jobs.models import Job

    _varied_rows(world, other_remoteci, file)
    for n in range(5):
        Job.objects.create(remoteci=world.remoteci, topic=world.topic, team=world.team, comment=f"c{n % 2}")
    client = client_for(super_admin)
    sort_fields = {name: name for name in JobViewSet.sort_fields}
    for sort in ["created_at", "-created_at", "comment,-created_at", "-status,updated_at", "-comment"]:
        expected = [
            str(pk)
            for pk in Job.objects.live().order_by(*parse_sort(sort, sort_fields)).values_list("pk", flat=True)[2:5]
        ]
        for chosen in ("", "&where=state:active"):
            url = f"/api/v1/jobs?sort={sort}&limit=3&offset=2&embed=jobdefinition.topic{chosen}"
            assert [job["id"] for job in _body(client, url)["jobs"]] == expected, url


def test_each_serializer_validates_related_ids_in_its_own_callers_scope(world, user, other_user):
    from jobs.api.jobs import JobSerializer, JobStateSerializer

    def request_of(u):
        request = APIRequestFactory().post("/api/v1/jobstates")
        request.user = u
        return request

    mine = JobSerializer(context={"request": request_of(user)})
    theirs = JobSerializer(context={"request": request_of(other_user)})
    assert mine.fields["remoteci_id"] is not theirs.fields["remoteci_id"]
    assert mine.fields["remoteci_id"].parent is mine and theirs.fields["remoteci_id"].parent is theirs
    # Each validates with its own caller's scope: another team's remoteci is unknown.
    assert mine.fields["remoteci_id"].run_validation(str(world.remoteci.id)) == world.remoteci
    with pytest.raises(serializers.ValidationError):
        theirs.fields["remoteci_id"].run_validation(str(world.remoteci.id))
    # A jobstate's job is found by the report's statement, in form only here (jobstate_create).
    assert JobStateSerializer().fields["job_id"].run_validation(str(world.job.id)) == world.job.id
    # A field holding fields (the write-only to-many components) is a copy down to its child.
    one, two = JobSerializer(context={"request": request_of(user)}), JobSerializer()
    assert one.fields["components"].child_relation is not two.fields["components"].child_relation
    assert one.fields["components"].child_relation.root is one


def test_a_page_with_every_embed_is_one_statement(world, user, file):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conftest import client_for
    from dciserver import prepared
    from jobs.api.jobs import JobViewSet

    client = client_for(user)
    to_one = [name for name, spec in JobViewSet.embeds.items() if not spec.many]
    to_many = [name for name, spec in JobViewSet.embeds.items() if spec.many]
    url = f"/api/v1/jobs?embed={','.join(to_one + to_many)}"
    client.get(url)  # the caller's credentials are verified once
    with CaptureQueriesContext(connection) as queries:
        assert len(client.get(url).json()["jobs"]) == 1
    run = [prepared.original(connection, q["sql"]) for q in queries.captured_queries]
    # The caller, then the page with its to-one embeds joined, a subquery per to-many embed and its count.
    assert len(run) == 2, run
    assert run[1].count("LEFT JOIN") == len(to_one) and "jobs_jobcount" in run[1], run[1]
    assert run[1].count("json_agg(") == len(to_many), run[1]


def test_a_page_is_one_level_where_the_scope_reads_the_table_alone_and_a_subquery_otherwise(world, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conftest import client_for
    from dciserver import prepared

    client = client_for(user)
    with CaptureQueriesContext(connection) as jobs:
        assert len(client.get("/api/v1/jobs?embed=remoteci").json()["jobs"]) == 1
    with CaptureQueriesContext(connection) as topics:
        # A team user's topics are those its team subscribes to: a join, so the page is a subquery.
        assert len(client.get("/api/v1/topics").json()["topics"]) == 1
    run = [prepared.original(connection, q["sql"]) for q in jobs.captured_queries]
    page = [sql for sql in run if 'FROM "jobs_job" t0 ' in sql]
    assert len(page) == 1 and " IN (SELECT " not in page[0] and 'LEFT JOIN "teams_remoteci"' in page[0]
    run = [prepared.original(connection, q["sql"]) for q in topics.captured_queries]
    page = [sql for sql in run if 'FROM "jobs_topic" t0 ' in sql]
    assert len(page) == 1 and 'WHERE "t0"."id" IN (SELECT ' in page[0], page


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2.5, null, true], "b": {"c": "\u00fc"}}',
        "123456789012345678901234567890",  # beyond 64 bits: kept exact, as the ORM's parser keeps it
        '{"n": -9223372036854775809}',
        "[1e308, -0.0, 1.5e-320]",
        '"\\ud83d\\ude00"',
    ],
)
def test_json_columns_parse_as_the_model_field_parses_them(text):
    from dciserver.api.reader import json_loads

    assert json_loads(text) == json.loads(text)
    assert type(json_loads(text)) is type(json.loads(text))


def test_a_serializer_class_builds_its_fields_once_and_each_instance_binds_its_own(world, monkeypatch):
    from jobs.api.jobs import JobStateSerializer

    built = []
    original = serializers.ModelSerializer.get_fields
    monkeypatch.setattr(serializers.ModelSerializer, "get_fields", lambda self: built.append(self) or original(self))
    monkeypatch.delattr(JobStateSerializer, "_built_fields", raising=False)
    first, second = JobStateSerializer(data={"status": "running"}), JobStateSerializer(data={"status": "nope"})
    assert first.fields["status"] is not second.fields["status"]
    assert first.fields["status"].parent is first and second.fields["status"].parent is second
    assert len(built) == 1
    # Each validates on its own.
    assert not first.is_valid() and set(first.errors) == {"job_id"}
    assert not second.is_valid() and set(second.errors) == {"job_id", "status"}


def test_a_page_is_freed_once_sent_not_left_to_the_cyclic_collector(world, user):
    """A list's representation is freed as soon as the server has sent it: no reference cycle
    (DRF's view, response and renderer context point at each other) keeps it for the collector."""
    import gc
    import io
    import sys

    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from conftest import basic

    handler = WSGIHandler()
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/jobs",
        "QUERY_STRING": "embed=remoteci,team",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "HTTP_AUTHORIZATION": basic(user.name),
    }
    statuses = []
    # As Django's test client serves a request: the test's connection (its transaction) stays open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        response = handler(dict(environ), lambda status, headers, exc_info=None: statuses.append(status))
        body = b"".join(response)
        response.close()
        del response
        gc.collect()
        listed = [o for o in gc.garbage if isinstance(o, dict) and o.get("id") == str(world.job.pk)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert statuses == ["200 OK"] and str(world.job.pk).encode() in body
    assert listed == []
