"""Quirks of the real DCI clients that the server accepts (see docs/clients.md)."""

import pytest

from jobs.models import JobDefinition, Topic

pytestmark = pytest.mark.django_db


def test_remoteci_data_is_a_bare_object_filtered_by_keys(user_client, remoteci):
    response = user_client.get(f"/api/v1/remotecis/{remoteci.id}/data/?keys=arch,missing")

    assert response.status_code == 200
    assert response.json() == {"arch": "x86_64"}


def test_a_null_active_in_a_remoteci_update_leaves_it_unchanged(user_client, remoteci):
    response = user_client.put(
        f"/api/v1/remotecis/{remoteci.id}", {"name": "renamed", "active": None}, HTTP_IF_MATCH=remoteci.etag
    )

    assert response.status_code == 204, response.content
    remoteci.refresh_from_db()
    assert (remoteci.name, remoteci.state) == ("renamed", "active")


def test_a_plain_query_parameter_filters_like_where(admin_client, topic, jobdefinition):
    other = Topic.objects.create(name="other")
    JobDefinition.objects.create(name="elsewhere", topic=other)

    response = admin_client.get(f"/api/v1/jobdefinitions?topic_id={topic.id}")

    assert [row["id"] for row in response.json()["jobdefinitions"]] == [str(jobdefinition.id)]


def test_unknown_plain_query_parameters_are_ignored(admin_client, topic):
    response = admin_client.get("/api/v1/topics?format=json&cache_buster=1")

    assert response.status_code == 200
    assert response.json()["_meta"]["count"] == 1
