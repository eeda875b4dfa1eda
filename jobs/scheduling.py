"""Scheduling: which job a remoteci runs next (SPEC §5). The algorithm, step by step, and the
code that does each step:

0. **Who and what** (Python, ``_candidates``: one statement, ``_candidates_statement``). The
   topic, live, else 404; through the API, the remoteci too, among those the caller sees
   (``RemoteCI.objects.readable_sql``), else 404; and whether the remoteci's team reaches the
   topic (``Topic.objects.readable_sql`` of a member of it: SPEC §11's rule, declared by
   ``Topic.visible_to``).
1. **Candidates** (Python, ``_plan``, from the same statement's row). The topic's active job
   definitions by ``priority`` ascending, then ``created_at`` (``definitions`` in
   ``_CANDIDATE_CTES``); each one's component set is the newest active component of each of its
   ``component_types`` in the topic (``newest`` in ``_CANDIDATE_COLUMNS``); a definition missing
   a type is skipped, with why. A topic without active job definitions is its own job definition
   (its ``component_types``, ``jobdefinition_id`` null). Each candidate gets its
   ``components_key`` here (SHA-1, which PostgreSQL has only through pgcrypto, missing from the
   embedded server).
2. **The decision and its writes** (SQL, one statement: ``dci_schedule``, migrations
   ``jobs/0003_schedule_function`` and ``jobs/0007_schedule_reach``), in order:

   a. the remoteci's row is locked (``SELECT ... FOR UPDATE``): inactive → 412 ``RemoteCI "<id>"
      is not active.``; its team not reaching the topic (step 0) → 412 ``Team is not subscribed...``;
   b. SPEC step 1: a pending recheck copy of this remoteci, oldest first, is handed out, once;
   c. SPEC steps 2–3: else the first candidate (in ``_plan``'s order) this remoteci has no live
      job for (same job definition and ``components_key``);
   d. SPEC step 5: its job is created with its components, the remoteci's team and the request's
      ``User-Agent`` / ``Client-Version``; no candidate left → 412 ``No jobs available for run.``
      with the skipped definitions (``job_schedule``);
   e. SPEC step 4: with ``DCI_SCHEDULE_KILLS_UNFINISHED``, the remoteci's other unfinished jobs
      (pending recheck copies wait their turn) are killed, each with a ``killed`` jobstate saying
      why: ``dci_jobs_kill`` (same migration; as rewritten by ``jobs/0005_kill_by_primary_key``),
      which ``jobs.services.jobs_kill`` also runs for ``expire_jobs`` and the admin.
3. **The audit entry** of the job handed out is written by the same statement
   (``_schedule_statement``), and ``job_schedule`` turns the function's ``reason`` into the 412s.

Why it holds: the remoteci's row lock makes concurrent schedules for one remoteci serialise, so
they never hand out the same (job definition, component set) twice, while schedules for other
remotecis take other row locks and never wait. Candidates read before the lock are at worst a
moment old: what prevents duplicates is the check under the lock. Two round trips, neither
through the ORM (compiling the 16 ORM statements this used to take was most of a schedule's
cost), and their number is fixed: it does not grow with the number of job definitions,
components or past jobs.
"""

import functools
import json
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from dciserver import prepared
from dciserver.api.exceptions import BadRequest, NotFound, PreconditionFailed
from dciserver.models import AuditLog, from_db_row
from jobs.models import Component, Job, Topic, components_key
from jobs.services import job_create
from teams.models import Agent, RemoteCI

