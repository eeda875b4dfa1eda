"""Events out (SPEC §17): what happened to a job, and its deliveries to webhooks, mailboxes and AMQP.

An ``Event`` is written by the database, in the transaction of what it tells (migration 0002's
triggers), with the task that dispatches it: a change rolled back leaves neither. Dispatching
writes one ``Delivery`` per destination, each sent by its own tasks, one attempt at a time.
"""

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from dciserver.models import MutableModel, ScopedQuerySet, team_members, through
from jobs.models import Job, Topic
from teams.models import RemoteCI, Team, User


class Kind(models.TextChoices):
    """What an event tells: a job reached a final status (``job_finished``, whatever the status),
    a JUnit report of a job has regressions, a job was killed."""

    FINISHED = "job_finished"
    REGRESSED = "job_regressed"
    KILLED = "job_killed"


# What a webhook subscribes to: the events' kinds, and ``job_failed``, the finished jobs that failed.
FAILED = "job_failed"
FAILING_STATUSES = ("failure", "error")
SUBSCRIBABLE = (*Kind.values, FAILED)


def new_webhook_secret():
    return secrets.token_urlsafe(32)


class Webhook(MutableModel):
    """A team's subscription: the events of its jobs of the kinds it names are POSTed to ``url``,
    signed with ``secret`` (shown once, when it is made)."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="webhooks", db_index=False)
    name = models.CharField(max_length=255)
    url = models.URLField(max_length=2048)
    kinds = models.JSONField(default=list)
    secret = models.CharField(max_length=64, default=new_webhook_secret, editable=False)

    archived_with = ("team",)

    class Meta:
        indexes = [
            # The webhooks of a job's team, when its event is dispatched; a team's list.
            models.Index(fields=["team", "-created_at"], name="webhook_team_created"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visible_to(cls, user):
        """The members of its team."""
        return team_members(user, "team")

    def wants(self, event):
        kinds = set(self.kinds)
        if event.kind in kinds:
            return True
        return FAILED in kinds and event.kind == Kind.FINISHED and event.status in FAILING_STATUSES


class Event(models.Model):
    """Something that happened to a job, as its deliveries tell it (``payload``, written once by
    its dispatch: every delivery and redelivery sends the same bytes)."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+", db_index=False)
    # The job's team, kept on the row: the scope is read without a join.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", db_index=False)
    # The job's status when it happened.
    status = models.CharField(max_length=32)
    # A regression's count (job_regressed).
    regressions = models.IntegerField(default=0)
    payload = models.JSONField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # The task that dispatches it (``django_tasks_db``'s row): a worker that died with it is
    # found by it, and the event dispatched again.
    task_id = models.UUIDField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            # Deleting a job (purge) finds its events.
            models.Index(fields=["job"], name="event_job"),
            # The events still to dispatch, for the worker's recovery.
            models.Index(fields=["id"], name="event_undispatched", condition=Q(dispatched_at__isnull=True)),
        ]

    def __str__(self):
        return f"{self.id}: {self.kind} {self.job_id}"

    @classmethod
    def visible_to(cls, user):
        """The members of its job's team."""
        return team_members(user, "team")


class Channel(models.TextChoices):
    WEBHOOK = "webhook"
    MAIL = "mail"
    AMQP = "amqp"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Delivery(models.Model):
    """One event to one destination: a webhook, a person following the job (mail) or the AMQP
    exchange. Its ``idempotency_key`` is the same on every attempt, so a receiver that sees a
    delivery twice (a worker killed after sending, before recording) knows it."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    webhook = models.ForeignKey(Webhook, null=True, on_delete=models.CASCADE, related_name="deliveries")
    user = models.ForeignKey(User, null=True, on_delete=models.CASCADE, related_name="+")
    # The event's team, for the scope.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", db_index=False)
    idempotency_key = models.UUIDField(unique=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.IntegerField(default=0)
    # The attempt after which it is failed (a manual redelivery gives it a new round).
    max_attempts = models.IntegerField()
    next_try_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    # The task sending its next attempt (see ``Event.task_id``).
    task_id = models.UUIDField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            # One delivery per event and destination, whoever dispatches it and however often.
            models.UniqueConstraint(
                fields=["event", "webhook"], condition=Q(channel="webhook"), name="delivery_event_webhook"
            ),
            models.UniqueConstraint(fields=["event", "user"], condition=Q(channel="mail"), name="delivery_event_user"),
            models.UniqueConstraint(fields=["event"], condition=Q(channel="amqp"), name="delivery_event_amqp"),
        ]
        indexes = [
            # The deliveries still to send, for the worker's recovery.
            models.Index(fields=["id"], name="delivery_pending", condition=Q(status="pending")),
        ]

    def __str__(self):
        return f"{self.id}: event {self.event_id} by {self.channel} ({self.status})"

    @classmethod
    def visible_to(cls, user):
        """The members of its event's team."""
        return team_members(user, "team")


class DeliveryAttempt(models.Model):
    """One try of a delivery: when, how long, and what the other side answered."""

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_rows", db_index=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", db_index=False)
    number = models.IntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    status_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # The worker that tried (``events_worker``'s id).
    worker = models.CharField(max_length=64, blank=True, default="")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="attempt_delivery_number")]

    def __str__(self):
        return f"{self.delivery_id} #{self.number}"

    @classmethod
    def visible_to(cls, user):
        """The members of its delivery's team."""
        return team_members(user, "team")


class TopicFollower(models.Model):
    """A person following a topic's jobs: mailed when one of them fails (``/topics/<id>/notifications``)."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["topic", "user"], name="topic_follower_unique")]

    def __str__(self):
        return f"{self.user_id} → {self.topic_id}"

    @classmethod
    def visible_to(cls, user):
        """Whoever reads the topic."""
        return through(cls, "topic", user, few=True)


class RemoteciFollower(models.Model):
    """A person following a remoteci's jobs (``/remotecis/<id>/users``)."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    remoteci = models.ForeignKey(RemoteCI, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["remoteci", "user"], name="remoteci_follower_unique")]

    def __str__(self):
        return f"{self.user_id} → {self.remoteci_id}"

    @classmethod
    def visible_to(cls, user):
        """Whoever reads the remoteci."""
        return through(cls, "remoteci", user)
