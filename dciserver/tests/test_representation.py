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
