"""The admin of events out: webhooks (their secret shown once), the delivery log with its attempts
and a manual redelivery, events with their deliveries, and who follows what."""

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.urls import reverse

from events.models import Delivery, Event, RemoteciFollower, TopicFollower, Webhook
from events.tests.conftest import work
from jobs.services import jobstate_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, super_admin):
    client.force_login(super_admin)
    return client


@pytest.fixture
def delivered(webhook, job, receiver):
    """The lab's job failed, and its event was delivered to the lab's webhook."""
    jobstate_create(job=job, status="failure")
    work()
    assert receiver.wait_for(1)
    return Delivery.objects.get(webhook=webhook)


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def run_action(browser, model, action, rows):
    return browser.post(
        url(model, "changelist"), {"action": action, "_selected_action": [str(row.pk) for row in rows]}, follow=True
    )


@pytest.mark.parametrize("model", [Webhook, Delivery, Event, TopicFollower, RemoteciFollower])
def test_a_super_admin_opens_the_list_and_a_row(browser, delivered, user, model):
    TopicFollower.objects.create(topic=delivered.event.job.topic, user=user)
    RemoteciFollower.objects.create(remoteci=delivered.event.job.remoteci, user=user)
    row = model.objects.first()

    assert browser.get(url(model, "changelist")).status_code == 200
    page = browser.get(url(model, "change", row.pk))
    assert page.status_code == 200
    assert url(model, "change", row.pk) in page.content.decode() or str(row.pk) in page.content.decode()


def test_a_delivery_shows_its_attempts_and_an_event_its_deliveries(browser, delivered):
    delivery_page = browser.get(url(Delivery, "change", delivered.pk)).content.decode()
    event_page = browser.get(url(Event, "change", delivered.event_id)).content.decode()

    assert "test-worker" in delivery_page  # the attempt's worker
    assert url(Event, "change", delivered.event_id) in delivery_page
    assert url(Delivery, "change", delivered.pk) in event_page


def test_deliveries_are_filtered_by_status_and_channel_and_webhooks_by_team(browser, delivered):
    link = url(Delivery, "change", delivered.pk)
    page = browser.get(url(Delivery, "changelist")).content.decode()
    assert 'data-filter-title="status"' in page and 'data-filter-title="channel"' in page
    assert 'data-filter-title="team"' in browser.get(url(Webhook, "changelist")).content.decode()

    def listed(**filters):
        return link in browser.get(url(Delivery, "changelist"), filters).content.decode()

    assert listed(status__exact="delivered") and listed(channel__exact="webhook")
    assert not listed(status__exact="failed") and not listed(channel__exact="mail")


@pytest.mark.parametrize("model", [Delivery, Event])
def test_the_log_is_not_written_by_hand(browser, delivered, model):
    assert browser.get(url(model, "add")).status_code == 403
    row = delivered if model is Delivery else delivered.event
    assert browser.post(url(model, "change", row.pk), {"status": "failed"}).status_code == 403


def test_a_webhooks_secret_is_shown_once_when_it_is_added(browser, team):
    assert b"secret" not in browser.get(url(Webhook, "add")).content

    response = browser.post(
        url(Webhook, "add"),
        {
            "name": "chatops",
            "team": team.pk,
            "url": "https://ci.example.com/hook",
            "kinds": ["job_failed"],
            "state": "active",
        },
        follow=True,
    )

    webhook = Webhook.objects.get(name="chatops")
    assert webhook.kinds == ["job_failed"]
    assert any(webhook.secret in message for message in messages_of(response))
    assert webhook.secret.encode() in response.content
    for again in (url(Webhook, "change", webhook.pk), url(Webhook, "changelist")):
        assert webhook.secret.encode() not in browser.get(again).content


def test_a_webhook_subscribes_to_known_kinds_only(browser, team):
    response = browser.post(
        url(Webhook, "add"),
        {"name": "chatops", "team": team.pk, "url": "https://ci.example.com/hook", "kinds": ["job_exploded"]},
    )

    assert response.status_code == 200  # the form again, with its error
    assert not Webhook.objects.exists()


def test_a_webhooks_secret_is_rotated_and_the_new_one_shown_once(browser, webhook):
    old = webhook.secret

    response = run_action(browser, Webhook, "rotate_secret", [webhook])

    webhook.refresh_from_db()
    assert webhook.secret != old
    assert webhook.secret.encode() in response.content
    assert webhook.secret.encode() not in browser.get(url(Webhook, "change", webhook.pk)).content


def test_redelivering_queues_the_delivery_again_and_the_worker_sends_it(browser, delivered, receiver):
    response = run_action(browser, Delivery, "redeliver", [delivered])

    assert "Queued 1 delivery again." in messages_of(response)
    queued = Delivery.objects.get(pk=delivered.pk)
    assert (queued.status, queued.attempts) == ("pending", 1)
    assert queued.task_id is not None and queued.max_attempts == 1 + settings.DCI_EVENTS_MAX_ATTEMPTS

    work()

    assert receiver.wait_for(2)
    sent = Delivery.objects.get(pk=delivered.pk)
    assert (sent.status, sent.attempts, sent.task_id) == ("delivered", 2, None)
    first, second = receiver.keys()
    assert first == second == str(delivered.idempotency_key)