# The live topic, its active job definitions in scheduling order, and the newest active
# component of each type they name (one index probe per type: the cost does not grow with the
# topic's components), in one row.
_CANDIDATE_CTES = """
WITH topic AS (
    SELECT t.id, t.name, t.component_types FROM jobs_topic t WHERE t.id = %s AND t.archived_at IS NULL
), definitions AS (
    SELECT d.id, d.name, d.component_types, d.priority, d.created_at FROM jobs_jobdefinition d
     WHERE d.topic_id = %s AND d.state = 'active' AND d.archived_at IS NULL
), types AS (
    SELECT DISTINCT e.type
      FROM (SELECT component_types FROM definitions
            UNION ALL SELECT component_types FROM topic WHERE NOT EXISTS (SELECT FROM definitions)) s,
           jsonb_array_elements_text(CASE WHEN jsonb_typeof(s.component_types) = 'array'
                                          THEN s.component_types ELSE '[]' END) AS e(type)
)
"""
# The newest active global component of the type ``{type}`` in the topic ``{topic}`` (SQL on the
# enclosing statement's aliases): what both schedules hand out.
_NEWEST = """SELECT c.id FROM jobs_component c
             WHERE c.topic_id = {topic}.id AND c.type = {type}.type AND c.team_id IS NULL
               AND c.state = 'active' AND c.archived_at IS NULL
             ORDER BY c.created_at DESC, c.id DESC LIMIT 1"""
_CANDIDATE_COLUMNS = f"""topic.name, topic.component_types::text,
       (SELECT coalesce(json_agg(json_build_array(d.id, d.name, d.component_types)
                                 ORDER BY d.priority, d.created_at, d.id), '[]')::text FROM definitions d),
       (SELECT coalesce(json_object_agg(types.type, newest.id), '{{}}')::text
          FROM types CROSS JOIN LATERAL ({_NEWEST.format(topic="topic", type="types")}) newest)"""


# The job comes back as the columns of the model's fields, in their order, so that
# ``from_db_row`` builds the instance as a queryset would.
_FIELDS = Job._meta.concrete_fields
_JOB_COLUMNS = ", ".join(f"(s.job).{connection.ops.quote_name(field.column)}" for field in _FIELDS)
_AUDIT_FIELDS = [field for field in AuditLog._meta.concrete_fields if field.attname != "object_id"]


@functools.lru_cache(maxsize=16)
def _schedule_statement(audited, answer=None):
    """The schedule's statement: the job's columns and the reason there is none, then ``answer``
    (SQL on the job handed out, ``(s.job)``: the API's answer, read by the same statement). With
    ``audited``, it writes the caller's audit entry for the job it hands out (``object_id``: the
    job's id) too: a schedule through the API needs no transaction around it."""
    select = f"SELECT {_JOB_COLUMNS}, s.reason" + (f", {answer}" if answer else "")
    if not audited:
        return f"{select} FROM dci_schedule(%s, %s, %s, %s, %s, %s, %s) AS s"
    table = AuditLog._meta.db_table
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _AUDIT_FIELDS)
    return (
        "WITH s AS (SELECT * FROM dci_schedule(%s, %s, %s, %s, %s, %s, %s)), "
        f'audit AS (INSERT INTO "{table}" ({columns}, "object_id") '
        f"SELECT {', '.join(['%s'] * len(_AUDIT_FIELDS))}, (s.job).id::text FROM s WHERE s.reason IS NULL) "
        f"{select} FROM s"
    )


def _member(remoteci, remoteci_id, caller):
    """Whose reach of the topic decides (SPEC §11): the remoteci's team's. A caller of its team
    (a member, or the remoteci itself) reads as that team does: a remoteci the caller sees is of
    its team. A super admin's or a command's remoteci is read for its team."""
    if caller is not None and not caller.is_super_admin:
        return caller
    if remoteci is None:
        remoteci = RemoteCI.objects.select_by_pk(remoteci_id, related="team")
        if remoteci is None:
            raise NotFound(f"remoteci {remoteci_id} not found")
    return Agent("remoteci", remoteci)


