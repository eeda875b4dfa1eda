"""Mail to the people following a job (SPEC §17): when a job of a topic or remoteci they follow
finishes in failure or error, each follower who may read the job and has an address gets one mail."""

import pytest

from events.models import Delivery, DeliveryAttempt, RemoteciFollower, TopicFollower
from events.tests.conftest import work
from jobs.services import jobstate_create
from teams.models import User

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://dci.example.com"


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.DCI_PUBLIC_URL = PUBLIC_URL


@pytest.fixture
def failing_job(job):
    type(job).objects.filter(pk=job.pk).update(name="ocp-install")
    job.refresh_from_db()
    return job


def finish(job, status="failure"):
    """The job's agent reports its final status; the workers then do their work."""
    jobstate_create(job=job, status=status)
    work()


def follower(name, team, email=None, **fields):
    return User.objects.create(name=name, team=team, email=f"{name}@example.com" if email is None else email, **fields)


def recipients(outbox):
    return sorted(address for mail in outbox for address in mail.to)


@pytest.mark.parametrize("status", ["failure", "error"])
def test_a_follower_of_the_topic_is_mailed_once_when_a_job_fails(mailoutbox, failing_job, team, status):
    alice = follower("alice", team)
    TopicFollower.objects.create(topic=failing_job.topic, user=alice)

    finish(failing_job, status)

    assert recipients(mailoutbox) == ["alice@example.com"]
    mail = mailoutbox[0]
    assert "ocp-install" in mail.subject and status in mail.subject
    assert "ocp-install" in mail.body and status in mail.body
    assert f"{PUBLIC_URL}/jobs/{failing_job.id}" in mail.body


def test_the_mail_delivery_ends_delivered_after_one_attempt(mailoutbox, failing_job, team):
    alice = follower("alice", team)
    RemoteciFollower.objects.create(remoteci=failing_job.remoteci, user=alice)

    finish(failing_job)

    delivery = Delivery.objects.get(channel="mail")
    assert (delivery.user_id, delivery.status, delivery.attempts) == (alice.id, "delivered", 1)
    assert (delivery.last_error, delivery.next_try_at, delivery.task_id) == ("", None, None)
    assert list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("number", "error")) == [(1, "")]


def test_a_passing_job_mails_nobody(mailoutbox, failing_job, team):
    TopicFollower.objects.create(topic=failing_job.topic, user=follower("alice", team))

    finish(failing_job, "success")

    assert mailoutbox == []
    assert not Delivery.objects.filter(channel="mail").exists()


def test_a_job_nobody_follows_mails_nobody(mailoutbox, failing_job, team, other_topic):
    from teams.models import RemoteCI

    rack_2 = RemoteCI.objects.create(name="rack-2", team=team)
    RemoteciFollower.objects.create(remoteci=rack_2, user=follower("alice", team))
    TopicFollower.objects.create(topic=other_topic, user=follower("bob", team))

    finish(failing_job)

    assert mailoutbox == []


def test_a_follower_of_both_the_topic_and_the_remoteci_gets_one_mail(mailoutbox, failing_job, team):
    alice = follower("alice", team)
    TopicFollower.objects.create(topic=failing_job.topic, user=alice)
    RemoteciFollower.objects.create(remoteci=failing_job.remoteci, user=alice)

    finish(failing_job)

    assert recipients(mailoutbox) == ["alice@example.com"]


def test_a_follower_who_cannot_read_the_job_is_not_mailed(mailoutbox, failing_job, team, other_team):
    from jobs.models import TopicSubscription

    # Both teams read the topic; the job is the lab's.
    TopicSubscription.objects.create(topic=failing_job.topic, team=other_team)
    for name, its_team in (("alice", team), ("rival", other_team)):
        TopicFollower.objects.create(topic=failing_job.topic, user=follower(name, its_team))

    finish(failing_job)

    assert recipients(mailoutbox) == ["alice@example.com"]


def test_a_follower_without_an_address_or_inactive_is_not_mailed(mailoutbox, failing_job, team):
    for user in (
        follower("alice", team),
        follower("no-mail", team, email=""),
        follower("gone", team, state="inactive"),
    ):
        TopicFollower.objects.create(topic=failing_job.topic, user=user)

    finish(failing_job)

    assert recipients(mailoutbox) == ["alice@example.com"]
    assert list(Delivery.objects.filter(channel="mail").values_list("user__name", flat=True)) == ["alice"]


def test_a_job_failing_again_is_not_mailed_again(mailoutbox, failing_job, team):
    TopicFollower.objects.create(topic=failing_job.topic, user=follower("alice", team))

    finish(failing_job)
    finish(failing_job, "error")

    assert len(mailoutbox) == 1


def test_a_job_without_a_topic_is_mailed_to_its_remotecis_followers(mailoutbox, remoteci, team):
    from jobs.models import Job

    job = Job.objects.create(remoteci=remoteci, team=team, name="bare-metal")
    RemoteciFollower.objects.create(remoteci=remoteci, user=follower("alice", team))

    finish(job)

    assert recipients(mailoutbox) == ["alice@example.com"]
    assert "bare-metal" in mailoutbox[0].subject
    assert Delivery.objects.get(channel="mail").status == "delivered"
