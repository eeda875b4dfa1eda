"""The 2025 job model (SPEC §12): its fields, creation and schedule by a remoteci, tags, key/values,
components, follow-up jobs and pipelines, against the bodies of the reference (§5–§6)."""

import io
import json

import pytest

from conftest import SignedClient, if_match
from jobs.models import Component, Job, JobKeyValue, Pipeline, Topic

pytestmark = pytest.mark.django_db

API = "/api/v1"
MODERN = {"HTTP_CLIENT_VERSION": "python-dciclient_4.2.0"}


def modern(client):
    client.credentials(**{**client._credentials, **MODERN})
    return client


def body(response):
    return json.loads(response.content) if response.content else None


@pytest.fixture
def ocp(team, product):
    """A topic of the lab's product with two component types, each with an older and a newer global
    component, and a team component the schedule must not take."""
    topic = Topic.objects.create(
        name="OCP-4.19", component_types=["ocp", "operators"], product=product, export_control=True
    )
    made = {}
    for name in ["ocp-4.19.0", "operators-1", "ocp-4.19.1", "operators-2"]:
        kind = name.split("-")[0]
        made[name] = Component.objects.create(name=name, type=kind, topic=topic)
    Component.objects.create(name="ocp-team-build", type="ocp", topic=topic, team=team)
    return topic, made


@pytest.fixture
def agent(remoteci):
    return SignedClient(remoteci)


def schedule(agent, topic, **fields):
    return agent.post(f"{API}/jobs/schedule", {"topic_id": str(topic.id), **fields}, format="json")


# Schedule and create ---------------------------------------------------------------------------


def test_a_remoteci_schedules_a_job_on_the_latest_global_component_of_each_type(agent, remoteci, ocp):
    topic, made = ocp

    response = schedule(agent, topic, name="openshift-vanilla", tags=["agent:openshift", " "], url="https://ci/1")

    assert response.status_code == 201, response.content
    job = response.json()["job"]
    assert response["ETag"] == job["etag"]
    assert (job["remoteci_id"], job["team_id"], job["topic_id"]) == (
        str(remoteci.id),
        str(remoteci.team_id),
        str(topic.id),
    )
    assert job["product_id"] == str(topic.product_id)
    assert (job["name"], job["tags"], job["url"], job["status"], job["duration"]) == (
        "openshift-vanilla",
        ["agent:openshift"],
        "https://ci/1",
        "new",
        0,
    )
    components = set(Job.objects.get(pk=job["id"]).components.values_list("name", flat=True))
    assert components == {"ocp-4.19.1", "operators-2"}


def test_a_modern_schedule_makes_a_new_job_every_time_and_kills_nothing(settings, agent, ocp):
    settings.DCI_SCHEDULE_KILLS_UNFINISHED = True
    topic, _ = ocp

    # (Two bodies: the same signed request twice would be refused as a replay.)
    first, second = schedule(agent, topic, name="a").json()["job"], schedule(agent, topic, name="b").json()["job"]

    assert first["id"] != second["id"]
    assert Job.objects.get(pk=first["id"]).status == "new"


def test_pinned_components_make_the_job(agent, ocp):
    topic, made = ocp
    pinned = [str(made["ocp-4.19.0"].id), str(made["operators-1"].id)]

    job = schedule(agent, topic, components_ids=pinned).json()["job"]

    assert set(map(str, Job.objects.get(pk=job["id"]).components.values_list("id", flat=True))) == set(pinned)


@pytest.mark.parametrize(
    "pins,expected",
    [
        (["ocp-4.19.0"], 412),  # one per type
        (["ocp-4.19.0", "ocp-4.19.1"], 412),  # the same type twice
        (["ocp-4.19.0", "unknown"], 404),
    ],
)
def test_pins_that_are_not_one_component_per_type_are_refused(agent, ocp, pins, expected):
    topic, made = ocp
    ids = [str(made[name].id) if name in made else "4b4c4e4d-0000-4000-8000-000000000000" for name in pins]

    response = schedule(agent, topic, components_ids=ids)

    assert response.status_code == expected and response.json()["message"]
    assert not Job.objects.exists()


def test_a_type_without_a_global_component_is_a_412_naming_it(agent, ocp):
    topic, _ = ocp
    Topic.objects.filter(pk=topic.pk).update(component_types=["ocp", "rhcos"])

    response = schedule(agent, topic)

    assert response.status_code == 412 and '"rhcos"' in response.json()["message"]