# One per team (its scope is written in the text), the most recent kept.
@functools.lru_cache(maxsize=1024)
def _candidates_statement(reach, seen=None):
    """The candidates' statement: first whether the topic is reached where ``reach`` (SQL on the
    topic aliased ``rt``: ``Topic.objects.readable_sql`` of the remoteci's team) holds, then, with
    ``seen`` (SQL on remotecis: the caller's ``RemoteCI.objects.readable_sql``), whether the
    remoteci is live and seen by the caller; a row even where the topic is unknown."""
    reached = "EXISTS (SELECT FROM jobs_topic rt WHERE rt.id = topic.id" + (f" AND {reach})" if reach else ")")
    columns = [f"{reached}", _CANDIDATE_COLUMNS]
    if seen is not None:
        table = connection.ops.quote_name(RemoteCI._meta.db_table)
        where = f'{table}."id" = %s' + (f" AND {seen}" if seen else "")
        columns.insert(0, f"EXISTS (SELECT FROM {table} WHERE {where})")
    return f"{_CANDIDATE_CTES}SELECT {', '.join(columns)}\n  FROM (SELECT) one LEFT JOIN topic ON true\n"


def _candidates(topic_id, member, remoteci_id=None, scope=None):
    """The topic's candidates and skipped job definitions (``_plan``), as of now, and whether
    ``member`` (a principal of the remoteci's team) reaches the topic. With ``scope``, the
    remoteci ``remoteci_id`` is checked in the same statement: unknown to the caller, 404."""
    reach, reach_params = Topic.objects.readable_sql(member, "rt")
    # In the statement's order: the topic (twice), the remoteci seen, the reach.
    params = [topic_id, topic_id]
    if scope is not None:
        params += [remoteci_id, *scope[1]]
    sql = _candidates_statement(reach, None if scope is None else scope[0])
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, [*params, *reach_params])
        row = cursor.fetchone()
    if scope is not None:
        seen, *row = row
        if not seen:
            raise NotFound(f"remoteci {remoteci_id} not found")
    reachable, *row = row
    if row[0] is None:
        raise NotFound(f"topic {topic_id} not found")
    return (*_plan(str(topic_id), *row), reachable)


# Keyed by what the database answered, so never stale: schedules of a topic whose catalogue has
# not changed skip parsing it and computing its keys (50 SHA-1s and their JSON in the bench).
@functools.lru_cache(maxsize=256)
def _plan(topic_id, topic_name, topic_types, jobdefinitions, newest):
    """(jobdefinition id or None, name, component ids) in scheduling order, the skipped ones with why,
    and the candidates as ``dci_schedule`` takes them (JSON, with their ``components_key``)."""
    topic_types, jobdefinitions, newest = json.loads(topic_types), json.loads(jobdefinitions), json.loads(newest)
    # A topic without active job definitions is its own job definition (the modern DCI model).
    definitions = jobdefinitions or [(None, topic_name, topic_types)]
    candidates, skipped = [], []
    for jobdefinition_id, name, types in definitions:
        types = types or []
        missing = [t for t in types if t not in newest]
        if missing:
            skipped.append(_skip(jobdefinition_id, name, topic_id, f"no component of type {', '.join(missing)}"))
            continue
        candidates.append((jobdefinition_id, name, [newest[t] for t in dict.fromkeys(types)]))
    payload = [{"jobdefinition_id": jd, "component_ids": ids, "key": components_key(ids)} for jd, _, ids in candidates]
    return tuple(candidates), tuple(skipped), json.dumps(payload)


def _skip(jobdefinition_id, name, topic_id, reason):
    if jobdefinition_id is None:
        return {"topic_id": str(topic_id), "name": name, "reason": reason}
    return {"jobdefinition_id": jobdefinition_id, "name": name, "reason": reason}


