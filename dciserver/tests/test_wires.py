"""The two wires (SPEC §9): which one a request is on, and each answer that differs between them."""

import io

import pytest

from conftest import SignedClient, if_match

pytestmark = pytest.mark.django_db

API = "/api/v1"
MODERN_CLIENT = {"HTTP_CLIENT_VERSION": "python-dciclient_4.2.0.post202610141218"}
SEED_CLIENT = {"HTTP_CLIENT_VERSION": "python-dciclient_0.1a10"}
JUNIT = (
    b'<testsuite name="unit" tests="2"><testcase classname="a" name="ok"/>'
    b'<testcase classname="a" name="ko"><failure/></testcase></testsuite>'
)


def modern(client):
    client.credentials(**{**client._credentials, **MODERN_CLIENT})
    return client


def put_status(client, remoteci, headers=()):
    return client.put(f"{API}/remotecis/{remoteci.id}", {"name": "renamed"}, **if_match(remoteci), **dict(headers))


# Which wire -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers,default,expected",
    [
        ({}, "seed", 204),
        (SEED_CLIENT, "seed", 204),
        (MODERN_CLIENT, "seed", 200),
        ({"HTTP_CLIENT_VERSION": "python-dciclient_1.0.0"}, "seed", 200),
        ({}, "modern", 200),
        (SEED_CLIENT, "modern", 204),
        ({"HTTP_CLIENT_VERSION": "dci-ui 3.2"}, "modern", 200),
        ({"HTTP_CLIENT_VERSION": "dci-ui 3.2"}, "seed", 204),
    ],
)
def test_the_wire_is_chosen_by_the_client_version_and_the_default(
    settings, user_client, remoteci, headers, default, expected
):
    settings.DCI_DEFAULT_WIRE = default

    assert put_status(user_client, remoteci, headers).status_code == expected


def test_a_signed_request_is_on_the_modern_wire(settings, remoteci):
    settings.DCI_DEFAULT_WIRE = "seed"

    response = SignedClient(remoteci).put(f"{API}/remotecis/{remoteci.id}", {"name": "renamed"}, **if_match(remoteci))

    assert response.status_code == 200 and response.json()["remoteci"]["name"] == "renamed"


# Each difference, on both wires ------------------------------------------------------------------


def test_a_put_answers_204_on_the_seed_wire_and_the_row_on_the_modern_one(user_client, job):
    seed = user_client.put(f"{API}/jobs/{job.id}", {"comment": "seed"}, **if_match(job))
    assert seed.status_code == 204 and seed.content == b"" and seed["ETag"]

    answer = modern(user_client).put(f"{API}/jobs/{job.id}", {"comment": "modern"}, **if_match(job))

    assert answer.status_code == 200, answer.content
    row = answer.json()["job"]
    assert row["comment"] == "modern" and answer["ETag"] == row["etag"] != seed["ETag"]
    assert "remoteci" not in row  # a write's answer is the row alone


def test_users_me_answers_as_every_put(user_client, user):
    assert user_client.put(f"{API}/users/me", {"fullname": "Seed"}, **if_match(user)).status_code == 204
    answer = modern(user_client).put(f"{API}/users/me", {"fullname": "Modern"}, **if_match(user))
    assert answer.status_code == 200 and answer.json()["user"]["fullname"] == "Modern"
    assert "password" not in answer.json()["user"]


def test_a_duplicate_is_422_on_the_seed_wire_and_409_on_the_modern_one(admin_client, team):
    seed = admin_client.post(f"{API}/teams", {"name": team.name})
    assert (seed.status_code, seed.json()["message"]) == (422, "conflict on team")

    answer = modern(admin_client).post(f"{API}/teams", {"name": team.name})

    assert answer.status_code == 409 and answer.json()["status_code"] == 409


def test_the_modern_wire_inlines_a_jobs_relations(user_client, job, jobstate, file):
    from files.services import file_create

    file_create(job=job, name="unit.xml", mime="application/junit", stream=io.BytesIO(JUNIT))
    seed = user_client.get(f"{API}/jobs/{job.id}").json()["job"]
    assert not {"remoteci", "topic", "team", "components", "results", "jobstates", "files"} & set(seed)

    client = modern(user_client)
    one = client.get(f"{API}/jobs/{job.id}").json()["job"]
    listed = client.get(f"{API}/jobs").json()["jobs"][0]

    assert one["remoteci"]["id"] == str(job.remoteci_id) and "api_secret" not in one["remoteci"]
    assert (one["topic"]["id"], one["team"]["id"]) == (str(job.topic_id), str(job.team_id))
    assert [c["id"] for c in one["components"]] == [str(c.id) for c in job.components.all()]
    assert [r["name"] for r in one["results"]] == ["unit"]
    assert [s["id"] for s in one["jobstates"]] == [str(jobstate.id)]
    assert {f["name"] for f in one["files"]} == {"console.log", "unit.xml"}
    assert {"remoteci", "topic", "team", "components", "results"} <= set(listed)
    assert not {"jobstates", "files"} & set(listed)
    # embed= is still accepted beside them.
    assert "jobstates" in client.get(f"{API}/jobs?embed=jobstates").json()["jobs"][0]


def test_results_are_a_dict_on_the_seed_wire_and_a_list_on_the_modern_one(user_client, job):
    from files.services import file_create

    report = file_create(job=job, name="unit.xml", mime="application/junit", stream=io.BytesIO(JUNIT))
    seed = user_client.get(f"{API}/jobs/{job.id}/results").json()
    assert seed["results"]["unit.xml"]["total"] == "2"

    answer = modern(user_client).get(f"{API}/jobs/{job.id}/results").json()

    assert answer["_meta"]["count"] == 1
    (row,) = answer["results"]
    assert (row["file_id"], row["total"], row["success"], row["failures"]) == (str(report.id), 2, 1, 1)
    assert (row["regressions"], row["successfixes"], row["job_id"]) == (0, 0, str(job.id))


def test_where_is_exact_on_the_seed_wire_and_case_insensitive_on_the_modern_one(admin_client, team, other_team):
    def names(client, clause):
        return sorted(row["name"] for row in client.get(f"{API}/teams", {"where": clause}).json()["teams"])

    assert names(admin_client, "name:LAB") == []
    assert names(admin_client, "name:la*") == ["lab"]
    assert names(admin_client, "name:ab*") == []

    client = modern(admin_client)
    assert names(client, "name:LAB") == ["lab"]
    assert names(client, "name:AB*") == ["lab", "rival-lab"]
    assert names(client, "name:VAL*") == ["rival-lab"]


def test_a_column_of_fixed_values_is_matched_regardless_of_case_by_its_own_value(user_client, job):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dciserver import prepared

    client = modern(user_client)
    with CaptureQueriesContext(connection) as queries:
        listed = client.get(f"{API}/jobs", {"where": "state:ACTIVE,status:New"}).json()["jobs"]
    run = [prepared.original(connection, q["sql"]) for q in queries.captured_queries]
    inactive = client.get(f"{API}/jobs", {"where": "state:Inactive"}).json()["jobs"]

    assert [row["id"] for row in listed] == [str(job.id)] and inactive == []
    # Compared with the column's own value, which its indexes and statistics serve.
    chosen = [sql for sql in run if '"state" = ' in sql]
    assert chosen and not any("UPPER(" in sql for sql in chosen), run