def test_a_topic_the_team_does_not_reach_is_a_412_and_an_unknown_one_a_404(agent, ocp, other_topic):
    assert schedule(agent, other_topic).status_code == 412
    unknown = agent.post(f"{API}/jobs/schedule", {"topic_id": "4b4c4e4d-0000-4000-8000-000000000000"}, format="json")
    assert unknown.status_code == 404
    assert not Job.objects.exists()


def test_an_inactive_topic_is_a_412(agent, ocp):
    topic, _ = ocp
    Topic.objects.filter(pk=topic.pk).update(state="inactive")

    response = schedule(agent, topic)

    assert response.status_code == 412 and "not active" in response.json()["message"]


def test_a_user_on_the_seed_wire_keeps_the_seed_schedule(user_client, remoteci, jobdefinition, component):
    response = user_client.post(
        f"{API}/jobs/schedule", {"remoteci_id": str(remoteci.id), "topic_id": str(jobdefinition.topic_id)}
    )
    again = user_client.post(
        f"{API}/jobs/schedule", {"remoteci_id": str(remoteci.id), "topic_id": str(jobdefinition.topic_id)}
    )

    assert response.status_code == 201 and response.json()["job"]["jobdefinition_id"] == str(jobdefinition.id)
    assert again.status_code == 412  # one job per component set (SPEC §5)


def test_a_remoteci_creates_its_own_job_by_topic_and_components(agent, remoteci, ocp):
    topic, made = ocp

    response = agent.post(
        f"{API}/jobs",
        {"topic_id": str(topic.id), "components": [str(made["ocp-4.19.0"].id)], "name": "by-hand", "comment": None},
        format="json",
    )

    assert response.status_code == 201, response.content
    job = response.json()["job"]
    assert (job["remoteci_id"], job["name"], job["comment"]) == (str(remoteci.id), "by-hand", "")
    assert "components" not in job  # the 2025 answer: the job's values only


def test_a_remoteci_cannot_create_a_job_for_another_remoteci(agent, team, ocp):
    from teams.models import RemoteCI

    sibling = RemoteCI.objects.create(name="rack-2", team=team)
    topic, _ = ocp

    response = agent.post(
        f"{API}/jobs", {"topic_id": str(topic.id), "remoteci_id": str(sibling.id), "components": []}, format="json"
    )

    assert response.status_code == 400 and "remoteci_id" in response.json()["payload"]["errors"]


def test_a_job_url_must_be_http(agent, ocp):
    topic, _ = ocp

    response = agent.post(f"{API}/jobs", {"topic_id": str(topic.id), "url": "ftp://x"}, format="json")

    assert response.status_code == 400 and "url" in response.json()["payload"]["errors"]


# The job as the modern wire shows it -----------------------------------------------------------

JOB_KEYS_2025 = {
    "id", "created_at", "updated_at", "etag", "name", "comment", "status", "status_reason", "configuration",
    "url", "duration", "tags", "data", "topic_id", "remoteci_id", "team_id", "product_id", "pipeline_id",
    "previous_job_id", "update_previous_job_id", "state", "user_agent", "client_version",
}  # fmt: skip
INLINE_2025 = {
    "remoteci": {"id", "created_at", "updated_at", "etag", "name", "data", "team_id", "public", "state"},
    "topic": {
        "id", "created_at", "updated_at", "etag", "name", "component_types", "component_types_optional",
        "product_id", "next_topic_id", "export_control", "state", "data",
    },
    "team": {
        "id", "created_at", "updated_at", "etag", "name", "country", "state", "external", "has_pre_release_access",
    },
    "components": {
        "id", "created_at", "updated_at", "etag", "released_at", "name", "type", "canonical_project_name",
        "display_name", "version", "uid", "data", "title", "message", "url", "topic_id", "team_id", "state", "tags",
    },
    "jobstates": {"id", "created_at", "status", "comment", "job_id"},
    # Results are identified by their file; their times are the file's (``files``).
    "results": {"id", "name", "total", "success", "skips", "failures", "errors", "regressions", "successfixes",
                "flaky_regressions", "time", "job_id", "file_id"},
    "keys_values": {"job_id", "key", "value"},
    # Files are immutable rows here: no updated_at, no etag.
    "files": {"id", "created_at", "name", "mime", "md5", "size", "state", "jobstate_id", "team_id", "job_id"},
}  # fmt: skip