def job_schedule(
    *,
    remoteci=None,
    topic_id,
    user_agent="",
    client_version="",
    audit=None,
    remoteci_id=None,
    scope=None,
    caller=None,
    returning=None,
):
    """Hand ``remoteci`` its next job of the topic ``topic_id``, or raise 412 saying why there is none.

    An unknown or archived topic is a 404 (read with the candidates: no query of its own). The
    remoteci may be given by ``remoteci_id`` instead, with the caller's ``scope`` on remotecis
    (``RemoteCI.objects.readable_sql``): one the caller can't see is a 404, checked with the
    candidates too.

    The decision and its writes are one statement: a transaction of its own when none is open;
    inside the caller's, the remoteci's lock is held until that commits. ``audit`` (the columns
    of the caller's audit entry but its id, time and object) is written by that statement too,
    for the job it hands out. ``returning``: SQL on the job handed out (aliased ``(s.job)``) whose
    values the statement gives back as well (the API's answer): then ``(job, those values)``.
    """
    if remoteci is not None:
        remoteci_id, scope = remoteci.pk, None
    elif scope is None:
        raise ValueError("a remoteci given by id needs the caller's scope: it is checked with the candidates")
    candidates, skipped, payload, reachable = _candidates(
        topic_id, _member(remoteci, remoteci_id, caller), remoteci_id, scope
    )
    params = [
        remoteci_id,
        topic_id,
        payload,
        user_agent or "",
        client_version or "",
        bool(settings.DCI_SCHEDULE_KILLS_UNFINISHED),
        reachable,
    ]
    sql = _schedule_statement(audit is not None, returning)
    if audit is not None:
        audit = {"signature": None, **audit, "id": uuid.uuid4(), "created_at": timezone.now()}
        params += [audit[field.attname] for field in _AUDIT_FIELDS]
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, params)
        row = cursor.fetchone()
    values, reason, answer = row[: len(_FIELDS)], row[len(_FIELDS)], row[len(_FIELDS) + 1 :]
    if reason == "inactive":
        raise PreconditionFailed(f'RemoteCI "{remoteci_id}" is not active.')
    if reason == "unsubscribed":
        raise PreconditionFailed(f"Team is not subscribed to topic {topic_id}.")
    if reason == "exhausted":
        # Every candidate is already run on this remoteci.
        already_run = [_skip(jd, name, topic_id, "already run on this component set") for jd, name, _ in candidates]
        raise PreconditionFailed("No jobs available for run.", {"skipped": [*map(dict, skipped), *already_run]})
    job = from_db_row(Job, _FIELDS, values, connection, connection.alias)
    return job if returning is None else (job, answer)


# The modern DCI's schedule (SPEC §9, §12): a new job every time, on the newest active global
# component of each of the topic's types (by creation, as the 2025 server), or on the components
# the agent pins; nothing is killed and no history is read, so its cost does not grow with the
# remoteci's past jobs. One statement reads the topic, whether the team reaches it and, for each
# type in order, its newest component (one index probe per type: component_topic_type_newest).
_LATEST = f"""
SELECT t.id::text, t.name, t.state, t.product_id::text, {{reached}},
       (SELECT coalesce(json_agg(json_build_array(ty.type, newest.id) ORDER BY ty.n), '[]')::text
          FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(t.component_types) = 'array'
                                              THEN t.component_types ELSE '[]' END) WITH ORDINALITY ty(type, n)
          LEFT JOIN LATERAL ({_NEWEST.format(topic="t", type="ty")}) newest ON true)
  FROM jobs_topic t WHERE t.id = %s AND t.archived_at IS NULL
"""


# One per team (its scope is written in the text), the most recent kept.
@functools.lru_cache(maxsize=1024)
def _latest_statement(reach):
    reached = "EXISTS (SELECT FROM jobs_topic rt WHERE rt.id = t.id" + (f" AND {reach})" if reach else ")")
    return _LATEST.format(reached=reached)


def latest_components(topic_id, member, components_ids=None):
    """The topic ``topic_id`` (only its id, name and product loaded) and the components a new job
    of ``member``'s team takes there: the newest of each type, or ``components_ids`` checked.

    Unknown topic: 404; inactive or not reached by the team (SPEC §11): 412; a type without a
    component, a pinned id that is not an active component of the topic the team may read, or
    pins that do not give one component per type: 412 (404 for the unknown id), naming it.
    """
    reach, reach_params = Topic.objects.readable_sql(member, "rt")
    with connection.cursor() as cursor:
        prepared.execute(cursor, _latest_statement(reach), [*reach_params, topic_id])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"topic {topic_id} not found")
    pk, name, state, product_id, reachable, newest = row
    if state != Topic.State.ACTIVE:
        raise PreconditionFailed(f"Topic {pk}:{name} not active.")
    if not reachable:
        raise PreconditionFailed(f"Team has no access to topic {pk}.")
    topic = Topic.from_db(connection.alias, ["id", "name", "product_id"], [uuid.UUID(pk), name, product_id])
    newest = json.loads(newest)
    if components_ids is None:
        types = [component_type for component_type, _ in newest]
        duplicated = _duplicated(types)
        if duplicated:
            raise PreconditionFailed(f"Component types {types} malformed: type {duplicated} duplicated.")
        missing = [component_type for component_type, component_id in newest if component_id is None]
        if missing:
            raise PreconditionFailed(f'Component of type "{missing[0]}" not found or not exported.')
        return topic, [Component(id=uuid.UUID(component_id)) for _, component_id in newest]
    return topic, _pinned(topic, member, components_ids, len(newest))


