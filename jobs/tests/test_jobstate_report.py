"""POST /jobstates by one statement (``services.jobstate_report``) where the body is plain: the
same rows, audit entry and answer as the serializer's way, which still words every error."""

import json
import uuid
from types import SimpleNamespace

import pytest
from django.utils import timezone

from conftest import client_for
from dciserver.models import AuditLog
from jobs import services
from jobs.api.jobs import JobStateSerializer, plain_report
from jobs.models import Job, JobState

pytestmark = pytest.mark.django_db


@pytest.fixture
def reports(monkeypatch):
    """What each POST's ``jobstate_report`` answered (``None``: the serializer's way was taken)."""
    answered = []
    report = services.jobstate_report

    def spy(**kwargs):
        answered.append(report(**kwargs))
        return answered[-1]

    monkeypatch.setattr(services, "jobstate_report", spy)
    return answered


def _stored(response):
    jobstate = JobState.objects.get(pk=response.json()["jobstate"]["id"])
    audit = AuditLog.objects.get(object_id=str(jobstate.id))
    return jobstate, audit


def _without(values, *names):
    return {key: value for key, value in values.items() if key not in names}


@pytest.mark.parametrize(
    "body",
    [
        {"status": "running"},
        {"status": "pre-run", "comment": "  spaced out \n"},
        {"status": "post-run", "comment": None},
        {"status": "success", "comment": "réussi ✓"},
        {"status": "failure", "comment": ""},
    ],
)
def test_a_plain_report_is_written_and_answered_as_the_serializer_does(user_client, job, reports, body):
    # "state": "active" (the default) is a key only the serializer takes: the other way, same rows.
    body = {"job_id": str(job.id), **body}
    fast = user_client.post("/api/v1/jobstates", body)
    job.refresh_from_db()
    fast_job = (job.status, job.etag, job.updated_at)
    slow = user_client.post("/api/v1/jobstates", {**body, "state": "active"})

    assert fast.status_code == slow.status_code == 201, (fast.content, slow.content)
    assert reports[0] is not None and len(reports) == 1  # the second went the serializer's way
    assert _without(fast.json()["jobstate"], "id", "created_at") == _without(
        slow.json()["jobstate"], "id", "created_at"
    )
    assert fast.has_header("ETag") is slow.has_header("ETag") is False
    (fast_row, fast_audit), (slow_row, slow_audit) = _stored(fast), _stored(slow)
    # The answer is the serializer's representation of the stored row.
    assert fast.json()["jobstate"] == json.loads(json.dumps(JobStateSerializer(fast_row).data, default=str))
    columns = [field.attname for field in JobState._meta.concrete_fields if field.attname not in ("id", "created_at")]
    assert {c: getattr(fast_row, c) for c in columns} == {c: getattr(slow_row, c) for c in columns}
    audit_columns = [
        f.attname for f in AuditLog._meta.concrete_fields if f.attname not in ("id", "created_at", "object_id")
    ]
    assert {c: getattr(fast_audit, c) for c in audit_columns} == {c: getattr(slow_audit, c) for c in audit_columns}
    assert fast_audit.created_at == fast_row.created_at
    # The job took the status, a new etag and its heartbeat.
    assert fast_job[0] == body["status"]
    assert fast_job[2] == fast_row.created_at
    assert fast_job[1] not in (None, "") and fast_job[1] != Job.objects.get(pk=job.pk).etag


def test_another_teams_job_is_refused_as_before_and_nothing_is_written(outsider_client, job, reports):
    etag = job.etag
    response = outsider_client.post("/api/v1/jobstates", {"job_id": str(job.id), "status": "running"})

    assert response.status_code == 400
    assert response.json()["payload"]["errors"]["job_id"] == [f'Unknown id "{job.id}".']
    assert reports == [None]
    assert not JobState.objects.exists() and not AuditLog.objects.exists()
    job.refresh_from_db()
    assert (job.status, job.etag) == ("new", etag)


def test_an_archived_job_takes_no_report(user_client, job, reports):
    Job.objects.filter(pk=job.pk).update(archived_at=timezone.now())
    response = user_client.post("/api/v1/jobstates", {"job_id": str(job.id), "status": "running"})

    assert response.status_code == 400
    assert "job_id" in response.json()["payload"]["errors"]
    assert reports == [None] and not JobState.objects.exists() and not AuditLog.objects.exists()


def test_an_unknown_job_is_refused(user_client, job, reports):
    unknown = uuid.uuid4()
    response = user_client.post("/api/v1/jobstates", {"job_id": str(unknown), "status": "running"})

    assert response.status_code == 400
    assert response.json()["payload"]["errors"]["job_id"] == [f'Unknown id "{unknown}".']
    assert not JobState.objects.exists()


