"""Topics, components, job definitions, jobs and jobstates."""

import hashlib
import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import connections, models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from dciserver import prepared
from dciserver.models import BaseModel, MutableModel, ScopedQuerySet, team_members, through
from teams.models import Team


class Product(MutableModel):
    """What a partner builds on (SPEC §11): its topics are reached by the teams linked to it."""

    name = models.CharField(max_length=255)
    label = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    teams = models.ManyToManyField(Team, blank=True, related_name="products", through="ProductTeam")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=Q(archived_at__isnull=True), name="product_name_unique"),
            models.UniqueConstraint(
                fields=["label"], condition=Q(archived_at__isnull=True), name="product_label_unique"
            ),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visible_to(cls, user):
        """The members of the teams linked to it."""
        return team_members(user, "teams")


class ProductTeam(models.Model):
    """A team linked to a product: it reaches the product's exported topics (all, with pre-release access)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_index=False)  # the unique pair leads with it
    team = models.ForeignKey(Team, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "team"], name="product_team_unique")]

    def __str__(self):
        return f"{self.team} → {self.product}"


class Topic(MutableModel):
    """A product line teams reach, by subscription or through its product; its components are what jobs test."""

    name = models.CharField(max_length=255)
    component_types = models.JSONField(default=list, blank=True)
    # Stored for the modern clients; the server uses no optional type.
    component_types_optional = models.JSONField(default=list, blank=True)
    teams = models.ManyToManyField(Team, blank=True, related_name="topics", through="TopicSubscription")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="topics")
    # Exported: every team linked to the product reaches it, not only those with pre-release access.
    export_control = models.BooleanField(default=False)
    # Where ``POST /jobs/upgrade`` takes a job.
    next_topic = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=Q(archived_at__isnull=True), name="topic_name_unique"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visible_to(cls, user):
        """Who reaches it (SPEC §11): the members of the teams subscribed to it, and of the teams
        linked to its product where it is exported or their team has pre-release access."""
        if getattr(user, "feeds_catalogue", False):
            return Q()  # a feeder feeds every topic
        if user.team_id is None:
            return None
        through_product = Q(product__teams=user.team_id, product__archived_at__isnull=True)
        if not user.team.has_pre_release_access:
            through_product &= Q(export_control=True)
        return Q(teams=user.team_id) | through_product


class TopicSubscription(models.Model):
    """A team's subscription to a topic: its members may read the topic and schedule from it."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, db_index=False)  # the unique pair leads with it
    team = models.ForeignKey(Team, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["topic", "team"], name="topic_subscription_unique")]

    def __str__(self):
        return f"{self.team} → {self.topic}"


