"""A PUT never silently ignores a field: what cannot change (400) or not by this caller (403) is
refused naming the field, while the current value, echoed back, is fine."""

import json

import pytest

from conftest import if_match
from dciserver.tests.resources import API, MUTABLE, each
from jobs.models import Job
from teams.models import RemoteCI, User


def put(client, url, body, instance):
    return client.put(url, json.dumps(body), content_type="application/json", **if_match(instance))


def refused(response, status, *fields):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status_code"] == status
    assert set(body["payload"]["errors"]) == set(fields), body
    assert all(field in body["message"] for field in fields), body
    return body


def test_a_user_cannot_make_themselves_admin_through_users_me(user_client, user):
    etag = user.etag

    response = put(user_client, f"{API}/users/me", {"role": "admin"}, user)

    refused(response, 403, "role")
    user.refresh_from_db()
    assert (user.role, user.etag) == ("user", etag)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "someone-else"}, "name"),
        ({"team_id": None}, "team_id"),
        ({"state": "inactive"}, "state"),
        ({"email": "me@example.com", "role": "admin"}, "role"),
    ],
)
def test_users_me_changes_only_the_self_service_fields(user_client, user, body, field):
    refused(put(user_client, f"{API}/users/me", body, user), 403, field)
    user.refresh_from_db()
    assert (user.name, user.role, user.state, user.email) == ("lab-user", "user", "active", "")


def test_users_me_takes_its_own_representation_back_with_a_change(user_client, user):
    me = user_client.get(f"{API}/users/me").json()["user"]

    response = put(user_client, f"{API}/users/me", {**me, "fullname": "Lab User", "password": "new-pw"}, user)

    assert response.status_code == 204, response.content
    user.refresh_from_db()
    assert user.fullname == "Lab User" and user.check_password("new-pw")


def test_a_user_cannot_change_their_own_role_by_id_either(user_client, user):
    refused(put(user_client, f"{API}/users/{user.id}", {"role": "admin"}, user), 403, "role")


def test_a_user_may_echo_their_row_by_id_with_a_new_email(user_client, user):
    row = user_client.get(f"{API}/users/{user.id}").json()["user"]

    response = put(user_client, f"{API}/users/{user.id}", {**row, "email": "lab@example.com"}, user)

    assert response.status_code == 204, response.content
    user.refresh_from_db()
    assert user.email == "lab@example.com" and user.role == "user"


def test_a_team_admin_cannot_take_a_user_out_of_the_team(team_admin_client, user):
    refused(put(team_admin_client, f"{API}/users/{user.id}", {"team_id": None}, user), 403, "team_id")
    user.refresh_from_db()
    assert user.team_id is not None


def test_a_job_cannot_be_given_to_another_team(user_client, job, other_team):
    etag = job.etag

    response = put(user_client, f"{API}/jobs/{job.id}", {"team_id": str(other_team.id), "comment": "x"}, job)

    refused(response, 400, "team_id")
    job.refresh_from_db()
    assert (job.team_id, job.comment, job.etag) == (job.remoteci.team_id, "", etag)


@pytest.mark.parametrize(
    "field,value",
    [
        ("remoteci_id", "00000000-0000-0000-0000-000000000001"),
        ("topic_id", None),
        ("jobdefinition_id", None),
        ("recheck", True),
        ("user_agent", "forged/1.0"),
        ("client_version", "forged"),
        ("duration", 99),
        ("product_id", "00000000-0000-0000-0000-000000000003"),
        ("pipeline_id", "00000000-0000-0000-0000-000000000004"),
        ("id", "00000000-0000-0000-0000-000000000002"),
        ("created_at", "2016-02-25T13:32:41.706080"),
    ],
)
def test_a_job_field_put_does_not_write_is_refused_when_it_differs(user_client, job, field, value):
    refused(put(user_client, f"{API}/jobs/{job.id}", {field: value}, job), 400, field)


def test_a_job_echoed_whole_with_a_new_comment_is_written(user_client, job):
    row = user_client.get(f"{API}/jobs/{job.id}").json()["job"]
    # An id spelled another way is still the same id.
    row["remoteci_id"] = row["remoteci_id"].upper()

    response = put(user_client, f"{API}/jobs/{job.id}", {**row, "comment": "annotated"}, job)

    assert response.status_code == 204, response.content
    assert Job.objects.get(pk=job.pk).comment == "annotated"


def test_a_stale_echo_is_a_412_not_a_complaint_about_its_etag(user_client, job):
    row = user_client.get(f"{API}/jobs/{job.id}").json()["job"]
    Job.objects.filter(pk=job.pk).update(etag="changed-meanwhile")

    response = user_client.put(
        f"{API}/jobs/{job.id}", json.dumps({**row, "comment": "late"}), content_type="application/json",
        HTTP_IF_MATCH=row["etag"],
    )  # fmt: skip

    assert response.status_code == 412


def test_a_member_cannot_move_a_remoteci_out_of_the_team_by_naming_a_team_they_cannot_see(
    user_client, remoteci, other_team
):
    response = put(user_client, f"{API}/remotecis/{remoteci.id}", {"team_id": str(other_team.id)}, remoteci)

    assert response.status_code == 400
    assert RemoteCI.objects.get(pk=remoteci.pk).team_id == remoteci.team_id


def test_the_2016_remoteci_update_with_active_null_still_passes(user_client, remoteci):
    body = {"name": remoteci.name, "team_id": str(remoteci.team_id), "data": remoteci.data, "active": None}

    assert put(user_client, f"{API}/remotecis/{remoteci.id}", body, remoteci).status_code == 204


@each(MUTABLE)
def test_every_resource_takes_its_own_representation_back(admin_client, resource, row):
    current = admin_client.get(resource.url_of(row)).json()[resource.singular]

    response = put(admin_client, resource.url_of(row), {**current, **resource.update_body}, row)

    assert response.status_code == 204, response.content


@each(MUTABLE)
def test_every_resource_refuses_a_new_id_or_creation_time(admin_client, resource, row):
    body = {"id": "00000000-0000-0000-0000-000000000003", "created_at": "2016-02-25T13:32:41.706080"}

    refused(put(admin_client, resource.url_of(row), body, row), 400, "id", "created_at")


def test_unknown_keys_are_still_ignored(user_client, job):
    response = put(user_client, f"{API}/jobs/{job.id}", {"comment": "x", "export_control": True, "tags": ["a"]}, job)

    assert response.status_code == 204


def test_a_super_admin_may_still_move_a_user(admin_client, user, other_team):
    response = put(admin_client, f"{API}/users/{user.id}", {"team_id": str(other_team.id), "role": "admin"}, user)

    assert response.status_code == 204
    assert User.objects.get(pk=user.pk).team_id == other_team.id
