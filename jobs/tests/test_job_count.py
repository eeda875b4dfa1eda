"""The jobs list's count is kept by triggers (JobCount), and is always the true count."""

import pytest
from django.db import connection

from jobs import services
from jobs.models import Job, JobCount, Status

pytestmark = pytest.mark.django_db


def make_jobs(remoteci, jobdefinition, n):
    return [services.job_create(remoteci=remoteci, jobdefinition=jobdefinition) for _ in range(n)]


def listed_count(client, query=""):
    response = client.get(f"/api/v1/jobs?limit=1{query}")
    assert response.status_code == 200, response.content
    return response.json()["_meta"]["count"]


def test_the_counts_follow_inserts_archives_restores_and_deletes(remoteci, other_remoteci, jobdefinition):
    jobs = make_jobs(remoteci, jobdefinition, 3)
    make_jobs(other_remoteci, jobdefinition, 2)
    services.job_archive(job=jobs[0])
    Job.objects.filter(pk=jobs[1].pk).update(archived_at=None, status=Status.RUNNING)  # no change counted
    Job.objects.filter(pk=jobs[0].pk).update(archived_at=None)  # an operator restores it
    services.job_archive(job=jobs[0])
    Job.objects.filter(pk=jobs[0].pk).delete()  # purge: an archived row leaves, nothing to count
    Job.objects.filter(pk=jobs[2].pk).delete()  # a live row leaves

    for team, live in ((remoteci.team, 1), (other_remoteci.team, 2)):
        assert Job.objects.live().filter(team=team).count() == live
        assert sum(JobCount.objects.filter(team_id=team.id).values_list("count", flat=True)) == live


def test_the_list_count_comes_from_the_counts_for_a_user_and_a_super_admin(
    user_client, admin_client, outsider_client, remoteci, other_remoteci, jobdefinition
):
    make_jobs(remoteci, jobdefinition, 3)
    make_jobs(other_remoteci, jobdefinition, 2)
    services.job_archive(job=Job.objects.filter(team=remoteci.team).first())

    assert listed_count(user_client) == 2
    assert listed_count(outsider_client) == 2
    assert listed_count(admin_client) == 4
    assert listed_count(user_client, "&where=state:active") == 2
    assert listed_count(admin_client, "&where=state:inactive") == 0
    # Any other filter counts the rows themselves.
    assert listed_count(admin_client, f"&where=team_id:{remoteci.team_id}") == 2
    assert listed_count(user_client, "&where=state:active,status:new") == 2


def test_the_unfiltered_count_reads_no_job_rows(user_client, remoteci, jobdefinition):
    make_jobs(remoteci, jobdefinition, 2)
    with connection.execute_wrapper(_refuse_job_counts):
        assert listed_count(user_client) == 2


def _refuse_job_counts(execute, sql, params, many, context):
    assert not ("COUNT(" in sql.upper() and '"jobs_job"' in sql), sql
    return execute(sql, params, many, context)


def test_a_bulk_insert_and_delete_are_counted_once_per_team(remoteci, other_remoteci, jobdefinition):
    rows = [
        Job(remoteci=r, jobdefinition=jobdefinition, topic=jobdefinition.topic, team_id=r.team_id)
        for r in (remoteci, remoteci, other_remoteci)
    ]
    Job.objects.bulk_create(rows)
    assert JobCount.objects.total_for(None) == 0
    counts = {team: sum(JobCount.objects.filter(team_id=team).values_list("count", flat=True)) for team in
              (remoteci.team_id, other_remoteci.team_id)}  # fmt: skip
    assert counts == {remoteci.team_id: 2, other_remoteci.team_id: 1}

    Job.objects.all().delete()
    assert sum(JobCount.objects.values_list("count", flat=True)) == 0


def test_a_page_of_jobs_reads_its_kept_count_in_its_own_statement(user_client, remoteci, jobdefinition):
    from django.test.utils import CaptureQueriesContext

    from dciserver import prepared

    make_jobs(remoteci, jobdefinition, 3)
    listed_count(user_client)  # the statements' first runs, as text
    with CaptureQueriesContext(connection) as queries:
        page = user_client.get("/api/v1/jobs?limit=2").json()
    run = [prepared.original(connection, q["sql"]) for q in queries.captured_queries]
    # The user, and the page whose rows carry the count.
    assert len(run) == 2 and '"jobs_jobcount"' in run[-1] and '"jobs_job"' in run[-1], run
    assert page["_meta"]["count"] == 3 and len(page["jobs"]) == 2
    # Past the end there is no row to carry it: the count alone.
    with CaptureQueriesContext(connection) as queries:
        past = user_client.get("/api/v1/jobs?limit=2&offset=3").json()
    assert past == {"jobs": [], "_meta": {"count": 3}} and len(queries) == 3
