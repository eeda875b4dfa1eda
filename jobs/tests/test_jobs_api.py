import pytest

from jobs.models import Job, JobState

pytestmark = pytest.mark.django_db


def create_job(client, remoteci, jobdefinition, **extra):
    body = {"remoteci_id": str(remoteci.id), "jobdefinition_id": str(jobdefinition.id), **extra}
    return client.post("/api/v1/jobs", body, format="json")


def test_it_creates_a_job_for_the_remotecis_team(user_client, remoteci, jobdefinition, component):
    response = create_job(user_client, remoteci, jobdefinition, comment="first", components=[str(component.id)])

    assert response.status_code == 201, response.content
    job = response.json()["job"]
    assert response["ETag"] == job["etag"]
    assert job["status"] == "new"
    assert job["team_id"] == str(remoteci.team_id)
    assert job["topic_id"] == str(jobdefinition.topic_id)
    assert list(Job.objects.get(pk=job["id"]).components.all()) == [component]


def test_it_creates_a_job_from_a_topic_alone(user_client, remoteci, topic):
    response = user_client.post("/api/v1/jobs", {"remoteci_id": str(remoteci.id), "topic_id": str(topic.id)})

    assert response.status_code == 201, response.content
    assert response.json()["job"]["jobdefinition_id"] is None


def test_it_refuses_a_team_other_than_the_remotecis(admin_client, remoteci, jobdefinition, other_team):
    response = create_job(admin_client, remoteci, jobdefinition, team_id=str(other_team.id))

    assert response.status_code == 400
    assert Job.objects.count() == 0


def test_it_refuses_another_teams_remoteci(outsider_client, remoteci, jobdefinition):
    response = create_job(outsider_client, remoteci, jobdefinition)

    assert response.status_code == 400
    assert "remoteci_id" in response.json()["payload"]["errors"]


def test_a_status_change_by_put_appends_a_jobstate(user_client, job):
    response = user_client.put(
        f"/api/v1/jobs/{job.id}", {"status": "running", "comment": "go"}, format="json", HTTP_IF_MATCH=job.etag
    )

    assert response.status_code == 204
    job.refresh_from_db()
    assert response["ETag"] == job.etag
    assert (job.status, job.comment) == ("running", "go")
    assert list(JobState.objects.filter(job=job).values_list("status", flat=True)) == ["running"]


def test_it_rejects_a_stale_etag_and_changes_nothing(user_client, job):
    response = user_client.put(f"/api/v1/jobs/{job.id}", {"status": "running"}, format="json", HTTP_ETAG="stale")

    assert response.status_code == 412
    assert response.json()["message"] == "etag mismatch"
    job.refresh_from_db()
    assert job.status == "new"
    assert not JobState.objects.exists()


def test_posting_a_jobstate_sets_the_jobs_status_and_etag(user_client, job):
    old_etag = job.etag
    response = user_client.post("/api/v1/jobstates", {"job_id": str(job.id), "status": "pre-run", "comment": "hi"})

    assert response.status_code == 201, response.content
    assert response.json()["jobstate"]["team_id"] == str(job.team_id)
    job.refresh_from_db()
    assert job.status == "pre-run"
    assert job.etag != old_etag


def test_posting_a_jobstate_is_two_statements_and_no_transaction_of_its_own(user_client, job, monkeypatch):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from dciserver import prepared
    from dciserver.models import AuditLog

    body = {"job_id": str(job.id), "status": "running"}
    user_client.post("/api/v1/jobstates", body)  # the statements' first runs, as text
    entered = []
    enter = transaction.Atomic.__enter__
    monkeypatch.setattr(transaction.Atomic, "__enter__", lambda self: entered.append(self) or enter(self))
    with CaptureQueriesContext(connection) as queries:
        response = user_client.post("/api/v1/jobstates", body)
    monkeypatch.undo()

    assert response.status_code == 201, response.content
    run = [prepared.original(connection, q["sql"]) for q in queries.captured_queries]
    # The user, and one statement checking the job and writing its status, the jobstate and the
    # audit entry, and reading the answer: atomic on its own, so no transaction (here, inside the
    # test's: no savepoint).
    assert len(run) == 2, run
    assert not any("SAVEPOINT" in sql for sql in run) and not entered
    assert 'UPDATE "jobs_job"' in run[1] and 'INSERT INTO "jobs_jobstate"' in run[1]
    assert "dciserver_auditlog" in run[1]
    # The answer is the representation every read gives.
    created = response.json()["jobstate"]
    assert user_client.get(f"/api/v1/jobstates/{created['id']}").json()["jobstate"] == created
    assert AuditLog.objects.filter(object_id=response.json()["jobstate"]["id"]).count() == 1


def test_it_rejects_an_unknown_jobstate_status(user_client, job):
    response = user_client.post("/api/v1/jobstates", {"job_id": str(job.id), "status": "exploded"})

    assert response.status_code == 400
    assert "status" in response.json()["payload"]["errors"]


def test_a_plain_user_may_not_delete_a_job(user_client, job):
    response = user_client.delete(f"/api/v1/jobs/{job.id}", HTTP_IF_MATCH=job.etag)

    assert response.status_code == 403


def test_deleting_a_job_archives_its_jobstates(team_admin_client, job):
    JobState.objects.create(job=job, team=job.team, status="running")

    response = team_admin_client.delete(f"/api/v1/jobs/{job.id}", HTTP_IF_MATCH=job.etag)

    assert response.status_code == 204
    assert team_admin_client.get(f"/api/v1/jobs/{job.id}").status_code == 404
    assert JobState.objects.live().count() == 0
    assert JobState.objects.count() == 1


def test_it_hides_other_teams_jobs(outsider_client, job):
    assert outsider_client.get(f"/api/v1/jobs/{job.id}").status_code == 404
    assert outsider_client.get(f"/api/v1/jobs/{job.id}/jobstates").status_code == 404
    assert outsider_client.get("/api/v1/jobs").json()["_meta"]["count"] == 0


def test_it_lists_jobs_with_embeds(user_client, job, component):
    response = user_client.get("/api/v1/jobs?embed=remoteci,jobdefinition.topic,team,components,jobstates")

    assert response.status_code == 200, response.content
    (row,) = response.json()["jobs"]
    assert row["remoteci"]["id"] == str(job.remoteci_id)
    assert row["jobdefinition"]["topic"]["id"] == str(job.topic_id)
    assert [c["id"] for c in row["components"]] == [str(component.id)]
    assert row["jobstates"] == []


def test_it_lists_a_jobs_components(user_client, job, component):
    response = user_client.get(f"/api/v1/jobs/{job.id}/components")

    assert response.status_code == 200
    assert [c["id"] for c in response.json()["components"]] == [str(component.id)]
