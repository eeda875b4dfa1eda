"""POST /jobstates: validated by ``JobStateSerializer`` alone, written by one statement
(``services.jobstate_create``: the jobstate, the job's status, etag and heartbeat, the audit
entry) and answered by the serializer."""

import json
import uuid

import pytest
from django.utils import timezone

from conftest import client_for
from dciserver.api.exceptions import BadRequest
from dciserver.models import AuditLog
from jobs import services
from jobs.api.jobs import JobStateSerializer, JobStateViewSet
from jobs.models import Job, JobState

pytestmark = pytest.mark.django_db


def _post(client, body):
    """``body`` as the JSON text of the request, whatever it is (a list, a string, ``null``)."""
    return client.generic("POST", "/api/v1/jobstates", json.dumps(body), content_type="application/json")


def _stored(response):
    jobstate = JobState.objects.get(pk=response.json()["jobstate"]["id"])
    audit = AuditLog.objects.get(object_id=str(jobstate.id))
    return jobstate, audit


def _representation(jobstate):
    return json.loads(json.dumps(JobStateSerializer(jobstate).data, default=str))


@pytest.mark.parametrize(
    ("body", "comment"),
    [
        ({"status": "running"}, ""),
        ({"status": "pre-run", "comment": "  spaced out \n"}, "spaced out"),
        ({"status": "post-run", "comment": None}, ""),
        ({"status": "success", "comment": "réussi ✓"}, "réussi ✓"),
        ({"status": "failure", "comment": ""}, ""),
        ({"status": "running", "state": "active"}, ""),
    ],
)
def test_a_report_is_written_with_its_job_and_audit_entry_and_answered_by_the_serializer(
    user_client, user, job, body, comment
):
    etag = job.etag
    response = user_client.post("/api/v1/jobstates", {"job_id": str(job.id), **body})

    assert response.status_code == 201, response.content
    assert not response.has_header("ETag")
    jobstate, audit = _stored(response)
    # The answer is the serializer's representation of the stored row.
    assert response.json()["jobstate"] == _representation(jobstate)
    assert (jobstate.status, jobstate.comment, jobstate.job_id, jobstate.team_id) == (
        body["status"],
        comment,
        job.id,
        job.team_id,
    )
    assert (jobstate.state, jobstate.archived_at) == ("active", None)
    assert {
        "user_id": audit.user_id,
        "user_name": audit.user_name,
        "team_id": audit.team_id,
        "action": audit.action,
        "resource": audit.resource,
        "method": audit.method,
        "path": audit.path,
        "status_code": audit.status_code,
        "created_at": audit.created_at,
    } == {
        "user_id": user.id,
        "user_name": user.name,
        "team_id": user.team_id,
        "action": "create",
        "resource": "jobstate",
        "method": "POST",
        "path": "/api/v1/jobstates",
        "status_code": 201,
        "created_at": jobstate.created_at,
    }
    # The job took the status, a new etag and its heartbeat, the jobstate's time.
    job.refresh_from_db()
    assert (job.status, job.updated_at) == (body["status"], jobstate.created_at)
    assert job.etag not in (None, "", etag)


def test_every_report_is_validated_by_the_serializer(user_client, job, monkeypatch):
    # One validator: no body, however plain, is taken by another way than the serializer's.
    validated = []
    to_internal_value = JobStateSerializer.to_internal_value

    def spy(self, data):
        validated.append(data)
        return to_internal_value(self, data)

    monkeypatch.setattr(JobStateSerializer, "to_internal_value", spy)
    body = {"job_id": str(job.id), "status": "running"}
    response = user_client.post("/api/v1/jobstates", body)

    assert response.status_code == 201, response.content
    assert validated == [body]
    assert "create" not in vars(JobStateViewSet)  # the base viewset's create, as every resource's


def test_the_report_statement_writes_every_column_of_a_jobstate():
    # A column added to JobState is written without another change to the service.
    sql, columns, _ = services._report_statement(True)
    written = {field.attname for field in columns} | set(services._FROM_JOB)
    assert written == {field.attname for field in JobState._meta.concrete_fields}
    for field in JobState._meta.concrete_fields:
        assert f'"{field.column}"' in sql


def test_another_teams_job_is_refused_and_nothing_is_written(outsider_client, job):
    etag = job.etag
    response = outsider_client.post("/api/v1/jobstates", {"job_id": str(job.id), "status": "running"})

    assert response.status_code == 400
    assert response.json()["payload"]["errors"]["job_id"] == [f'Unknown id "{job.id}".']
    assert not JobState.objects.exists() and not AuditLog.objects.exists()
    job.refresh_from_db()
    assert (job.status, job.etag) == ("new", etag)