@pytest.fixture
def full_job(agent, ocp):
    """A scheduled job with a jobstate, a JUnit file, a plain file, a key/value and a pipeline."""
    topic, _ = ocp
    pipeline = agent.post(f"{API}/pipelines", {"name": "nightly", "team_id": str(topic.product.teams.get().id)})
    job = schedule(agent, topic, pipeline_id=pipeline.json()["pipeline"]["id"]).json()["job"]
    jobstate = agent.post(f"{API}/jobstates", {"job_id": job["id"], "status": "running"}, format="json")
    junit = b'<testsuite name="t"><testcase classname="c" name="ok"/></testsuite>'
    agent.post(f"{API}/files", junit, content_type="application/junit", HTTP_DCI_NAME="junit.xml",
               HTTP_DCI_MIME="application/junit", HTTP_DCI_JOB_ID=job["id"])  # fmt: skip
    agent.post(f"{API}/files", b"log", content_type="text/plain", HTTP_DCI_NAME="run.log",
               HTTP_DCI_JOBSTATE_ID=jobstate.json()["jobstate"]["id"])  # fmt: skip
    agent.post(f"{API}/jobs/{job['id']}/kv", {"key": "install_time", "value": 42.5}, format="json")
    return job


def test_a_job_read_alone_on_the_modern_wire_carries_every_relation_of_the_2025_server(agent, full_job):
    response = agent.get(f"{API}/jobs/{full_job['id']}")

    assert response.status_code == 200
    job = response.json()["job"]
    assert JOB_KEYS_2025 <= set(job)
    for name in ("components", "jobstates", "results", "keys_values", "files"):
        keys, rows = INLINE_2025[name], job[name]
        assert rows, name
        for row in rows:
            assert keys <= set(row), (name, keys - set(row))
    for name in ("remoteci", "topic", "team"):
        assert INLINE_2025[name] <= set(job[name]), name
    assert set(job["pipeline"]) >= {"id", "name", "team_id", "state", "created_at", "updated_at", "etag"}
    assert "api_secret" not in job["remoteci"]
    assert [f["name"] for f in job["files"]] == ["junit.xml"]  # the jobstate's file hangs from its jobstate
    assert job["keys_values"] == [{"job_id": full_job["id"], "key": "install_time", "value": 42.5}]
    assert job["results"][0]["total"] == 1 and job["results"][0]["regressions"] == 0


def test_a_list_on_the_modern_wire_carries_the_relations_but_not_jobstates_or_files(agent, full_job):
    response = agent.get(f"{API}/jobs", {"where": "state:active"})

    row = response.json()["jobs"][0]
    assert {"remoteci", "topic", "team", "components", "results", "pipeline", "keys_values"} <= set(row)
    assert "jobstates" not in row and "files" not in row


def test_the_seed_wire_shows_the_new_fields_and_no_relations(user_client, full_job):
    job = user_client.get(f"{API}/jobs/{full_job['id']}").json()["job"]

    assert JOB_KEYS_2025 <= set(job)
    assert "remoteci" not in job and "keys_values" not in job


def test_a_jobstate_refreshes_the_duration(agent, full_job):
    Job.objects.filter(pk=full_job["id"]).update(created_at=Job.objects.get(pk=full_job["id"]).created_at.replace(
        year=2020))  # fmt: skip

    agent.post(f"{API}/jobstates", {"job_id": full_job["id"], "status": "post-run"}, format="json")

    assert Job.objects.get(pk=full_job["id"]).duration > 365 * 24 * 3600


# Updates, tags, key/values, components ------------------------------------------------------------


def test_a_tag_is_added_as_the_library_does_it_get_then_put_with_if_match(agent, full_job):
    current = agent.get(f"{API}/jobs/{full_job['id']}")
    tags = [*current.json()["job"]["tags"], "ocp-4.19"]

    response = agent.put(f"{API}/jobs/{full_job['id']}", {"tags": tags}, format="json", HTTP_IF_MATCH=current["ETag"])

    assert response.status_code == 200
    assert response.json()["job"]["tags"] == ["ocp-4.19"] and response["ETag"] != current["ETag"]