def _pinned(topic, member, components_ids, type_count):
    components_ids = list(dict.fromkeys(components_ids))
    if len(components_ids) != type_count:
        raise PreconditionFailed(
            f"The number of component ids does not match the number of component types of topic {topic.pk}."
        )
    found = {
        component.pk: component
        for component in Component.objects.for_user(member).filter(
            pk__in=components_ids, topic_id=topic.pk, state=Component.State.ACTIVE
        )
    }
    for component_id in components_ids:
        if component_id not in found:
            raise NotFound(f"component id {component_id} not found or not exported")
    duplicated = _duplicated([found[pk].type for pk in components_ids])
    if duplicated:
        raise PreconditionFailed(f"Components of the same type {duplicated} pinned twice.")
    return [found[pk] for pk in components_ids]


def _duplicated(types):
    """The first of ``types`` (in name order) given more than once, or ``None``."""
    return min((t for t in set(types) if types.count(t) > 1), default=None)


def job_schedule_latest(
    *, remoteci, topic_id, caller=None, components_ids=None, on_created=None, user_agent="", client_version="", **fields
):
    """The modern schedule: a new job of ``remoteci`` on the topic ``topic_id``'s latest components
    (or ``components_ids``), with the job's other ``fields`` (``name``, ``tags``, ``pipeline``...),
    written by ``jobs.services.job_create`` as every job is. ``caller``: who asks (the remoteci
    itself, a member of its team, a super admin; ``None`` for a command). ``on_created(job)`` runs
    in the job's transaction (the API's audit entry)."""
    if remoteci.state != RemoteCI.State.ACTIVE:
        raise PreconditionFailed(f'RemoteCI "{remoteci.pk}" is not active.')
    member = _member(remoteci, remoteci.pk, caller)
    topic, components = latest_components(topic_id, member, components_ids)
    with transaction.atomic():
        job = job_create(
            remoteci=remoteci,
            topic=topic,
            components=components,
            user_agent=user_agent,
            client_version=client_version,
            **fields,
        )
        if on_created is not None:
            on_created(job)
    return job


def job_follow_up(*, job, caller=None, upgrade=False, user_agent="", client_version=""):
    """A new job of ``job``'s remoteci on its topic (``POST /jobs/<id>/update``) or on the topic's
    next topic (``upgrade``: ``POST /jobs/upgrade``), on that topic's latest components, following
    ``job``, as the modern schedule makes it. Its name, comment, configuration, url and tags are not
    carried over (the 2025 server's rule: a follow-up is a new run). The team must still reach the
    topic, and the remoteci be active."""
    topic_id = job.topic_id
    if upgrade:
        topic_id = Topic.objects.filter(pk=job.topic_id).values_list("next_topic_id", flat=True).first()
        if topic_id is None:
            raise BadRequest(
                f"topic {job.topic_id} does not contain a next topic",
                {"errors": {"job_id": ["The job's topic has no next_topic_id."]}},
            )
    remoteci = RemoteCI.objects.select_by_pk(job.remoteci_id, related="team")
    if remoteci is None:
        raise PreconditionFailed(f'RemoteCI "{job.remoteci_id}" is not active.')
    return job_schedule_latest(
        remoteci=remoteci,
        topic_id=topic_id,
        caller=caller,
        previous_job=job,
        update_previous_job=None if upgrade else job,
        user_agent=user_agent,
        client_version=client_version,
    )
