"""Deliveries worked in this process: one signed POST per event, retries with their log, the
outbox in the event's transaction, the kinds a webhook subscribes to."""

import io
import time

import orjson
import pytest
from django.db import transaction

from events import channels
from events.models import Delivery, DeliveryAttempt, Event, Webhook
from events.tasks import backoff, recover
from events.tests.conftest import work
from files.services import file_create
from jobs import services
from jobs.models import Job


def finish(job, status="success"):
    for phase in ("pre-run", "running", status):
        services.jobstate_create(job=job, status=phase)


def work_until(done, timeout=20.0):
    """Work the due tasks until ``done()``: retries wait for their time."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "not done in time"
        work()
        time.sleep(0.02)


@pytest.mark.django_db
def test_a_finished_job_gives_exactly_one_signed_delivery(job, webhook, receiver):
    finish(job)
    work()
    work()  # nothing more to do

    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert channels.verify(webhook.secret, headers["X-Dci-Signature"], body)
    assert not channels.verify("another secret", headers["X-Dci-Signature"], body)
    assert not channels.verify(webhook.secret, headers["X-Dci-Signature"], body.replace(b"success", b"failure"))
    payload = orjson.loads(body)
    assert (payload["event"], payload["status"], payload["job"]["id"]) == ("job_finished", "success", str(job.id))
    assert payload["job"]["url"].endswith(f"/jobs/{job.id}")
    assert payload["remoteci"]["name"] == job.remoteci.name and payload["topic"]["id"] == str(job.topic_id)
    delivery = Delivery.objects.get()
    assert headers["Idempotency-Key"] == str(delivery.idempotency_key)
    assert headers["X-Dci-Event"] == "job_finished" and headers["Content-Type"] == "application/json"
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)


def test_a_signature_is_refused_once_old():
    body = b'{"id": 1}'
    header = channels.signature("s3cret", int(time.time()) - 3600, body)

    assert not channels.verify("s3cret", header, body)
    assert channels.verify("s3cret", header, body, tolerance=7200)
    assert not channels.verify("s3cret", "garbage", body)


@pytest.mark.django_db
def test_500_three_times_then_200_is_delivered_on_the_fourth_try_with_four_attempts(settings, job, webhook, receiver):
    settings.DCI_EVENTS_RETRY_BASE = 0.05
    receiver.statuses = [500, 500, 500]
    finish(job, "failure")

    delivery = Delivery.objects.none()
    work_until(lambda: Delivery.objects.filter(status="delivered").exists())

    delivery = Delivery.objects.get()
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [a.status_code for a in attempts] == [500, 500, 500, 200]
    assert [a.error.startswith("HTTP 500") for a in attempts] == [True, True, True, False]
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (4, 200, "")
    # One idempotency key for the four, and four signatures that verify.
    assert len(set(receiver.keys())) == 1 and len(receiver.requests) == 4
    assert all(channels.verify(webhook.secret, h["X-Dci-Signature"], b) for h, b in receiver.requests)


@pytest.mark.django_db
def test_a_delivery_is_failed_after_its_last_attempt_and_redelivered_by_hand(settings, job, webhook, receiver):
    settings.DCI_EVENTS_RETRY_BASE, settings.DCI_EVENTS_MAX_ATTEMPTS = 0.01, 3
    receiver.statuses = [503] * 3
    finish(job)
    work_until(lambda: Delivery.objects.filter(status="failed").exists())

    delivery = Delivery.objects.get()
    assert (delivery.attempts, delivery.last_status_code, delivery.next_try_at) == (3, 503, None)
    assert "HTTP 503" in delivery.last_error

    from events.services import delivery_redeliver

    delivery_redeliver(delivery=delivery)
    work()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.max_attempts) == ("delivered", 4, 6)


def test_the_backoff_grows_exponentially_capped_with_jitter(settings):
    settings.DCI_EVENTS_RETRY_BASE, settings.DCI_EVENTS_RETRY_CAP = 10, 300
    for attempt, full in [(1, 10), (2, 20), (3, 40), (6, 300), (20, 300)]:
        delays = {backoff(attempt) for _ in range(50)}
        assert all(full / 2 <= d <= full for d in delays)
        assert len(delays) > 1  # jittered


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_status_change_sends_nothing(job, webhook, receiver):
    with pytest.raises(RuntimeError), transaction.atomic():
        finish(job)
        assert Event.objects.count() == 1  # written with the change...
        raise RuntimeError("the request fails after the jobstate")
    work()

    assert not Event.objects.exists() and not Delivery.objects.exists()  # ...and gone with it
    assert receiver.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kinds", "status", "sent"),
    [
        (["job_finished"], "success", True),
        (["job_failed"], "success", False),
        (["job_failed"], "failure", True),
        (["job_failed"], "error", True),
        (["job_killed"], "failure", False),
        (["job_finished", "job_failed"], "failure", True),
    ],
)
def test_a_webhook_is_sent_the_kinds_it_subscribes_to(job, team, receiver, kinds, status, sent):
    Webhook.objects.create(team=team, name="hook", url=receiver.url, kinds=kinds)
    finish(job, status)
    work()

    assert len(receiver.requests) == (1 if sent else 0)


@pytest.mark.django_db
def test_a_killed_job_and_a_regression_are_events(job, team, receiver):
    Webhook.objects.create(team=team, name="hook", url=receiver.url, kinds=["job_killed", "job_regressed"])
    passing = b'<testsuite name="s" tests="1"><testcase classname="c" name="t"/></testsuite>'
    failing = (
        b'<testsuite name="s" tests="1"><testcase classname="c" name="t"><failure message="x"/></testcase></testsuite>'
    )
    finish(job)
    file_create(job=job, name="tests.xml", stream=io.BytesIO(passing), mime="application/junit")
    # Another component set: a failure on the same set as a pass would be flaky, not a regression.
    later = Job.objects.create(
        remoteci=job.remoteci, topic=job.topic, team=job.team, jobdefinition=job.jobdefinition, components_key="2" * 40
    )
    file_create(job=later, name="tests.xml", stream=io.BytesIO(failing), mime="application/junit")
    services.jobs_kill(jobs=Job.objects.filter(pk=later.pk), reason="expired")
    work()

    kinds = sorted(orjson.loads(body)["event"] for _, body in receiver.requests)
    assert kinds == ["job_killed", "job_regressed"]
    regressed = next(orjson.loads(b) for _, b in receiver.requests if b"job_regressed" in b)
    assert (regressed["job"]["id"], regressed["regressions"]) == (str(later.id), 1)


@pytest.mark.django_db
def test_another_teams_webhook_is_sent_nothing(job, other_team, receiver):
    Webhook.objects.create(team=other_team, name="spy", url=receiver.url, kinds=["job_finished"])
    finish(job)
    work()

    assert receiver.requests == [] and not Delivery.objects.exists()


@pytest.mark.django_db
def test_an_inactive_or_deleted_webhook_is_sent_nothing(job, team, receiver):
    Webhook.objects.create(team=team, name="off", url=receiver.url, kinds=["job_finished"], state="inactive")
    Webhook.objects.create(team=team, name="gone", url=receiver.url, kinds=["job_finished"]).archive()
    finish(job)
    work()

    assert receiver.requests == []


@pytest.mark.django_db
def test_recover_queues_again_a_delivery_whose_task_is_gone(job, webhook, receiver):
    finish(job)
    work()  # the dispatch and the delivery
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status="pending", attempts=1, task_id=None)

    assert recover() == 1
    assert recover() == 0  # queued: alive
    work()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


@pytest.mark.django_db
def test_metrics_count_the_deliveries_not_delivered(settings, job, webhook, receiver, admin_client):
    settings.DCI_EVENTS_MAX_ATTEMPTS = 1
    receiver.statuses = [500]
    finish(job)
    before = admin_client.get("/metrics").content.decode()
    work()
    after = admin_client.get("/metrics").content.decode()

    assert "dci_events_undispatched 1.0" in before
    assert "dci_events_undispatched 0.0" in after
    assert 'dci_deliveries{channel="webhook",status="failed"} 1.0' in after
