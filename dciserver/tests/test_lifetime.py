"""The persistence helpers every model shares: archiving with the rows that share a row's lifetime,
restoring them, and the etag-checked write (services call these, never the API layer:
test_layers.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dciserver.api.exceptions import Conflict, NotFound, PreconditionFailed
from files.models import File
from jobs.models import Job, JobState
from teams.models import RemoteCI, Team, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def job_with_children(job):
    JobState.objects.create(job=job, team=job.team, status="running")
    JobState.objects.create(job=job, team=job.team, status="success")
    File.objects.create(name="a.log", job=job, team=job.team)
    return job


def live_children(job):
    return (JobState.objects.live().filter(job=job).count(), File.objects.live().filter(job=job).count())


def test_archiving_a_job_archives_its_jobstates_and_files_with_it(job_with_children):
    job_with_children.archive()

    assert Job.objects.live().filter(pk=job_with_children.pk).count() == 0
    assert live_children(job_with_children) == (0, 0)
    instants = set(JobState.objects.filter(job=job_with_children).values_list("archived_at", flat=True))
    assert instants == {Job.objects.get(pk=job_with_children.pk).archived_at}


def test_the_children_of_a_job_are_found_from_the_relations_they_declare():
    from dciserver.models import _lifetime_children

    assert sorted((m._meta.label, f) for m, f in _lifetime_children(Job)) == [
        ("files.File", "job"),
        ("jobs.JobState", "job"),
    ]
    assert sorted((m._meta.label, f) for m, f in _lifetime_children(Team)) == [
        ("events.Webhook", "team"),
        ("jobs.Pipeline", "team"),
        ("teams.Feeder", "team"),
        ("teams.RemoteCI", "team"),
        ("teams.User", "team"),
    ]


def test_archiving_a_team_archives_its_users_and_remotecis_but_not_its_jobs(team, user, remoteci, job):
    team.archive()

    assert not User.objects.live().filter(pk=user.pk).exists()
    assert not RemoteCI.objects.live().filter(pk=remoteci.pk).exists()
    assert Job.objects.live().filter(pk=job.pk).exists()


def test_archiving_with_a_stale_etag_changes_nothing(job_with_children):
    with pytest.raises(PreconditionFailed):
        job_with_children.archive(etag="stale")

    assert Job.objects.live().filter(pk=job_with_children.pk).exists()
    assert live_children(job_with_children) == (2, 1)


def test_archiving_a_row_twice_is_not_found(job):
    job.archive()

    with pytest.raises(NotFound):
        job.archive()


def test_restoring_a_job_restores_the_rows_archived_with_it_and_only_those(job_with_children):
    earlier = JobState.objects.filter(job=job_with_children).first()
    JobState.objects.filter(pk=earlier.pk).update(archived_at=timezone.now() - timedelta(days=1))
    job_with_children.archive()

    assert job_with_children.restore() is True

    assert Job.objects.live().filter(pk=job_with_children.pk).exists()
    assert live_children(job_with_children) == (1, 1)
    assert JobState.objects.get(pk=earlier.pk).archived_at is not None


def test_restoring_a_live_row_does_nothing(job):
    assert job.restore() is False


def test_restoring_a_row_whose_name_was_taken_is_a_conflict_and_restores_nothing(team, user):
    team.archive()
    Team.objects.create(name=team.name)

    with pytest.raises(Conflict) as raised:
        team.restore()

    assert raised.value.payload == {"error": {"name": "already_exists"}}
    assert Team.objects.get(pk=team.pk).archived_at is not None
    assert User.objects.get(pk=user.pk).archived_at is not None


def test_an_etag_checked_write_takes_a_fresh_etag_and_refuses_a_stale_one(remoteci):
    old = remoteci.etag

    fresh = remoteci.update_with_etag(old, {"state": "inactive"})

    assert fresh != old and RemoteCI.objects.get(pk=remoteci.pk).etag == fresh
    with pytest.raises(PreconditionFailed):
        remoteci.update_with_etag(old, {"state": "active"})
    assert RemoteCI.objects.get(pk=remoteci.pk).state == "inactive"


def test_a_restored_row_takes_a_new_etag(remoteci):
    remoteci.refresh_from_db()
    before = remoteci.etag
    remoteci.archive()

    remoteci.restore()

    assert RemoteCI.objects.get(pk=remoteci.pk).etag not in ("", before)