def test_put_takes_the_modern_fields(agent, full_job):
    job = Job.objects.get(pk=full_job["id"])
    changes = {"name": "n2", "status_reason": "flaky net", "configuration": "sno", "url": "https://x/2"}

    response = agent.put(f"{API}/jobs/{job.id}", {**changes, "state": "inactive"}, format="json", **if_match(job))

    job.refresh_from_db()
    assert response.status_code == 200
    assert (job.name, job.status_reason, job.configuration, job.url, job.state) == (*changes.values(), "inactive")


def test_key_values_are_numbers_once_per_key(agent, full_job):
    url = f"{API}/jobs/{full_job['id']}/kv"

    created = agent.post(url, {"key": "nodes", "value": 3}, format="json")
    again = agent.post(url, {"key": "nodes", "value": 4}, format="json")
    text = agent.post(url, {"key": "speed", "value": "fast"}, format="json")
    extra = agent.post(url, {"key": "speed", "value": 1, "unit": "s"}, format="json")

    assert created.status_code == 201
    assert created.json() == {"kv": {"job_id": full_job["id"], "key": "nodes", "value": 3.0}}
    assert again.status_code == 409
    assert text.status_code == 400 and extra.status_code == 400
    assert JobKeyValue.objects.filter(job_id=full_job["id"]).count() == 2  # nodes, and install_time


def test_a_key_is_deleted_with_a_json_body_there_or_not(agent, full_job):
    url = f"{API}/jobs/{full_job['id']}/kv"

    first = agent.delete(url, {"key": "install_time"}, format="json")
    second = agent.delete(url, {"key": "never-recorded"}, format="json")

    assert (first.status_code, second.status_code) == (204, 204)
    assert not JobKeyValue.objects.filter(job_id=full_job["id"]).exists()


def test_a_key_value_changes_the_job_etag(agent, full_job):
    before = Job.objects.get(pk=full_job["id"]).etag

    agent.post(f"{API}/jobs/{full_job['id']}/kv", {"key": "k", "value": 1}, format="json")

    assert Job.objects.get(pk=full_job["id"]).etag != before


def test_components_are_attached_and_detached_as_the_modules_expect(agent, team, full_job, ocp):
    topic, _ = ocp
    built = Component.objects.create(display_name="kernel-6.1", type="kernel", topic=topic, team=team)
    url = f"{API}/jobs/{full_job['id']}/components"

    attached = agent.post(url, {"id": str(built.id)}, format="json")
    again = agent.post(url, {"id": str(built.id)}, format="json")
    detached = agent.delete(f"{url}/{built.id}")
    absent = agent.delete(f"{url}/{topic.id}")  # attached to nothing

    assert (attached.status_code, attached.content) == (201, b"")
    assert again.status_code == 409
    assert (detached.status_code, absent.status_code) == (201, 201)
    assert not Job.objects.get(pk=full_job["id"]).components.filter(pk=built.pk).exists()


def test_another_teams_component_cannot_be_attached(agent, other_team, full_job, ocp):
    topic, _ = ocp
    theirs = Component.objects.create(display_name="theirs", type="kernel", topic=topic, team=other_team)

    response = agent.post(f"{API}/jobs/{full_job['id']}/components", {"id": str(theirs.id)}, format="json")

    assert response.status_code == 400


def test_detaching_on_the_seed_wire_is_a_204(user_client, job, component):
    assert user_client.delete(f"{API}/jobs/{job.id}/components/{component.id}").status_code == 204


def test_another_team_cannot_touch_a_jobs_key_values_or_components(outsider_client, full_job):
    modern(outsider_client)
    url = f"{API}/jobs/{full_job['id']}"

    assert outsider_client.post(f"{url}/kv", {"key": "x", "value": 1}, format="json").status_code == 404
    assert outsider_client.delete(f"{url}/kv", {"key": "install_time"}, format="json").status_code == 404
    assert outsider_client.post(f"{url}/components", {"id": full_job["id"]}, format="json").status_code == 404
    assert JobKeyValue.objects.filter(job_id=full_job["id"]).count() == 1


# Update and upgrade --------------------------------------------------------------------------------


def test_update_makes_a_new_job_on_the_latest_components_following_the_old_one(agent, full_job, ocp):
    topic, _ = ocp
    newer = Component.objects.create(name="ocp-4.19.2", type="ocp", topic=topic)

    response = agent.post(f"{API}/jobs/{full_job['id']}/update")

    assert response.status_code == 201
    job = response.json()["job"]
    assert (job["previous_job_id"], job["update_previous_job_id"], job["name"]) == (full_job["id"], full_job["id"], "")
    assert newer in Job.objects.get(pk=job["id"]).components.all()