def test_a_user_without_a_team_reports_on_no_job(job, reports):
    from teams.models import User

    loner = User.objects.create_user("loner", "s3cret-password", team=None, role="user")
    response = client_for(loner).post("/api/v1/jobstates", {"job_id": str(job.id), "status": "running"}, format="json")

    assert response.status_code == 400
    assert reports == [None] and not JobState.objects.exists()


def test_a_super_admin_reports_on_any_teams_job(admin_client, super_admin, job, reports):
    response = admin_client.post("/api/v1/jobstates", {"job_id": str(job.id), "status": "killed"})

    assert response.status_code == 201, response.content
    assert reports[0] is not None
    jobstate, audit = _stored(response)
    assert response.json()["jobstate"]["team_id"] == str(job.team_id) == str(jobstate.team_id)
    assert (audit.user_id, audit.team_id, audit.resource) == (super_admin.id, super_admin.team_id, "jobstate")


def test_a_report_for_a_job_id_of_another_form_is_plain_too(user_client, job, reports):
    response = user_client.post("/api/v1/jobstates", {"job_id": job.id.hex.upper(), "status": "running"})

    assert response.status_code == 201, response.content
    assert reports[0] is not None
    assert response.json()["jobstate"]["job_id"] == str(job.id)


# Bodies ``plain_report`` must judge as the serializer does: where it takes one, the serializer
# takes it with the same values; the common ones it takes.
JOB_ID = "3f1e5d2a-8a34-4b8e-9d43-5d3c1c1f7a10"
PLAIN = [
    {"job_id": JOB_ID, "status": "running"},
    {"job_id": JOB_ID, "status": "post-run", "comment": "done"},
    {"job_id": JOB_ID, "status": "new", "comment": None},
    {"job_id": JOB_ID, "status": "failure", "comment": " x" * 32768 + "  "},
    {"job_id": JOB_ID.upper(), "status": "success", "comment": "ok"},
    {"job_id": "{" + JOB_ID + "}", "status": "success"},
]
ODD = [
    {"job_id": JOB_ID},
    {"status": "running"},
    {"job_id": JOB_ID, "status": "Running"},
    {"job_id": JOB_ID, "status": " running"},
    {"job_id": JOB_ID, "status": ""},
    {"job_id": JOB_ID, "status": None},
    {"job_id": JOB_ID, "status": ["running"]},
    {"job_id": JOB_ID, "status": "running", "comment": 42},
    {"job_id": JOB_ID, "status": "running", "comment": True},
    {"job_id": JOB_ID, "status": "running", "comment": {"a": 1}},
    {"job_id": JOB_ID, "status": "running", "comment": "nul \x00 inside"},
    {"job_id": JOB_ID, "status": "running", "comment": "lone \ud800 surrogate"},
    {"job_id": JOB_ID, "status": "running", "comment": "x" * 65537},
    {"job_id": JOB_ID, "status": "running", "state": "inactive"},
    {"job_id": JOB_ID, "status": "running", "team_id": JOB_ID},
    {"job_id": "not-a-uuid", "status": "running"},
    {"job_id": 12, "status": "running"},
    {"job_id": None, "status": "running"},
    {"job_id": True, "status": "running"},
    [{"job_id": JOB_ID, "status": "running"}],
    "running",
    None,
]


@pytest.mark.parametrize("body", PLAIN + ODD)
def test_plain_report_takes_only_what_the_serializer_takes_unchanged(user, remoteci, jobdefinition, body):
    Job.objects.create(
        id=uuid.UUID(JOB_ID),
        remoteci=remoteci,
        jobdefinition=jobdefinition,
        topic=jobdefinition.topic,
        team=remoteci.team,
    )
    report = plain_report(body)
    serializer = JobStateSerializer(data=body, context={"request": SimpleNamespace(user=user)})
    valid = isinstance(body, dict) and serializer.is_valid()

    if body in PLAIN:
        assert report is not None and valid, serializer.errors
    if report is not None:
        assert valid, serializer.errors
        data = serializer.validated_data
        assert report == (data["job"].id, data["status"], data.get("comment") or "")


@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_leave_the_job_with_its_newest_jobstates_status(user, job):
    # Reports on one job wait for each other's row lock: the one written last must be the newest
    # jobstate (by created_at), whose status the job then holds, whatever order they arrived in.
    # Every fourth goes the serializer's way ("state": a key only it takes).
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
