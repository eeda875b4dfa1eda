"""Scheduling: which job a remoteci runs next (SPEC §5).

One transaction with the remoteci's row locked (``SELECT ... FOR UPDATE``), so
concurrent schedules for one remoteci serialise and never hand out the same
(jobdefinition, component set) twice, while schedules for other remotecis take
other row locks and never wait. The number of queries is fixed: it does not grow
with the number of job definitions, components or past jobs.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef

from dciserver.api.exceptions import PreconditionFailed
from jobs import services
from jobs.models import UNFINISHED_STATUSES, Component, Job, JobDefinition, TopicSubscription, components_key
from teams.models import RemoteCI


def _newest_components(topic):
    """The newest active component of each type within the topic (one DISTINCT ON query)."""
    rows = (
        Component.objects.live()
        .filter(topic=topic, state=Component.State.ACTIVE)
        .order_by("type", "-created_at", "-id")
        .distinct("type")
    )
    return {component.type: component for component in rows}


def _candidates(topic):
    """(jobdefinition or None, components) pairs in scheduling order, and the skipped ones with why."""
    jobdefinitions = list(
        JobDefinition.objects.live()
        .filter(topic=topic, state=JobDefinition.State.ACTIVE)
        .order_by("priority", "created_at", "id")
    )
    newest = _newest_components(topic)
    # A topic without active job definitions is its own job definition (the modern DCI model).
    definitions = jobdefinitions or [None]
    candidates, skipped = [], []
    for jobdefinition in definitions:
        types = (jobdefinition.component_types if jobdefinition else topic.component_types) or []
        missing = [t for t in types if t not in newest]
        if missing:
            skipped.append(_skip(jobdefinition, topic, f"no component of type {', '.join(missing)}"))
            continue
        candidates.append((jobdefinition, [newest[t] for t in dict.fromkeys(types)]))
    return candidates, skipped


def _skip(jobdefinition, topic, reason):
    if jobdefinition is None:
        return {"topic_id": str(topic.id), "name": topic.name, "reason": reason}
    return {"jobdefinition_id": str(jobdefinition.id), "name": jobdefinition.name, "reason": reason}


def job_schedule(*, remoteci, topic, user_agent="", client_version=""):
    """Hand ``remoteci`` its next job of ``topic``, or raise 412 saying why there is none."""
    with transaction.atomic():
        # The lock, read together with the subscription it checks (one round trip).
        remoteci = (
            RemoteCI.objects.select_for_update(of=("self",))
            .annotate(subscribed=Exists(TopicSubscription.objects.filter(topic=topic, team_id=OuterRef("team_id"))))
            .get(pk=remoteci.pk)
        )
        if not remoteci.active or remoteci.archived_at is not None:
            raise PreconditionFailed(f'RemoteCI "{remoteci.id}" is not active.')
        if not remoteci.subscribed:
            raise PreconditionFailed(f"Team is not subscribed to topic {topic.id}.")

        job = (
            Job.objects.live()
            .filter(remoteci=remoteci, recheck_pending=True, status__in=UNFINISHED_STATUSES)
            .order_by("created_at", "id")
            .first()
        )
        if job is not None:
            Job.objects.filter(pk=job.pk).update(recheck_pending=False)
            job.recheck_pending = False
        else:
            job = _schedule_new(remoteci, topic, user_agent, client_version)

        if settings.DCI_SCHEDULE_KILLS_UNFINISHED:
            unfinished = (
                Job.objects.live()
                .filter(remoteci=remoteci, status__in=UNFINISHED_STATUSES, recheck_pending=False)
                .exclude(pk=job.pk)
            )
            services.jobs_kill(jobs=unfinished, reason=f"killed: remoteci {remoteci.name} was scheduled job {job.id}")
    return job


def _schedule_new(remoteci, topic, user_agent, client_version):
    candidates, skipped = _candidates(topic)
    keyed = [(jd, components, components_key(c.id for c in components)) for jd, components in candidates]
    already_run = set(
        Job.objects.live()
        .filter(remoteci=remoteci, components_key__in={key for _, _, key in keyed})
        .values_list("jobdefinition_id", "components_key")
    )
    for jobdefinition, components, key in keyed:
        if (jobdefinition.id if jobdefinition else None, key) in already_run:
            skipped.append(_skip(jobdefinition, topic, "already run on this component set"))
            continue
        return services.job_create(
            remoteci=remoteci,
            jobdefinition=jobdefinition,
            topic=topic,
            components=components,
            user_agent=user_agent,
            client_version=client_version,
        )
    raise PreconditionFailed("No jobs available for run.", {"skipped": skipped})
