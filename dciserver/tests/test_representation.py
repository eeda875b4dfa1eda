"""The fast representation path of DCIModelSerializer renders exactly what DRF's own does."""

import pytest
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from dciserver.api.serializers import DCIModelSerializer

pytestmark = pytest.mark.django_db


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


def test_every_resource_renders_as_drf_renders_it(world, user, super_admin, jobstate, file):
    request = APIRequestFactory().get("/api/v1/")
    request.user = super_admin
    for serializer_class, row in serializers_and_rows(world, user, jobstate, file):
        assert issubclass(serializer_class, DCIModelSerializer)
        serializer = serializer_class(context={"request": request})
        fast = serializer.to_representation(row)
        assert fast == serializers.ModelSerializer.to_representation(serializer, row), serializer_class
        # A second row through the same serializer (a page) reuses the plan.
        assert serializer.to_representation(row) == fast


def test_a_null_foreign_key_and_a_blank_text_render_as_drf_renders_them(world, super_admin):
    from jobs.api.jobs import JobSerializer
    from jobs.models import Job

    job = Job.objects.create(remoteci=world.remoteci, topic=world.topic, team=world.team, comment="")
    serializer = JobSerializer()
    fast = serializer.to_representation(job)
    assert fast["jobdefinition_id"] is None
    assert fast["comment"] == ""
    assert fast == serializers.ModelSerializer.to_representation(serializer, job)


# The column reader (dciserver.api.rows) against the serializers ---------------------------


def _varied_rows(world, other_remoteci):
    """Rows that exercise every kind of value the reader writes itself: a null foreign key, a
    timestamp on a whole second, nested and unicode JSON, an archived related row, text with
    quotes and newlines."""
    import datetime

    from django.utils import timezone

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


@pytest.mark.parametrize("as_admin", [True, False], ids=["super_admin", "team_user"])
def test_every_list_and_object_reads_the_same_from_columns_as_through_serializers(
    world, other_remoteci, super_admin, user, jobstate, file, as_admin, monkeypatch
):
    from conftest import client_for
    from dciserver.api import query, rows
    from dciserver.api.viewsets import DCIViewSet

    _varied_rows(world, other_remoteci)
    client = client_for(super_admin if as_admin else user)
    fast_reader = DCIViewSet.page_reader
    compared = {"lists": 0, "objects": 0, "read from columns": 0}
    for prefix, viewset in _routes():
        if prefix == "audits" and not as_admin:
            continue  # the audit log is for admins (403)
        to_one = [name for name, spec in viewset.embeds.items() if not spec.many]
        for embeds in [[], *[[name] for name in to_one], to_one]:
            url = f"/api/v1/{prefix}?limit=1000&embed={','.join(embeds)}"
            monkeypatch.setattr(DCIViewSet, "page_reader", fast_reader)
            fast = _body(client, url)
            view = viewset(request=None, format_kwarg=None, action="list", kwargs={})
            names = tuple(query.parse_embed(",".join(embeds), viewset.embeds))
            if rows.page_reader(viewset.serializer_class, viewset.model, names, viewset.embeds):
                compared["read from columns"] += 1
            monkeypatch.setattr(DCIViewSet, "page_reader", lambda self, embeds: None)
            slow = _body(client, url)
            assert fast == slow, url
            compared["lists"] += 1
            for row in slow[view.plural]:
                one = f"/api/v1/{prefix}/{row['id']}?embed={','.join(embeds)}"
                monkeypatch.setattr(DCIViewSet, "page_reader", fast_reader)
                fast_one = _body(client, one)
                monkeypatch.setattr(DCIViewSet, "page_reader", lambda self, embeds: None)
                assert fast_one == _body(client, one), one
                compared["objects"] += 1
    # The comparison covered real pages: every resource but files (a method field) and audits
    # reads from columns, with each of its to-one embeds.
    assert compared["read from columns"] >= 20, compared
    assert compared["objects"] >= 40, compared


def test_the_reader_keeps_the_list_order_for_every_sort_key(world, other_remoteci, super_admin, monkeypatch):
    from conftest import client_for
    from dciserver.api.viewsets import DCIViewSet
    from jobs.models import Job

    _varied_rows(world, other_remoteci)
    for n in range(5):
        Job.objects.create(remoteci=world.remoteci, topic=world.topic, team=world.team, comment=f"c{n % 2}")
    client = client_for(super_admin)
    fast_reader = DCIViewSet.page_reader
    for sort in ["created_at", "-created_at", "comment,-created_at", "-status,updated_at", "-comment"]:
        url = f"/api/v1/jobs?sort={sort}&limit=3&offset=2&embed=jobdefinition.topic"
        fast = _body(client, url)
        monkeypatch.setattr(DCIViewSet, "page_reader", lambda self, embeds: None)
        assert fast == _body(client, url), sort
        monkeypatch.setattr(DCIViewSet, "page_reader", fast_reader)
        assert len(fast["jobs"]) == 3


def test_a_reader_exists_only_where_every_field_is_a_column():
    from dciserver.api import rows
    from files.api import FileSerializer, FileViewSet
    from files.models import File
    from jobs.api.jobs import JobSerializer, JobViewSet
    from jobs.models import Job

    # A method field (the inline content) keeps the serializer path, and so does a to-many embed.
    assert rows.page_reader(FileSerializer, File, (), FileViewSet.embeds) is None
    assert rows.page_reader(JobSerializer, Job, ("components",), JobViewSet.embeds) is None
    assert rows.page_reader(JobSerializer, Job, ("jobdefinition.topic",), JobViewSet.embeds) is None
    reader = rows.page_reader(
        JobSerializer, Job, ("remoteci", "jobdefinition", "jobdefinition.topic"), JobViewSet.embeds
    )
    assert reader is not None
    for sql in (reader.direct, reader.nested):
        assert sql.count("LEFT JOIN") == 3 and sql.count("to_char(") == 8


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2.5, null, true], "b": {"c": "ü"}}',
        "123456789012345678901234567890",  # beyond 64 bits: kept exact, as the ORM's parser keeps it
        '{"n": -9223372036854775809}',
        "[1e308, -0.0, 1.5e-320]",
        '"\\ud83d\\ude00"',
    ],
)
def test_json_columns_parse_as_the_model_field_parses_them(text):
    import json

    from dciserver.api.rows import json_loads

    assert json_loads(text) == json.loads(text)
    assert type(json_loads(text)) is type(json.loads(text))


def test_serializer_fields_copied_from_the_prototype_belong_to_their_own_serializer(world, user, other_user):
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
    page = [sql for sql in run if "to_char(" in sql]
    assert len(page) == 1 and " IN (SELECT " not in page[0] and 'LEFT JOIN "teams_remoteci"' in page[0]
    run = [prepared.original(connection, q["sql"]) for q in topics.captured_queries]
    page = [sql for sql in run if "to_char(" in sql]
    assert len(page) == 1 and 'WHERE t0."id" IN (SELECT ' in page[0]


def test_a_serializers_own_validators_are_built_once_per_class(monkeypatch):
    # DRF derives them from the model's unique constraints for every serializer instance.
    from rest_framework import serializers

    from jobs.api.jobs import JobSerializer

    built = []
    get_validators = serializers.ModelSerializer.get_validators
    monkeypatch.setattr(
        serializers.ModelSerializer, "get_validators", lambda self: built.append(self) or get_validators(self)
    )
    monkeypatch.delattr(JobSerializer, "_validators_prototype", raising=False)

    one, two = JobSerializer(), JobSerializer()
    assert one.validators == two.validators and one.validators is not two.validators
    assert len(built) == 1
