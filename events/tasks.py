"""The worker's work (``manage.py events_worker``): dispatching an event to its destinations, one
attempt of a delivery, and taking over the work of workers that died.

Tasks are Django's (``django_tasks``), kept in PostgreSQL by ``django_tasks_db``, whose workers
claim each with ``SELECT … FOR UPDATE SKIP LOCKED``: several workers on several machines share them,
none runs one twice. What the library leaves to its users is done here with the same lock: a
task holds its event's or delivery's row for as long as it works on it, so a row whose task was
claimed but which nobody holds belongs to a worker that died (its connection closed, PostgreSQL
released the lock), and ``recover`` queues it again. An attempt is sent under that lock and
recorded in the same transaction; each task names the attempt it sends, so a task queued twice
sends it once. A worker killed after sending and before recording leaves the attempt unrecorded:
it is sent again, with the same idempotency key, which is all a receiver sees of it.
"""

import logging
import random
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from events.channels import SENDERS, Undelivered
from events.models import (
    FAILING_STATUSES,
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    Kind,
    RemoteciFollower,
    TopicFollower,
    Webhook,
)
from jobs.models import Job
from teams.models import User

logger = logging.getLogger(__name__)


def _worker_id(context):
    ids = context.task_result.worker_ids
    return ids[-1] if ids else ""


def payload_of(event, job):
    """What every destination of ``event`` is told (JSON), the job as it is when it is dispatched."""

    def named(row):
        return None if row is None else {"id": str(row.id), "name": row.name}

    return {
        "event": event.kind,
        "id": event.id,
        "created_at": event.created_at.isoformat(),
        "status": event.status,
        "regressions": event.regressions,
        "job": {
            "id": str(job.id),
            "name": job.name,
            "status": job.status,
            "status_reason": job.status_reason,
            "comment": job.comment,
            "configuration": job.configuration,
            "tags": job.tags,
            "duration": job.duration,
            "created_at": job.created_at.isoformat(),
            "updated_at": job.updated_at.isoformat(),
            "url": settings.DCI_PUBLIC_URL + reverse("dashboard-job", args=[job.id]),
        },
        "team": named(job.team),
        "remoteci": named(job.remoteci),
        "topic": named(job.topic),
        "product": named(job.product),
    }


def _followers(job):
    """The people mailed about ``job``: those following its topic or its remoteci, with an
    address, who may read the job (the job's own scope decides)."""
    following = Q(pk__in=TopicFollower.objects.filter(topic_id=job.topic_id).values("user_id")) | Q(
        pk__in=RemoteciFollower.objects.filter(remoteci_id=job.remoteci_id).values("user_id")
    )
    return [
        user
        for user in User.objects.filter(following).exclude(email="").order_by("pk")
        if user.is_active and Job.objects.for_user(user).filter(pk=job.pk).exists()
    ]


def _delivery(event, channel, **destination):
    return Delivery(
        event=event,
        channel=channel,
        team_id=event.team_id,
        idempotency_key=uuid.uuid4(),
        max_attempts=settings.DCI_EVENTS_MAX_ATTEMPTS,
        **destination,
    )


@task(takes_context=True)
def event_dispatch(context, event_id):
    """One delivery per destination of the event, each with the task of its first attempt."""
    with transaction.atomic():
        event = Event.objects.select_for_update(skip_locked=True).filter(id=event_id, dispatched_at=None).first()
        if event is None:
            return 0  # dispatched already, or being dispatched by another worker
        job = Job.objects.select_related("team", "remoteci", "topic", "product").get(pk=event.job_id)
        event.payload = payload_of(event, job)
        deliveries = [
            _delivery(event, Channel.WEBHOOK, webhook=webhook)
            for webhook in Webhook.objects.live().filter(team_id=event.team_id, state=Webhook.State.ACTIVE)
            if webhook.wants(event)
        ]
        if event.kind == Kind.FINISHED and event.status in FAILING_STATUSES:
            deliveries += [_delivery(event, Channel.MAIL, user=user) for user in _followers(job)]
        if settings.DCI_AMQP_URL:
            deliveries.append(_delivery(event, Channel.AMQP))
        Delivery.objects.bulk_create(deliveries)
        for delivery in deliveries:
            delivery.task_id = delivery_send.enqueue(delivery.id, 1).id
        Delivery.objects.bulk_update(deliveries, ["task_id"])
        event.dispatched_at = timezone.now()
        event.save(update_fields=["payload", "dispatched_at"])
    return len(deliveries)


