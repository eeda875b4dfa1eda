import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from jobs.models import Job, JobState

pytestmark = pytest.mark.django_db


def make_jobs(remoteci, jobdefinition, count, age, status="running"):
    jobs = Job.objects.bulk_create(
        [
            Job(
                remoteci=remoteci,
                jobdefinition=jobdefinition,
                topic=jobdefinition.topic,
                team=remoteci.team,
                status=status,
            )
            for _ in range(count)
        ]
    )
    Job.objects.filter(pk__in=[j.pk for j in jobs]).update(updated_at=timezone.now() - age)
    return jobs


def test_schedule_command_uses_the_scheduling_service(capsys, remoteci, topic, jobdefinition, component):
    call_command("schedule", "--remoteci", remoteci.name, "--topic", str(topic.id))

    job = Job.objects.get()
    assert (job.jobdefinition, job.user_agent) == (jobdefinition, "manage.py schedule")
    assert str(job.id) in capsys.readouterr().out


def test_schedule_command_reports_why_nothing_was_scheduled(remoteci, topic):
    with pytest.raises(CommandError, match="No jobs available for run"):
        call_command("schedule", "--remoteci", str(remoteci.id), "--topic", topic.name)


def test_expire_jobs_kills_only_stale_unfinished_jobs(remoteci, jobdefinition):
    stale = make_jobs(remoteci, jobdefinition, 3, timedelta(hours=25))
    fresh = make_jobs(remoteci, jobdefinition, 2, timedelta(hours=1))
    finished = make_jobs(remoteci, jobdefinition, 2, timedelta(days=3), status="success")

    call_command("expire_jobs", "--older-than", "24h")

    status = dict(Job.objects.values_list("pk", "status"))
    assert {status[j.pk] for j in stale} == {"killed"}
    assert {status[j.pk] for j in fresh} == {"running"}
    assert {status[j.pk] for j in finished} == {"success"}
    assert JobState.objects.filter(status="killed").count() == 3


def test_expire_jobs_rejects_a_bad_duration():
    with pytest.raises(CommandError, match="invalid duration"):
        call_command("expire_jobs", "--older-than", "yesterday")


@pytest.mark.django_db(transaction=True)
def test_two_expire_jobs_running_at_once_kill_each_job_once(remoteci, jobdefinition, monkeypatch):
    from jobs.management.commands import expire_jobs

    monkeypatch.setattr(expire_jobs, "BATCH_SIZE", 50)
    make_jobs(remoteci, jobdefinition, 400, timedelta(days=2))
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            call_command("expire_jobs", "--older-than", "1d")
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Job.objects.filter(status="killed").count() == 400
    assert JobState.objects.filter(status="killed").count() == 400