class Component(MutableModel):
    """A versioned artefact of a topic (a build, a repository snapshot) that jobs test: global, or a
    team component that only its team sees (SPEC §11)."""

    name = models.CharField(max_length=255)
    type = models.CharField(max_length=255)
    # component_topic_type_newest leads with it.
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="components", db_index=False)
    canonical_project_name = models.CharField(max_length=255, blank=True, default="")
    title = models.CharField(max_length=255, blank=True, default="")
    message = models.TextField(blank=True, default="")
    url = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    sha = models.CharField(max_length=255, blank=True, default="")
    # The modern DCI's identity of a component: what it is, which version, an id of its own.
    display_name = models.CharField(max_length=255, blank=True, default="")
    version = models.CharField(max_length=255, blank=True, default="")
    uid = models.CharField(max_length=255, blank=True, default="")
    tags = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    released_at = models.DateTimeField(default=timezone.now)
    # A team component: its team's only (null: a global component, every reader of the topic's).
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="components")

    class Meta:
        constraints = [
            # The seed's rule (a name once per topic), for the global components it knows; a
            # version makes another component of the same name.
            models.UniqueConstraint(
                fields=["topic", "name", "version"],
                condition=Q(archived_at__isnull=True, team__isnull=True),
                name="component_topic_name_unique",
            ),
            # The modern DCI's: a display name, type and version once per topic, and per team
            # among a team's components.
            models.UniqueConstraint(
                fields=["topic", "type", "display_name", "version"],
                condition=Q(archived_at__isnull=True, team__isnull=True),
                name="component_global_unique",
            ),
            models.UniqueConstraint(
                fields=["topic", "type", "display_name", "version", "team"],
                condition=Q(archived_at__isnull=True, team__isnull=False),
                name="component_team_unique",
            ),
        ]
        indexes = [
            # Scheduling: the newest component of each type within a topic.
            models.Index(fields=["topic", "type", "-created_at"], name="component_topic_type_newest"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # Named by one of its names, it is known by both (the modern uniqueness reads the display name).
        self.display_name = self.display_name or self.name
        self.name = self.name or self.display_name
        super().save(*args, **kwargs)

    @classmethod
    def visible_to(cls, user):
        """Whoever reads its topic: a global component; a team component, its team's members."""
        topic = through(cls, "topic", user, few=True)
        return None if topic is None else topic & (Q(team__isnull=True) | Q(team=user.team_id))


class JobDefinition(MutableModel):
    """What to run for a topic: which component types form a job, and in which order to hand them out."""

    name = models.CharField(max_length=255)
    # jobdefinition_schedule_order leads with it.
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="jobdefinitions", db_index=False)
    priority = models.PositiveSmallIntegerField(default=0)
    component_types = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = "job definition"
        constraints = [
            models.CheckConstraint(condition=Q(priority__lte=1000), name="jobdefinition_priority_range"),
        ]
        indexes = [
            # Scheduling walks a topic's job definitions by priority, then age.
            models.Index(fields=["topic", "priority", "created_at"], name="jobdefinition_schedule_order"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visible_to(cls, user):
        """Whoever reads its topic."""
        return through(cls, "topic", user, few=True)

    @property
    def active(self):
        return self.state == self.State.ACTIVE


class Status(models.TextChoices):
    """Job and jobstate statuses, as on the wire."""

    NEW = "new"
    PRE_RUN = "pre-run"
    RUNNING = "running"
    POST_RUN = "post-run"
    SUCCESS = "success"
    FAILURE = "failure"
    KILLED = "killed"
    PRODUCT_FAILURE = "product-failure"
    DEPLOYMENT_FAILURE = "deployment-failure"
    ERROR = "error"


FINAL_STATUSES = frozenset(
    {
        Status.SUCCESS,
        Status.FAILURE,
        Status.KILLED,
        Status.PRODUCT_FAILURE,
        Status.DEPLOYMENT_FAILURE,
        Status.ERROR,
    }
)
UNFINISHED_STATUSES = frozenset(set(Status) - FINAL_STATUSES)


def components_key(component_ids):
    """A stable digest of a set of component ids: what a remoteci has already run."""
    joined = ",".join(sorted(str(pk) for pk in component_ids))
    return hashlib.sha1(joined.encode()).hexdigest()


class Pipeline(MutableModel):
    """Jobs of a team that run together (an install, then the workloads tested on it), oldest first."""

    name = models.CharField(max_length=255)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="pipelines", db_index=False)

    archived_with = ("team",)

    class Meta:
        indexes = [
            # GET /pipelines for a team user, newest first.
            models.Index(fields=["team", "-created_at"], name="pipeline_team_created"),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visible_to(cls, user):
        """The members of its team."""
        return team_members(user, "team")


# The statuses a job event is written for (SPEC §13): the 2025 server's final statuses.
EVENT_STATUSES = (Status.SUCCESS, Status.FAILURE, Status.ERROR)


# A job's ``duration`` as of now: seconds since its creation (SQL on its row, in an UPDATE).
DURATION_SQL = 'floor(extract(epoch FROM clock_timestamp() - "created_at"))::integer'


class Job(MutableModel):
    """One run of a set of components on a remoteci."""

    status = models.CharField(max_length=32, choices=Status.choices, default=Status.NEW)
    comment = models.TextField(blank=True, default="")
    recheck = models.BooleanField(default=False)
    # Indexed by the composite indexes below that lead with them (job_remoteci_components, job_team_created):
    # every index is paid by every write, and a job is written by each of its jobstates.
    remoteci = models.ForeignKey("teams.RemoteCI", on_delete=models.PROTECT, related_name="jobs", db_index=False)
    jobdefinition = models.ForeignKey(
        JobDefinition, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="jobs", db_index=False)
    components = models.ManyToManyField(Component, blank=True, related_name="jobs", through="JobComponent")
    components_key = models.CharField(max_length=40, default=components_key([]), editable=False)
    # A recheck copy is handed out by its remoteci's next schedule, once.
    recheck_pending = models.BooleanField(default=False, editable=False)
    user_agent = models.CharField(max_length=255, blank=True, default="")
    client_version = models.CharField(max_length=255, blank=True, default="")
    # The modern DCI's fields (SPEC §12). Database defaults too: ``dci_schedule`` inserts jobs
    # naming its columns, and the ones it does not name take these.
    name = models.CharField(max_length=255, blank=True, default="", db_default="")
    status_reason = models.TextField(blank=True, default="", db_default="")
    configuration = models.CharField(max_length=255, blank=True, default="", db_default="")
    url = models.TextField(blank=True, default="", db_default="")
    tags = ArrayField(models.CharField(max_length=255), blank=True, default=list, db_default=[])
    data = models.JSONField(blank=True, default=dict, db_default={})
    # Seconds from its creation to its last jobstate.
    duration = models.IntegerField(default=0, db_default=0)
    # Not indexed: products are deleted by purge alone, rarely enough to pay a scan of the jobs.
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs", db_index=False
    )
    # Indexed by job_pipeline_created.
    pipeline = models.ForeignKey(
        Pipeline, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs", db_index=False
    )
    # The job this one follows (a rerun, an update or an upgrade of it) and the one it updates.
    previous_job = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    update_previous_job = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=[s.value for s in Status]), name="job_status_valid"),
        ]
        indexes = [
            # GET /jobs for a team user: the team's newest jobs first.
            models.Index(fields=["team", "-created_at", "-id"], name="job_team_created"),
            # GET /jobs for a super admin: the newest jobs first.
            models.Index(fields=["-created_at", "-id"], name="job_created"),
            # A job's baseline (SPEC §15): the newest earlier job of its line.
            models.Index(fields=["remoteci", "topic", "name", "-created_at"], name="job_line"),
            # Scheduling: has this remoteci run this (jobdefinition, component set)?
            models.Index(fields=["remoteci", "components_key"], name="job_remoteci_components"),
            # Scheduling: the remoteci's unfinished jobs to kill, and pending recheck copies.
            models.Index(
                fields=["remoteci", "created_at"],
                condition=Q(status__in=["new", "pre-run", "running", "post-run"], archived_at__isnull=True),
                name="job_remoteci_unfinished",
            ),
            # Deleting a job (purge) finds the jobs that follow it, for SET NULL and the foreign keys'
            # checks: without these, a scan of every job per job deleted.
            models.Index(fields=["previous_job"], condition=Q(previous_job__isnull=False), name="job_previous"),
            models.Index(
                fields=["update_previous_job"],
                condition=Q(update_previous_job__isnull=False),
                name="job_update_previous",
            ),
            # GET /pipelines/<id>/jobs, oldest first.
            models.Index(
                fields=["pipeline", "created_at"], condition=Q(pipeline__isnull=False), name="job_pipeline_created"
            ),
            # expire_jobs: unfinished jobs by heartbeat.
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=["new", "pre-run", "running", "post-run"], archived_at__isnull=True),
                name="job_unfinished_heartbeat",
            ),
        ]

    def __str__(self):
        return str(self.id)

    @classmethod
    def visible_to(cls, user):
        """The members of its team."""
        return team_members(user, "team")


