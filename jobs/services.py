"""Business rules of jobs: creation, updates, jobstates and their side effects.

Plain functions named ``<entity>_<action>`` with keyword-only arguments, called by
the viewsets, the admin actions and the management commands alike.

Each runs in a transaction of its own, or inside its caller's without a savepoint
(``ATOMIC``): an error aborts the whole unit of work anyway, and a savepoint would cost
two more round trips on the agents' hottest paths (jobstates, schedules).
"""

import functools
import uuid

from django.db import connection, connections, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from dciserver import prepared
from dciserver.api.exceptions import BadRequest
from dciserver.models import AuditLog, conflicts_as, new_etag
from jobs.models import (
    DURATION_SQL,
    UNFINISHED_STATUSES,
    Counter,
    Job,
    JobComponent,
    JobEvent,
    JobKeyValue,
    JobState,
    ProductTeam,
    Status,
    TopicSubscription,
    components_key,
)

ATOMIC = transaction.atomic(savepoint=False)


def job_heartbeat(*, job_id, status=None):
    """Refresh a job's ``updated_at`` (its heartbeat), ``duration`` and etag, and set its status if given.

    Called whenever a file, a key/value or a component is added to the job. Returns the new etag.
    """
    fresh = new_etag()
    changes = {"etag": fresh, "updated_at": timezone.now(), "duration": RawSQL(DURATION_SQL, ())}
    if status is not None:
        changes["status"] = status
    Job.objects.filter(pk=job_id).update(**changes)
    return fresh


@ATOMIC
def job_create(
    *,
    remoteci,
    jobdefinition=None,
    topic=None,
    components=(),
    team=None,
    pipeline=None,
    user_agent="",
    client_version="",
    **fields,
):
    """Create a job of ``remoteci`` for a job definition or a topic alone, with its components.

    The team is the remoteci's, the product its topic's; a job definition fixes the topic.
    ``fields``: the job's other columns (``comment``, ``status``, ``name``, ``tags``,
    ``previous_job``...), as ``JobSerializer`` validated them.
    """
    if team is not None and team.id != remoteci.team_id:
        raise BadRequest("team_id must be the remoteci's team", {"errors": {"team_id": ["Not the remoteci's team."]}})
    if pipeline is not None and pipeline.team_id != remoteci.team_id:
        raise BadRequest(
            "pipeline_id must be a pipeline of the remoteci's team",
            {"errors": {"pipeline_id": ["Not a pipeline of the remoteci's team."]}},
        )
    if jobdefinition is not None:
        if topic is not None and topic.id != jobdefinition.topic_id:
            raise BadRequest(
                "topic_id must be the job definition's topic",
                {"errors": {"topic_id": ["Not the jobdefinition's topic."]}},
            )
        topic = jobdefinition.topic
    if topic is None:
        raise BadRequest(
            "A job needs a jobdefinition_id or a topic_id",
            {"errors": {"jobdefinition_id": ["This field is required (or give topic_id)."]}},
        )
    components = list(components)
    fields["comment"] = fields.get("comment") or ""
    job = Job.objects.create(
        remoteci=remoteci,
        jobdefinition=jobdefinition,
        topic=topic,
        product_id=topic.product_id,
        team_id=remoteci.team_id,
        pipeline=pipeline,
        components_key=components_key(c.id for c in components),
        user_agent=(user_agent or "")[:255],
        client_version=(client_version or "")[:255],
        **fields,
    )
    JobComponent.objects.bulk_create([JobComponent(job=job, component=c) for c in components])
    return job


@ATOMIC
def job_update(*, job, etag, changes):
    """PUT a job: the etag check and the write are one step; a status change appends a jobstate."""
    previous_status = job.status
    fresh = job.update_with_etag(etag, changes)
    if "status" in changes and changes["status"] != previous_status:
        JobState.objects.create(
            job=job, team_id=job.team_id, status=changes["status"], comment=changes.get("comment", "")
        )
    return fresh


