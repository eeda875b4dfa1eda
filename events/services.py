"""The writes of events out that people make, shared by the API and the admin."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events.models import DeliveryStatus, RemoteciFollower, TopicFollower, new_webhook_secret
from events.tasks import delivery_send


def webhook_secret_rotate(*, webhook, etag=None):
    """A new secret for ``webhook``: deliveries are signed with it from the next attempt on. With
    ``etag``, only if the row still carries it. Returns the new etag."""
    return webhook.update_with_etag(webhook.etag if etag is None else etag, {"secret": new_webhook_secret()})


def delivery_redeliver(*, delivery):
    """Send ``delivery`` again now, with a new round of attempts: delivered, failed or still
    trying (then its next attempt is now). A worker sending it holds its row: this waits for it."""
    with transaction.atomic():
        delivery = type(delivery).objects.select_for_update().get(pk=delivery.pk)
        now = timezone.now()
        delivery.status, delivery.next_try_at, delivery.updated_at = DeliveryStatus.PENDING, now, now
        delivery.max_attempts = delivery.attempts + settings.DCI_EVENTS_MAX_ATTEMPTS
        delivery.task_id = delivery_send.enqueue(delivery.id, delivery.attempts + 1).id
        delivery.save(update_fields=["status", "next_try_at", "updated_at", "max_attempts", "task_id"])
    return delivery


def topic_follow(*, topic, user):
    """``user`` is mailed when a job of ``topic`` fails; following twice is following."""
    return TopicFollower.objects.get_or_create(topic=topic, user=user)[0]


def topic_unfollow(*, topic, user):
    return TopicFollower.objects.filter(topic=topic, user=user).delete()[0] > 0


def remoteci_follow(*, remoteci, user):
    """``user`` is mailed when a job of ``remoteci`` fails."""
    return RemoteciFollower.objects.get_or_create(remoteci=remoteci, user=user)[0]


def remoteci_unfollow(*, remoteci, user_id):
    return RemoteciFollower.objects.filter(remoteci=remoteci, user_id=user_id).delete()[0] > 0