class JobCountQuerySet(ScopedQuerySet):
    def total_for(self, user, state=None):
        """How many live jobs ``user`` sees (of ``state`` if given): ``Job.objects.for_user(user).count()``."""
        sql, params = self.total_sql(user, state)
        with connections[self.db].cursor() as cursor:
            prepared.execute(cursor, sql, params)
            return int(cursor.fetchone()[0])

    def total_sql(self, user, state=None):
        """``total_for`` as a statement of one value, ``(sql, params)`` (also a scalar subquery)."""
        # Plain SQL: it runs on every page of jobs, and the ORM would compile it every time.
        condition, params = self.readable_sql(user)
        conditions = [condition] if condition else []
        if state is not None:
            conditions.append('"state" = %s')
            params.append(state)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f'SELECT COALESCE(SUM("count"), 0) FROM "{self.model._meta.db_table}"{where}', params


class JobCount(models.Model):
    """Live jobs per team and state, kept exact by triggers on the jobs table (migration 0002).

    The unfiltered ``GET /jobs`` reads ``_meta.count`` from these few rows instead of
    counting the team's (for a super admin: everyone's) whole history. A writer adds to
    the slot of its database connection, so that concurrent job inserts of one team do not
    queue on one row; the count is the sum of the slots.
    """

    team_id = models.UUIDField()
    state = models.CharField(max_length=16)
    slot = models.SmallIntegerField()
    count = models.BigIntegerField(default=0)

    objects = JobCountQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team_id", "state", "slot"], name="jobcount_team_state_slot"),
        ]

    def __str__(self):
        return f"{self.team_id} {self.state}: {self.count}"

    @classmethod
    def visible_to(cls, user):
        """The members of the team whose jobs it counts (as ``Job``'s)."""
        return team_members(user, "team_id")