def test_an_archived_job_takes_no_report(user_client, job):
    Job.objects.filter(pk=job.pk).update(archived_at=timezone.now())
    response = user_client.post("/api/v1/jobstates", {"job_id": str(job.id), "status": "running"})

    assert response.status_code == 400
    assert "job_id" in response.json()["payload"]["errors"]
    assert not JobState.objects.exists() and not AuditLog.objects.exists()


def test_a_job_archived_after_the_validation_takes_no_report(user, job):
    # The write checks the job again, under its row lock: archived meanwhile, it takes nothing.
    Job.objects.filter(pk=job.pk).update(archived_at=timezone.now())

    with pytest.raises(BadRequest) as refused:
        services.jobstate_create(job=job, status="running")

    assert refused.value.payload == {"errors": {"job_id": [f'Unknown id "{job.id}".']}}
    assert not JobState.objects.exists()
    assert Job.objects.get(pk=job.pk).status == "new"


def test_an_unknown_job_is_refused(user_client, job):
    unknown = uuid.uuid4()
    response = user_client.post("/api/v1/jobstates", {"job_id": str(unknown), "status": "running"})

    assert response.status_code == 400
    assert response.json()["payload"]["errors"]["job_id"] == [f'Unknown id "{unknown}".']
    assert not JobState.objects.exists()


def test_a_user_without_a_team_reports_on_no_job(job):
    from teams.models import User

    loner = User.objects.create_user("loner", "s3cret-password", team=None, role="user")
    response = client_for(loner).post("/api/v1/jobstates", {"job_id": str(job.id), "status": "running"}, format="json")

    assert response.status_code == 400
    assert not JobState.objects.exists()


def test_a_super_admin_reports_on_any_teams_job(admin_client, super_admin, job):
    response = admin_client.post("/api/v1/jobstates", {"job_id": str(job.id), "status": "killed"})

    assert response.status_code == 201, response.content
    jobstate, audit = _stored(response)
    assert response.json()["jobstate"]["team_id"] == str(job.team_id) == str(jobstate.team_id)
    assert (audit.user_id, audit.team_id, audit.resource) == (super_admin.id, super_admin.team_id, "jobstate")


def test_a_report_for_a_job_id_of_another_form_is_taken(user_client, job):
    response = user_client.post("/api/v1/jobstates", {"job_id": job.id.hex.upper(), "status": "running"})

    assert response.status_code == 201, response.content
    assert response.json()["jobstate"]["job_id"] == str(job.id)


# Plain and odd bodies, on the job JOB_ID of the caller's team: what is stored and answered.
JOB_ID = "3f1e5d2a-8a34-4b8e-9d43-5d3c1c1f7a10"
PLAIN = [
    ({"job_id": JOB_ID, "status": "running"}, ("running", "")),
    ({"job_id": JOB_ID, "status": "post-run", "comment": "done"}, ("post-run", "done")),
    ({"job_id": JOB_ID, "status": "new", "comment": None}, ("new", "")),
    ({"job_id": JOB_ID, "status": "failure", "comment": " x" * 32768 + "  "}, ("failure", ("x " * 32768).strip())),
    ({"job_id": JOB_ID.upper(), "status": "success", "comment": "ok"}, ("success", "ok")),
    ({"job_id": "{" + JOB_ID + "}", "status": "success"}, ("success", "")),
    # Keys the serializer takes beyond the plain ones: a read-only team_id is ignored (the
    # job's team is the jobstate's), a state is the jobstate's.
    ({"job_id": JOB_ID, "status": "running", "team_id": JOB_ID}, ("running", "")),
    ({"job_id": JOB_ID, "status": "running", "state": "inactive"}, ("running", "")),
]
NOT_AN_OBJECT = (None, "The request body must be a JSON object.")
ODD = [
    ({"job_id": JOB_ID}, {"status": ["This field is required."]}),
    ({"status": "running"}, {"job_id": ["This field is required."]}),
    ({"job_id": JOB_ID, "status": "Running"}, {"status": ['"Running" is not a valid choice.']}),
    ({"job_id": JOB_ID, "status": " running"}, {"status": ['" running" is not a valid choice.']}),
    ({"job_id": JOB_ID, "status": ""}, {"status": ['"" is not a valid choice.']}),
    ({"job_id": JOB_ID, "status": None}, {"status": ["This field may not be null."]}),
    ({"job_id": JOB_ID, "status": ["running"]}, {"status": ["\"['running']\" is not a valid choice."]}),
    ({"job_id": JOB_ID, "status": "running", "comment": 42}, {"comment": ["Not a valid string."]}),
    ({"job_id": JOB_ID, "status": "running", "comment": True}, {"comment": ["Not a valid string."]}),
    ({"job_id": JOB_ID, "status": "running", "comment": {"a": 1}}, {"comment": ["Not a valid string."]}),
    (
        {"job_id": JOB_ID, "status": "running", "comment": "nul \x00 inside"},
        {"comment": ["Null characters are not allowed."]},
    ),
    (
        {"job_id": JOB_ID, "status": "running", "comment": "lone \ud800 surrogate"},
        {"comment": ["Surrogate characters are not allowed: U+D800."]},
    ),
    (
        {"job_id": JOB_ID, "status": "running", "comment": "x" * 65537},
        {"comment": ["Ensure this field has no more than 65536 characters."]},
    ),
    ({"job_id": JOB_ID, "status": "running", "state": "unknown"}, {"state": ['"unknown" is not a valid choice.']}),
    ({"job_id": "not-a-uuid", "status": "running"}, {"job_id": ['"not-a-uuid" is not a valid UUID.']}),
    ({"job_id": 12, "status": "running"}, {"job_id": ["Expected an id (a UUID), got int."]}),
    ({"job_id": None, "status": "running"}, {"job_id": ["This field may not be null."]}),
    ({"job_id": True, "status": "running"}, {"job_id": ["Expected an id (a UUID), got bool."]}),
    ([{"job_id": JOB_ID, "status": "running"}], NOT_AN_OBJECT),
    ("running", NOT_AN_OBJECT),
    (None, NOT_AN_OBJECT),
]


