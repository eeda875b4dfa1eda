import io
from datetime import timedelta

import pytest
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.utils import timezone

from files.models import File, JUnitResult
from files.services import file_create
from jobs.models import Component, Job, JobDefinition, JobState, Topic
from jobs.services import job_archive
from teams.models import RemoteCI, Team, User
from teams.services import team_archive

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def files_root(settings, tmp_path):
    settings.DCI_FILES_ROOT = tmp_path / "files"


def test_demo_loads_realistic_data_and_is_idempotent(capsys):
    call_command("demo", "--jobs", "12", verbosity=0)
    counts = (Team.objects.count(), User.objects.count(), RemoteCI.objects.count(), Job.objects.count())

    call_command("demo", "--jobs", "12", verbosity=0)

    assert (Team.objects.count(), User.objects.count(), RemoteCI.objects.count(), Job.objects.count()) == counts
    assert counts[0] >= 4 and counts[2] >= 5 and counts[3] == 12
    assert User.objects.get(name="admin").is_super_admin
    assert set(Job.objects.values_list("status", flat=True)) >= {"success", "failure", "running"}
    assert JUnitResult.objects.filter(failures__gt=0).exists()
    assert File.objects.filter(name="install.log").count() == 12
    days = {created.date() for created in Job.objects.values_list("created_at", flat=True)}
    assert len(days) >= 10 and max(days) - min(days) >= timedelta(days=20)
    # Each report was compared with the report of its line's job made before.
    compared = JUnitResult.objects.exclude(baseline_id=None).select_related("job")
    baselines = {row.file_id: row.job for row in JUnitResult.objects.select_related("job")}
    assert compared.exists()
    assert all(baselines[row.baseline_id].created_at < row.job.created_at for row in compared)
    # Someone follows a remoteci: its failed jobs are mailed once the worker runs (docs/events.md).
    from events.models import Delivery, RemoteciFollower
    from events.tests.working import work

    (follow,) = RemoteciFollower.objects.select_related("user", "remoteci")
    assert follow.user.email and follow.remoteci.name == "demo-lab-2"
    work()
    assert (
        Delivery.objects.filter(channel="mail", user=follow.user).count()
        == Job.objects.filter(remoteci=follow.remoteci, status__in=("failure", "error")).count()
    )


def test_demo_refuses_to_create_admin_admin_outside_a_development_setup(settings):
    settings.DCI_DEV = False

    with pytest.raises(CommandError, match="--password"):
        call_command("demo", "--jobs", "0", verbosity=0)

    assert not User.objects.exists()


def test_demo_with_a_password_gives_it_to_every_demo_user(settings):
    settings.DCI_DEV = False

    call_command("demo", "--jobs", "0", "--password", "a-long-demo-password", verbosity=0)

    users = User.objects.all()
    assert {"admin", "demo-admin", "demo-user"} <= {user.name for user in users}
    assert all(user.check_password("a-long-demo-password") for user in users)
    assert not User.objects.get(name="admin").check_password("admin")


def test_demo_on_a_developer_machine_keeps_its_well_known_logins(settings):
    settings.DCI_DEV = True

    call_command("demo", "--jobs", "0", verbosity=0)

    assert User.objects.get(name="admin").check_password("admin")
    assert User.objects.get(name="demo-user").check_password("demo-user")


def test_demo_adds_jobs_up_to_the_number_asked():
    call_command("demo", "--jobs", "3", verbosity=0)
    call_command("demo", "--jobs", "5", verbosity=0)

    assert Job.objects.count() == 5
    # The jobs added later are the newer ones.
    assert [job.comment for job in Job.objects.order_by("created_at")] == [f"demo job #{i}" for i in range(5)]


def archive_job(job, days):
    then = timezone.now() - timedelta(days=days)
    Job.objects.filter(pk=job.pk).update(archived_at=then)
    JobState.objects.filter(job=job).update(archived_at=then)
    File.objects.filter(job=job).update(archived_at=then)