def backoff(attempt):
    """Seconds before the attempt after ``attempt``: exponential, capped, with jitter (between half
    and all of it), so that deliveries failing together do not come back together."""
    delay = min(settings.DCI_EVENTS_RETRY_CAP, settings.DCI_EVENTS_RETRY_BASE * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter, not a secret)


@task(takes_context=True)
def delivery_send(context, delivery_id, attempt):
    """Attempt ``attempt`` of a delivery: sent, recorded, and the next one queued if it failed."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "webhook", "user")
            .filter(id=delivery_id, status=DeliveryStatus.PENDING, attempts=attempt - 1)
            .first()
        )
        if delivery is None:
            return "skipped"  # sent already, or being sent by another worker
        started_at, started = timezone.now(), time.monotonic()
        try:
            status_code, error = SENDERS[delivery.channel](delivery), ""
        except Undelivered as exc:
            status_code, error = exc.status_code, str(exc)
        except Exception as exc:  # a bug of a sender: the attempt fails with it, the worker goes on
            logger.exception("Delivery %s: attempt %s failed", delivery.id, attempt)
            status_code, error = None, f"{type(exc).__name__}: {exc}"
        now = timezone.now()
        DeliveryAttempt.objects.create(
            delivery=delivery,
            team_id=delivery.team_id,
            number=attempt,
            started_at=started_at,
            duration_ms=(time.monotonic() - started) * 1000,
            status_code=status_code,
            error=error,
            worker=_worker_id(context),
        )
        delivery.attempts, delivery.last_status_code, delivery.last_error = attempt, status_code, error
        delivery.updated_at, delivery.next_try_at, delivery.task_id = now, None, None
        if not error:
            delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, now
        elif attempt >= delivery.max_attempts:
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.next_try_at = now + timedelta(seconds=backoff(attempt))
            delivery.task_id = delivery_send.using(run_after=delivery.next_try_at).enqueue(delivery.id, attempt + 1).id
        delivery.save()
    return delivery.status


# The work rows whose task is not alive: none, or finished without finishing their work, or
# claimed longer ago than the grace and yet not held by its worker (``FOR UPDATE SKIP LOCKED``
# passes over the rows a live worker holds). ``{columns}``: what queueing the task again needs.
_ORPHANS = """
SELECT w.id, t.id, {columns} FROM {table} w
LEFT JOIN {tasks} t ON t.id = w.task_id
WHERE {pending} AND (t.id IS NULL OR t.status IN ('FAILED', 'SUCCESSFUL')
                     OR (t.status = 'RUNNING' AND t.started_at < %s))
ORDER BY w.id
LIMIT 1000
FOR UPDATE OF w SKIP LOCKED
"""
_WORK = (
    (Event, "w.dispatched_at IS NULL", "0, now()", lambda pk, attempts, when: event_dispatch.enqueue(pk)),
    (
        Delivery,
        "w.status = 'pending'",
        "w.attempts, greatest(w.next_try_at, now())",
        lambda pk, attempts, when: delivery_send.using(run_after=when).enqueue(pk, attempts + 1),
    ),
)


def recover():
    """Queue again the events and deliveries of workers that died; answers how many."""
    before = timezone.now() - timedelta(seconds=settings.DCI_EVENTS_CLAIM_GRACE)
    recovered = 0
    for model, pending, columns, queue in _WORK:
        sql = _ORPHANS.format(
            columns=columns, table=model._meta.db_table, tasks=DBTaskResult._meta.db_table, pending=pending
        )
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [before])
                rows = cursor.fetchall()
            for pk, _, attempts, when in rows:
                model.objects.filter(pk=pk).update(task_id=queue(pk, attempts, when).id)
                logger.warning("%s %s: its worker died; queued again", model._meta.verbose_name, pk)
            # The dead worker's tasks, left running by it, say what became of them.
            DBTaskResult.objects.filter(id__in=[row[1] for row in rows], status=TaskResultStatus.RUNNING).update(
                status=TaskResultStatus.FAILED, finished_at=timezone.now(), traceback="Its worker died; queued again."
            )
            recovered += len(rows)
    return recovered