class JobComponent(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, db_index=False)  # the unique pair leads with it
    component = models.ForeignKey(Component, on_delete=models.PROTECT)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "component"], name="job_component_unique")]

    def __str__(self):
        return f"{self.job_id} ← {self.component_id}"


class JobState(BaseModel):
    """One phase a job went through, as reported by its agent (immutable).

    Written by ``jobs.services.jobstate_create`` from ``JobStateSerializer``'s validated data (a
    column added here is written there without a change), and by the database itself for the
    jobs it kills (``dci_jobs_kill``, migrations 0003 and 0005), whose ``INSERT`` names its
    columns: a column added here takes a ``db_default`` (or ``null=True``) for that one.
    """

    status = models.CharField(max_length=32, choices=Status.choices)
    comment = models.TextField(blank=True, default="")
    # Indexed by jobstate_job_created and jobstate_team_created, which lead with them.
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="jobstates", db_index=False)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="jobstates", db_index=False)

    archived_with = ("job",)

    class Meta:
        verbose_name = "jobstate"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=[s.value for s in Status]), name="jobstate_status_valid"),
        ]
        indexes = [
            # GET /jobs/<id>/jobstates, oldest first.
            models.Index(fields=["job", "created_at"], name="jobstate_job_created"),
            # GET /jobstates for a team user.
            models.Index(fields=["team", "-created_at"], name="jobstate_team_created"),
        ]

    def __str__(self):
        return f"{self.status} ({self.job_id})"

    @classmethod
    def visible_to(cls, user):
        """The members of its team (its job's)."""
        return team_members(user, "team")


class JobKeyValue(models.Model):
    """A number a job records under a key (a duration, a count), once per key (SPEC §12)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="keys_values", db_index=False)
    # Its job's team, kept on the row as a jobstate keeps it: the scope is read without a join.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    value = models.FloatField()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "job key/value"
        constraints = [models.UniqueConstraint(fields=["job", "key"], name="job_key_unique")]

    def __str__(self):
        return f"{self.key}={self.value}"

    @classmethod
    def visible_to(cls, user):
        """The members of its job's team."""
        return team_members(user, "team")


class JobEvent(models.Model):
    """A job that reached a final status (SPEC §13), for consumers reading them in order.

    Written by the database, by the trigger on the jobs table (migration 0010), in the
    transaction of the status change: no event for a change rolled back, none lost. Super
    admins read them (no ``visible_to``: the scope fails closed).
    """

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events", db_index=False)
    # Not indexed: topics are deleted by purge alone, rarely enough to pay a scan of the events.
    topic = models.ForeignKey(Topic, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    status = models.CharField(max_length=32, choices=[(s.value, s.label) for s in EVENT_STATUSES])

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "job event"
        indexes = [
            # Deleting a job (purge) finds its events (the cascade, the foreign key's check).
            models.Index(fields=["job"], name="jobevent_job"),
        ]

    def __str__(self):
        return f"{self.id}: {self.job_id} {self.status}"


class Counter(MutableModel):
    """A named cursor a consumer keeps on the server, with an etag (``jobs_events``' sequence)."""

    name = models.CharField(max_length=255, unique=True)
    sequence = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.name}: {self.sequence}"