@pytest.fixture
def job_of_known_id(remoteci, jobdefinition):
    return Job.objects.create(
        id=uuid.UUID(JOB_ID),
        remoteci=remoteci,
        jobdefinition=jobdefinition,
        topic=jobdefinition.topic,
        team=remoteci.team,
    )


@pytest.mark.parametrize(("body", "stored"), PLAIN)
def test_a_plain_body_is_stored_and_answered_as_the_serializer_reads_it(user_client, job_of_known_id, body, stored):
    response = _post(user_client, body)

    assert response.status_code == 201, response.content
    jobstate, _ = _stored(response)
    assert (jobstate.status, jobstate.comment) == stored
    assert (jobstate.job_id, jobstate.team_id) == (job_of_known_id.id, job_of_known_id.team_id)
    assert jobstate.state == body.get("state", "active")
    assert response.json()["jobstate"] == _representation(jobstate)
    assert Job.objects.get(pk=job_of_known_id.pk).status == stored[0]


@pytest.mark.parametrize(("body", "errors"), ODD)
def test_an_odd_body_is_refused_naming_its_field_and_nothing_is_written(user_client, job_of_known_id, body, errors):
    etag = job_of_known_id.etag
    response = _post(user_client, body)

    assert response.status_code == 400, response.content
    if errors is NOT_AN_OBJECT:
        assert (response.json()["payload"], response.json()["message"]) == ({}, errors[1])
    else:
        assert response.json()["message"] == "Request malformed"
        assert response.json()["payload"] == {"errors": errors}
    assert not JobState.objects.exists() and not AuditLog.objects.exists()
    job_of_known_id.refresh_from_db()
    assert (job_of_known_id.status, job_of_known_id.etag) == ("new", etag)


@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_leave_the_job_with_its_newest_jobstates_status(user, job):
    # Reports on one job wait for each other's row lock: the one written last must be the newest
    # jobstate (by created_at), whose status the job then holds, whatever order they arrived in.
    # Every fourth also names its state, so that not every body is alike.
    import threading

    from django.db import connections

    statuses = ["pre-run", "running", "post-run", "success", "failure", "error", "killed", "new"]

    def report(n, round_, barrier, answers):
        try:
            client = client_for(user)
            body = {"job_id": str(job.id), "status": statuses[n % len(statuses)], "comment": f"{round_}-{n}"}
            if n % 4 == 0:
                body["state"] = "active"
            barrier.wait()
            answers.append(client.post("/api/v1/jobstates", body, format="json").status_code)
        finally:
            connections.close_all()

    for round_ in range(4):
        barrier, answers = threading.Barrier(16), []
        threads = [threading.Thread(target=report, args=(n, round_, barrier, answers)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert answers == [201] * 16
        newest = JobState.objects.filter(job=job).order_by("-created_at").first()
        job.refresh_from_db()
        assert job.status == newest.status, (round_, job.status, newest.status, newest.comment)
        assert job.updated_at == newest.created_at
