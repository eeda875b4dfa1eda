"""The operators' admin actions, and admin pages that stay cheap on big tables."""

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import client_for
from dciserver import paginators
from jobs.models import Job, JobState
from teams.models import RemoteCI, Team, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, super_admin):
    client.force_login(super_admin)
    return client


def run_action(browser, model, action, rows):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return browser.post(url, {"action": action, "_selected_action": [str(r.pk) for r in rows]}, follow=True)


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_kill_action_kills_unfinished_jobs_with_a_jobstate(browser, job, super_admin):
    finished = Job.objects.create(
        remoteci=job.remoteci, jobdefinition=job.jobdefinition, topic=job.topic, team=job.team, status="success"
    )

    run_action(browser, Job, "kill", [job, finished])

    assert Job.objects.get(pk=job.pk).status == "killed"
    assert Job.objects.get(pk=finished.pk).status == "success"
    jobstate = JobState.objects.get()
    assert (jobstate.job_id, jobstate.status) == (job.pk, "killed")
    assert super_admin.name in jobstate.comment


def test_the_recheck_action_makes_a_copy_the_next_schedule_hands_out(browser, job):
    run_action(browser, Job, "recheck", [job])

    copy = Job.objects.exclude(pk=job.pk).get()
    assert (copy.recheck, copy.recheck_pending, copy.remoteci_id) == (True, True, job.remoteci_id)
    assert list(copy.components.all()) == list(job.components.all())


def test_remotecis_are_deactivated_and_activated_from_the_admin(browser, remoteci):
    run_action(browser, RemoteCI, "deactivate", [remoteci])
    assert RemoteCI.objects.get(pk=remoteci.pk).state == "inactive"

    run_action(browser, RemoteCI, "activate", [remoteci])
    assert RemoteCI.objects.get(pk=remoteci.pk).state == "active"


def test_the_job_list_counts_at_most_a_capped_number_of_rows(browser, job, monkeypatch):
    monkeypatch.setattr(paginators, "COUNT_CAP", 5)
    Job.objects.bulk_create(
        [Job(remoteci=job.remoteci, jobdefinition=job.jobdefinition, topic=job.topic, team=job.team) for _ in range(20)]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Job._meta.db_table}")

    with CaptureQueriesContext(connection) as queries:
        response = browser.get(reverse("admin:jobs_job_changelist"))

    assert response.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "jobs_job" in q["sql"]]
    assert counts and all("LIMIT 6" in sql for sql in counts), counts
    assert response.context["cl"].result_count == 21


def test_createsuperuser_puts_the_user_in_the_admin_team(db):
    call_command("createsuperuser", "--name", "operator", "--no-input", verbosity=0)

    user = User.objects.get(name="operator")
    assert user.team == Team.objects.get(name="admin")
    assert user.is_super_admin and user.is_staff


def test_archiving_a_job_in_the_admin_archives_its_jobstates(browser, job, jobstate):
    response = run_action(browser, Job, "archive", [job])

    assert response.status_code == 200
    assert Job.objects.get(pk=job.pk).is_archived
    assert not JobState.objects.live().exists()
    assert messages_of(response) == ["Archived 1 job."]


def test_archiving_a_team_in_the_admin_logs_its_users_out(browser, team, user, remoteci):
    run_action(browser, Team, "archive", [team])

    assert client_for(user).get("/api/v1/identity").status_code == 401
    assert not RemoteCI.objects.live().filter(pk=remoteci.pk).exists()


def test_a_stale_put_cannot_revert_a_remoteci_deactivated_in_the_admin(browser, remoteci, team_admin_client):
    remoteci.refresh_from_db()
    stale = remoteci.etag

    run_action(browser, RemoteCI, "deactivate", [remoteci])
    response = team_admin_client.put(
        f"/api/v1/remotecis/{remoteci.pk}", {"name": "rack-1"}, format="json", HTTP_IF_MATCH=stale
    )

    assert response.status_code == 412
    assert RemoteCI.objects.get(pk=remoteci.pk).state == "inactive"


def test_restoring_a_remoteci_whose_name_was_reused_says_so_and_restores_nothing(browser, remoteci):
    remoteci.archive()
    RemoteCI.objects.create(name=remoteci.name, team=remoteci.team)

    response = run_action(browser, RemoteCI, "restore", [remoteci])

    assert response.status_code == 200
    assert RemoteCI.objects.get(pk=remoteci.pk).is_archived
    assert messages_of(response) == [
        "Could not restore remote CI rack-1: a live remote CI has its name. Rename one of them first.",
        "Restored 0 remote CIs.",
    ]


def test_the_admin_archives_jobs_instead_of_offering_to_delete_them(browser, job, jobstate):
    changelist = browser.get(reverse("admin:jobs_job_changelist"))
    response = run_action(browser, Job, "delete_selected", [job])

    choices = [name for name, _ in changelist.context["action_form"].fields["action"].choices]
    assert "archive" in choices and "delete_selected" not in choices
    assert response.status_code == 200 and b"permission" not in response.content
    assert Job.objects.live().filter(pk=job.pk).exists()
    assert browser.get(reverse("admin:jobs_job_delete", args=[job.pk])).status_code == 403


def test_restoring_a_team_whose_users_name_was_reused_says_which(browser, team, user):
    team.archive()
    User.objects.create_user(user.name, "x", team=Team.objects.create(name="new-lab"))

    response = run_action(browser, Team, "restore", [team])

    assert Team.objects.get(pk=team.pk).is_archived
    assert messages_of(response)[0] == (
        "Could not restore team lab: a live user has the name of a user restored with it. Rename one of them first."
    )


def test_createsuperuser_refuses_a_name_taken_in_one_line(super_admin):
    with pytest.raises(CommandError) as refused:
        call_command("createsuperuser", "--name", super_admin.name, "--no-input", verbosity=0)

    assert str(refused.value) == "Error: That name is already taken."
    assert User.objects.filter(name=super_admin.name).count() == 1


def test_createsuperuser_on_the_command_line_says_one_line_for_a_name_taken(super_admin, capfd):
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit):
        ManagementUtility(["manage.py", "createsuperuser", "--name", super_admin.name, "--no-input"]).execute()

    assert capfd.readouterr().err.strip().splitlines() == ["CommandError: Error: That name is already taken."]


def test_createsuperuser_may_reuse_the_name_of_an_archived_user(super_admin):
    super_admin.archive()

    call_command("createsuperuser", "--name", super_admin.name, "--no-input", verbosity=0)

    assert User.objects.live().get(name=super_admin.name).pk != super_admin.pk