def test_upgrade_moves_the_job_to_the_next_topic(agent, full_job, ocp, product):
    topic, _ = ocp
    next_topic = Topic.objects.create(name="OCP-4.20", component_types=["ocp"], product=product, export_control=True)
    Component.objects.create(name="ocp-4.20.0", type="ocp", topic=next_topic)
    Topic.objects.filter(pk=topic.pk).update(next_topic=next_topic)

    response = agent.post(f"{API}/jobs/upgrade", {"job_id": full_job["id"]}, format="json")

    job = response.json()["job"]
    assert response.status_code == 201
    assert (job["topic_id"], job["previous_job_id"], job["update_previous_job_id"]) == (
        str(next_topic.id),
        full_job["id"],
        None,
    )


def test_upgrade_without_a_next_topic_is_a_400(agent, full_job):
    response = agent.post(f"{API}/jobs/upgrade", {"job_id": full_job["id"]}, format="json")

    assert response.status_code == 400 and "next topic" in response.json()["message"]


# Pipelines ---------------------------------------------------------------------------------------------


def test_a_pipeline_lists_its_jobs_oldest_first(agent, full_job, ocp):
    topic, _ = ocp
    pipeline_id = full_job["pipeline_id"]
    later = schedule(agent, topic, pipeline_id=pipeline_id, name="later").json()["job"]

    response = agent.get(f"{API}/pipelines/{pipeline_id}/jobs")

    assert [job["id"] for job in response.json()["jobs"]] == [full_job["id"], later["id"]]
    assert response.json()["jobs"][0]["pipeline"]["name"] == "nightly"


def test_a_pipeline_is_its_teams(outsider_client, agent, full_job, other_team):
    modern(outsider_client)
    pipeline_id = full_job["pipeline_id"]

    assert outsider_client.get(f"{API}/pipelines/{pipeline_id}").status_code == 404
    assert outsider_client.get(f"{API}/pipelines").json()["_meta"]["count"] == 0
    refused = agent.post(f"{API}/pipelines", {"name": "theirs", "team_id": str(other_team.id)}, format="json")
    assert refused.status_code == 400
    mine = outsider_client.post(f"{API}/pipelines", {"name": "mine", "team_id": str(other_team.id)}, format="json")
    assert mine.status_code == 201
    crossed = agent.post(f"{API}/jobs/schedule", {"topic_id": full_job["topic_id"],
                         "pipeline_id": mine.json()["pipeline"]["id"]}, format="json")  # fmt: skip
    assert crossed.status_code == 400


def test_a_pipeline_is_renamed_but_stays_in_its_team(agent, user_client, full_job, other_team):
    pipeline = Pipeline.objects.get(pk=full_job["pipeline_id"])

    renamed = agent.put(f"{API}/pipelines/{pipeline.id}", {"name": "weekly"}, format="json", **if_match(pipeline))
    moved = modern(user_client).put(
        f"{API}/pipelines/{pipeline.id}", {"team_id": str(other_team.id)}, format="json", **if_match(pipeline)
    )

    assert renamed.status_code == 200 and renamed.json()["pipeline"]["name"] == "weekly"
    assert moved.status_code in (400, 403)
    assert Pipeline.objects.get(pk=pipeline.id).team_id == pipeline.team_id


# GET /files ----------------------------------------------------------------------------------------------


def test_files_lists_the_callers_files_only(agent, outsider_client, full_job):
    mine = agent.get(f"{API}/files")
    theirs = outsider_client.get(f"{API}/files")

    assert mine.status_code == 200 and {f["name"] for f in mine.json()["files"]} == {"junit.xml", "run.log"}
    assert theirs.json()["_meta"]["count"] == 0


def test_files_are_uploaded_by_the_signed_agent_with_the_streamed_body(agent, full_job):
    response = agent.post(
        f"{API}/files", io.BytesIO(b"x" * 10).read(), content_type="text/plain",
        HTTP_DCI_NAME="more.log", HTTP_DCI_JOB_ID=full_job["id"],
    )  # fmt: skip

    assert response.status_code == 201 and response.json()["file"]["size"] == 10