def test_purge_removes_old_archived_rows_and_their_bytes(user_client, job):
    upload = user_client.post(
        "/api/v1/files",
        data=b"bytes to purge",
        content_type="text/plain",
        HTTP_DCI_NAME="a.log",
        HTTP_DCI_JOB_ID=str(job.id),
    )
    assert upload.status_code == 201, upload.content
    stored = File.objects.get().storage_name
    assert storages["dcifiles"].exists(stored)
    JobState.objects.create(job=job, team=job.team, status="running")
    archive_job(job, days=40)

    call_command("purge", "--older-than", "30d", verbosity=0)

    assert not Job.objects.filter(pk=job.pk).exists()
    assert not JobState.objects.exists() and not File.objects.exists()
    assert not storages["dcifiles"].exists(stored)


def test_purge_keeps_recent_archives_and_live_rows(job, remoteci):
    archive_job(job, days=5)
    RemoteCI.objects.filter(pk=remoteci.pk).update(archived_at=timezone.now() - timedelta(days=90))

    call_command("purge", "--older-than", "30d", verbosity=0)

    # The job is archived too recently, and it still references the old remoteci.
    assert Job.objects.filter(pk=job.pk).exists()
    assert RemoteCI.objects.filter(pk=remoteci.pk).exists()


def test_purge_dry_run_removes_nothing(job, capsys):
    archive_job(job, days=40)

    call_command("purge", "--older-than", "30d", "--dry-run")

    assert Job.objects.filter(pk=job.pk).exists()
    assert "Would remove 1 archived jobs." in capsys.readouterr().out


def purge_lines(*args):
    out = io.StringIO()
    call_command("purge", "--older-than", "30d", *args, stdout=out, verbosity=0)
    return out.getvalue().splitlines()


def age_archives(days):
    """Move every archive ``days`` into the past (as if archived then)."""
    then = timezone.now() - timedelta(days=days)
    from files.models import ComponentFile
    from jobs.models import Pipeline, Product
    from teams.models import Feeder

    for model in (File, JobState, Job, RemoteCI, User, Team, Component, JobDefinition, Topic):
        model.objects.filter(archived_at__isnull=False).update(archived_at=then)
    for model in (ComponentFile, Product, Feeder, Pipeline):
        model.objects.filter(archived_at__isnull=False).update(archived_at=then)


def test_purge_dry_run_counts_what_the_real_run_removes_for_a_deleted_job(job):
    jobstates = [JobState.objects.create(job=job, team=job.team, status=s) for s in ("pre-run", "running", "success")]
    for jobstate in jobstates[1:]:
        file_create(job=job, jobstate=jobstate, name="log.txt", stream=io.BytesIO(b"log\n"))
    job_archive(job=job)
    age_archives(days=40)

    dry = purge_lines("--dry-run")
    real = purge_lines()

    assert [line.replace("Would remove", "Removed") for line in dry] == real
    assert {"Removed 2 archived files.", "Removed 3 archived jobstates.", "Removed 1 archived jobs."} <= set(real)
    assert not Job.objects.filter(pk=job.pk).exists()


def test_purge_dry_run_counts_what_the_real_run_removes_for_a_whole_team_and_topic(
    job, jobstate, user, super_admin, topic, component, jobdefinition, feeder, component_file, pipeline, settings
):
    from jobs.models import Job, Product

    file_create(job=job, jobstate=jobstate, name="junit.xml", stream=io.BytesIO(b"<testsuite/>"))
    Job.objects.filter(pk=job.pk).update(pipeline=pipeline)  # archived with its team, purged after its jobs
    product = Product.objects.create(name="Retired", label="RETIRED")
    stored = settings.DCI_FILES_ROOT / component_file.storage_name
    assert stored.exists()
    team_archive(team=job.team)
    job_archive(job=job)
    for row in (component, jobdefinition, topic, product):
        row.archive()
    age_archives(days=40)

    dry = purge_lines("--dry-run")
    real = purge_lines()

    assert [line.replace("Would remove", "Removed") for line in dry] == real
    assert all(not line.startswith("Removed 0") for line in real), real
    assert list(User.objects.all()) == [super_admin]
    assert not Topic.objects.exists() and list(Team.objects.values_list("name", flat=True)) == ["admin"]
    assert not stored.exists()  # a component file's bytes go with it