def jobstate_create(*, job, user=None, audit=None, returning=None, **fields):
    """An agent reports a phase: the jobstate is kept and the job takes its status, a new etag
    and its heartbeat. ``fields`` are the jobstate's other columns, as ``JobStateSerializer``
    validated them (the model's defaults fill the rest).

    One statement, one round trip: the agents' most frequent write, atomic without a transaction.
    ``job`` (the job or its id) is found by that statement among the live jobs ``user`` may read
    (the API's caller; ``None`` for an operator's command, which names the job itself): an unknown
    job, another team's, and one archived meanwhile are all a 400 naming ``job_id``.
    ``audit``, the columns of the request's audit entry but its id, time and object, is written
    by it too. ``returning``: SQL on the written row (aliased ``jobstate``) whose values the
    statement gives back as well (the API's answer): then ``(jobstate, those values)``.
    """
    job_id = getattr(job, "pk", job)
    # The connection itself, not Django's proxy to it: each use of the proxy looks it up again.
    db = connections[JobState.objects.db]
    readable, scope_params = ("", []) if user is None else Job.objects.readable_sql(user)
    condition = f" AND {readable}" if readable else ""
    jobstate = JobState(job_id=job_id, **fields)
    sql, columns, audit_fields = _report_statement(audit is not None, condition, returning)
    params = [jobstate.status, new_etag(), job_id, *scope_params]
    params += [field.get_db_prep_save(getattr(jobstate, field.attname), db) for field in columns]
    if audit is not None:
        audit = {"signature": None, **audit, "id": uuid.uuid4(), "object_id": str(jobstate.id)}
        params += [audit[field.attname] for field in audit_fields]
    with db.cursor() as cursor:
        prepared.execute(cursor, sql, params)
        row = cursor.fetchone()
    if row is None:
        raise BadRequest(f"job {job_id} is not found", {"errors": {"job_id": [f'Unknown id "{job_id}".']}})
    for attname, value in zip(_FROM_JOB, row[: len(_FROM_JOB)], strict=True):
        setattr(jobstate, attname, value)
    jobstate._state.adding = False
    jobstate._state.db = db.alias
    return jobstate if returning is None else (jobstate, row[len(_FROM_JOB) :])


# The columns a jobstate takes from its job's row, under the row lock of the job's UPDATE: of
# concurrent reports on one job, the one written last is then the newest jobstate, and the job
# keeps its status (a time taken before the statement would let an older report land last).
_FROM_JOB = {"created_at": 'job."updated_at"', "job_id": 'job."id"', "team_id": 'job."team_id"'}


# One per team (its scope is written in the text), the most recent kept.
@functools.lru_cache(maxsize=1024)
def _report_statement(audited, condition="", answer=None):
    """``jobstate_create``'s statement (with the audit entry if ``audited``, the job found where
    ``condition`` holds, SQL on its table as ``readable_sql`` gives it; ``answer``: more values read
    from the written row, aliased ``jobstate``), the jobstate's
    fields whose values are its parameters, and the audit entry's, in the order of the parameters.

    Built from the models' fields: a column added to ``JobState`` is written without a change here.
    """
    columns = [field for field in JobState._meta.concrete_fields if field.attname not in _FROM_JOB]
    audit_fields = [field for field in AuditLog._meta.concrete_fields if field.attname != "created_at"]
    audit = ""
    if audited:
        audit_columns = ", ".join(f'"{field.column}"' for field in audit_fields)
        audit = (
            f', audit AS (INSERT INTO "{AuditLog._meta.db_table}" ({audit_columns}, "created_at") '
            f'SELECT {", ".join(["%s"] * len(audit_fields))}, jobstate."created_at" FROM jobstate)'
        )
    from_job = [JobState._meta.get_field(attname) for attname in _FROM_JOB]
    names = ", ".join(f'"{field.column}"' for field in [*columns, *from_job])
    returning = ", ".join(f'"{field.column}"' for field in from_job)
    sql = (
        f'WITH job AS (UPDATE "{Job._meta.db_table}" SET "status" = %s, "etag" = %s, "updated_at" = clock_timestamp(), '
        f'"duration" = {DURATION_SQL} '
        f'WHERE "id" = %s AND "archived_at" IS NULL{condition} RETURNING "id", "team_id", "updated_at"), '
        f'jobstate AS (INSERT INTO "{JobState._meta.db_table}" '
        f"({names}) "
        f"SELECT {', '.join(['%s'] * len(columns) + list(_FROM_JOB.values()))} FROM job "
        f"RETURNING {'*' if answer else returning})"
        f"{audit} SELECT {returning}{f', {answer}' if answer else ''} FROM jobstate"
    )
    return sql, columns, audit_fields


def job_kv_create(*, job, key, value):
    """Record ``value`` under ``key`` on ``job`` (its etag and heartbeat refreshed). A key the job
    has already: ``Conflict``."""
    with conflicts_as("kv"), ATOMIC:
        kv = JobKeyValue.objects.create(job_id=job.pk, team_id=job.team_id, key=key, value=value)
        job_heartbeat(job_id=job.pk)
    return kv


@ATOMIC
def job_kv_delete(*, job, key):
    """Forget ``key`` on ``job``; returns whether it was there."""
    deleted, _ = JobKeyValue.objects.filter(job_id=job.pk, key=key).delete()
    if deleted:
        job_heartbeat(job_id=job.pk)
    return bool(deleted)


@ATOMIC
def job_component_add(*, job, component):
    """Attach ``component`` to ``job`` (an agent adds what it built: a kernel, a catalog).
    Attached already: ``Conflict``."""
    with conflicts_as("component"):
        JobComponent.objects.create(job_id=job.pk, component_id=component.pk)
    _components_changed(job)


@ATOMIC
def job_component_remove(*, job, component_id):
    """Detach a component from ``job``; returns whether it was attached."""
    deleted, _ = JobComponent.objects.filter(job_id=job.pk, component_id=component_id).delete()
    if deleted:
        _components_changed(job)
    return bool(deleted)


