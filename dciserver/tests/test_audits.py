import pytest

from dciserver.models import AuditLog

pytestmark = pytest.mark.django_db


def test_every_write_leaves_an_audit_entry(user_client, user, job):
    jobstate = user_client.post("/api/v1/jobstates", {"job_id": str(job.id), "status": "running"}).json()["jobstate"]
    user_client.put(f"/api/v1/jobs/{job.id}", {"comment": "x"}, HTTP_IF_MATCH="stale")  # 412: not a write
    job.refresh_from_db()
    user_client.put(f"/api/v1/jobs/{job.id}", {"comment": "x"}, HTTP_IF_MATCH=job.etag)

    entries = list(AuditLog.objects.order_by("created_at").values_list("user_name", "action", "resource", "object_id"))
    # The jobstate's entry is written by the jobstate's own statement; once, naming it.
    assert entries[0] == (user.name, "create", "jobstate", jobstate["id"])
    assert entries[1] == (user.name, "update", "job", str(job.id))
    assert len(entries) == 2


def test_reads_are_not_audited(user_client, job):
    user_client.get(f"/api/v1/jobs/{job.id}")
    assert not AuditLog.objects.exists()


def test_team_admins_read_their_teams_audit_only(team_admin_client, user_client, outsider_client, admin_client, job):
    user_client.post("/api/v1/jobstates", {"job_id": str(job.id), "status": "running"})
    outsider_client.post("/api/v1/remotecis", {"name": "elsewhere"})

    mine = team_admin_client.get("/api/v1/audits").json()
    everything = admin_client.get("/api/v1/audits").json()

    assert [a["resource"] for a in mine["audits"]] == ["jobstate"]
    assert everything["_meta"]["count"] == 2


def test_plain_users_may_not_read_the_audit_log(user_client):
    assert user_client.get("/api/v1/audits").status_code == 403


def test_the_audit_log_is_read_only(admin_client):
    assert admin_client.post("/api/v1/audits", {}).status_code == 405