def _components_changed(job):
    # The key says which component set the job ran: the schedule's memory of it follows.
    ids = JobComponent.objects.filter(job_id=job.pk).values_list("component_id", flat=True)
    Job.objects.filter(pk=job.pk).update(components_key=components_key(ids))
    job_heartbeat(job_id=job.pk)


JOBS_EVENTS = "jobs_events"


def counter_get(*, name=JOBS_EVENTS):
    """The consumers' cursor ``name``, made at 0 on first asking."""
    counter, _ = Counter.objects.get_or_create(name=name)
    return counter


def counter_set(*, counter, sequence, etag):
    """Move a cursor: the etag check and the write are one step (``update_with_etag``)."""
    return counter.update_with_etag(etag, {"sequence": sequence})


def job_events_delete(*, since):
    """Delete the job events from id ``since`` on (what ``DELETE /jobs_events/<seq>`` has always
    meant to the modern DCI). Returns how many."""
    deleted, _ = JobEvent.objects.filter(id__gte=since).delete()
    return deleted


def job_archive(*, job, etag=None):
    """DELETE a job: the job and the rows archived with it (its jobstates, its files) leave the API together."""
    job.archive(etag=etag)


def job_recheck(*, job):
    """Copy a job to be run again: the copy is handed out by its remoteci's next schedule, once,
    and follows ``job`` (``previous_job``)."""
    with ATOMIC:
        copy = Job.objects.create(
            remoteci_id=job.remoteci_id,
            jobdefinition_id=job.jobdefinition_id,
            topic_id=job.topic_id,
            team_id=job.team_id,
            comment=job.comment,
            recheck=True,
            recheck_pending=True,
            status=Status.NEW,
            components_key=job.components_key,
            # The same run again: what names it and where it belongs, and the job it reruns.
            name=job.name,
            configuration=job.configuration,
            url=job.url,
            tags=job.tags,
            data=job.data,
            product_id=job.product_id,
            pipeline_id=job.pipeline_id,
            previous_job_id=job.id,
        )
        component_ids = JobComponent.objects.filter(job=job).values_list("component_id", flat=True)
        JobComponent.objects.bulk_create([JobComponent(job=copy, component_id=pk) for pk in component_ids])
    return copy


@ATOMIC
def jobs_kill(*, jobs, reason, skip_locked=False, updated_before=None):
    """Mark the unfinished jobs among ``jobs`` (a queryset) ``killed``, each with a jobstate saying why.

    The rows are locked first, so a job finishing at the same moment either keeps its
    final status or is killed with its jobstate, never a mix. With ``skip_locked``,
    rows another transaction holds are left to it (concurrent ``expire_jobs`` runs).
    Returns the ids killed.
    """
    query = jobs.query
    if query.is_sliced or query.distinct or query.combinator:
        # A slice (expire_jobs' batches) or a distinct queryset cannot be locked as it is: through its ids.
        jobs = Job.objects.filter(pk__in=jobs.values("pk"))
    # Otherwise the filter applies to ``jobs`` itself: as ``pk IN (jobs)`` the planner may join the
    # jobs table to itself and walk every unfinished job once per unfinished job (schedule took
    # 50 ms with 500 unfinished jobs in the bench), where the remoteci's own index answers at once.
    locked = jobs.filter(status__in=UNFINISHED_STATUSES, archived_at__isnull=True)
    if updated_before is not None:
        # Re-checked under the lock: a job that sent a heartbeat meanwhile lives on.
        locked = locked.filter(updated_at__lt=updated_before)
    locked = locked.select_for_update(skip_locked=skip_locked, of=("self",)).values_list("pk", flat=True)
    ids = list(locked)
    if not ids:
        return []
    # The kill itself (status, etag, updated_at, the jobstates) is written by the same database
    # function as a schedule's kill of unfinished jobs (migration jobs/0003).
    with connection.cursor() as cursor:
        cursor.execute("SELECT dci_jobs_kill(%s::uuid[], %s)", [ids, reason])
        return [row[0] for row in cursor.fetchall()]


def topic_subscribe(*, topic, team):
    """Subscribe ``team`` to ``topic`` (its members may then read and schedule it); idempotent."""
    TopicSubscription.objects.get_or_create(topic=topic, team=team)


def topic_unsubscribe(*, topic, team_id):
    """End a subscription; returns whether there was one."""
    deleted, _ = TopicSubscription.objects.filter(topic=topic, team_id=team_id).delete()
    return bool(deleted)


def product_link_team(*, product, team):
    """Link ``team`` to ``product``: its members reach the product's exported topics (all of them
    with pre-release access). Linked already: ``Conflict``."""
    with conflicts_as("product team"):
        ProductTeam.objects.create(product=product, team=team)


def product_unlink_team(*, product, team_id):
    """Unlink a team; returns whether it was linked."""
    deleted, _ = ProductTeam.objects.filter(product=product, team_id=team_id).delete()
    return bool(deleted)
