"""The dashboard (SPEC §16): server-rendered pages for people, read exactly as the API reads.

Every row comes through the API's one read path (``dciserver.api.reader.Reader``, with the
resources' serializers and embeds), scoped by each model's one declaration: a team's member sees
what the API shows them, no more. Each page is a constant number of statements, whatever the
number of rows it shows.
"""

import datetime
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.vary import vary_on_headers

from dciserver.api.reader import Reader
from files.api import FileSerializer, download
from files.models import File, Test, TestCase
from files.results_api import TestCaseSerializer, TestCaseViewSet, TestSerializer
from files.services import file_inline_content
from jobs.api.catalogue import TopicSerializer
from jobs.api.jobs import JobSerializer, JobViewSet
from jobs.models import Job, Status, Topic
from teams.api import RemoteCISerializer
from teams.models import RemoteCI

PAGE = 50
# The states a job's page lists case by case (the unchanged ones are counted only).
CHANGES = ("REGRESSED", "RECOVERED", "CHANGED", "SKIPPED", "UNSKIPPED", "ADDED", "REMOVED")


def _page(serializer, model, user, chosen, order_by, embeds=(), specs=None, limit=PAGE, offset=0):
    """``(rows, count)``: a page of what ``user`` reads, as the API reads it."""
    reader = Reader.of(serializer, model, embeds, specs)
    rows, count = reader.page(user, {}, order_by, limit, offset, reader.count(user, chosen), chosen)
    return rows, count if count is not None else 0


def _one(serializer, model, user, pk, embeds=(), specs=None):
    reader = Reader.of(serializer, model, embeds, specs)
    found = reader.one(user, {}, pk)
    if not found:
        raise Http404()
    return found[0]


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Http404() from None


def _when(value):
    return parse_datetime(value).replace(tzinfo=datetime.UTC) if value else None


def _fragment(request):
    """Whether htmx asks for the page's refreshed part alone (``HX-Request``). Its history restore
    sends the header too, but puts the answer in place of the whole page."""
    return request.headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in request.headers


# One URL answers a page or its fragment: a browser's cache must not give one for the other.
fragment_or_page = vary_on_headers("HX-Request", "HX-History-Restore-Request")


def _at(request, offset):
    query = request.GET.copy()
    query["offset"] = offset
    return f"{request.path}?{query.urlencode()}"


@login_required
@fragment_or_page
def jobs(request):
    """Recent jobs, newest first, filtered by status, topic, remoteci and tag."""
    chosen = Q()
    params = request.GET
    if params.get("status") in Status.values:
        chosen &= Q(status=params["status"])
    for key in ("topic", "remoteci"):
        if params.get(key):
            chosen &= Q(**{f"{key}_id": _uuid(params[key])})
    if params.get("tag"):
        chosen &= Q(tags__contains=[params["tag"]])
    offset = int(params["offset"]) if params.get("offset", "").isdigit() else 0
    rows, count = _page(
        JobSerializer, Job, request.user, chosen, ("-created_at", "-id"), ("remoteci", "topic", "team"),
        JobViewSet.embeds, offset=offset,
    )  # fmt: skip
    topics, _ = _page(TopicSerializer, Topic, request.user, Q(), ("name",), limit=200)
    remotecis, _ = _page(RemoteCISerializer, RemoteCI, request.user, Q(), ("name",), limit=500)
    return render(
        request,
        "dashboard/jobs_table.html" if _fragment(request) else "dashboard/jobs.html",
        {
            "jobs": rows,
            "count": count,
            "offset": offset,
            "older": _at(request, offset + PAGE) if offset + PAGE < count else None,
            "newer": _at(request, max(offset - PAGE, 0)) if offset else None,
            "statuses": Status.values,
            "topics": topics,
            "remotecis": remotecis,
            "params": params,
        },
    )


@login_required
def job(request, pk):
    """A job: its components, jobstates as a timeline, files, results with what changed."""
    data = _one(
        JobSerializer, Job, request.user, _uuid(pk),
        ("remoteci", "topic", "team", "pipeline", "components", "jobstates", "files", "results", "keys_values"),
        JobViewSet.embeds,
    )  # fmt: skip
    states = sorted(data["jobstates"], key=lambda s: s["created_at"])
    for index, state in enumerate(states):
        start = _when(state["created_at"])
        end = _when(states[index + 1]["created_at"]) if index + 1 < len(states) else None
        state["seconds"] = int((end - start).total_seconds()) if end else None
    cases, changed = _page(
        TestCaseSerializer, TestCase, request.user, Q(job_id=data["id"], state__in=CHANGES), ("state", "name"),
        limit=200,
    )  # fmt: skip
    counts = dict(
        TestCase.objects.for_user(request.user)
        .filter(job_id=data["id"])
        .values_list("state")
        .annotate(Count("id"))
        .order_by()
    )
    return render(
        request,
        "dashboard/job.html",
        {"job": data, "jobstates": states, "cases": cases, "changed": changed, "counts": counts},
    )


@login_required
def file(request, pk):
    """A file: its text inline (up to DCI_INLINE_CONTENT_MAX), and its download."""
    row = File.objects.get_for_user(request.user, _uuid(pk))
    if row is None:
        raise Http404()
    if request.GET.get("download"):
        return download(row)
    data = _one(FileSerializer, File, request.user, row.pk)
    return render(request, "dashboard/file.html", {"file": data, "content": file_inline_content(row)})


@login_required
def test(request, pk):
    """A test on its line: its outcomes, failing since, and its runs, newest first."""
    if not str(pk).isdigit():
        raise Http404()
    data = _one(TestSerializer, Test, request.user, int(pk))
    runs, count = _page(
        TestCaseSerializer, TestCase, request.user, Q(test_id=int(pk)) & ~Q(state="REMOVED"), ("-id",),
        ("job",), TestCaseViewSet.embeds,
    )  # fmt: skip
    return render(request, "dashboard/test.html", {"test": data, "runs": runs, "count": count})


PASS_RATE_SQL = """
SELECT date_trunc('day', j.created_at AT TIME ZONE 'UTC')::date,
       count(*) FILTER (WHERE j.status = 'success'),
       count(*) FILTER (WHERE j.status IN ('success', 'failure', 'error', 'killed'))
FROM jobs_job j
WHERE j.topic_id = %s AND j.created_at >= %s AND j.archived_at IS NULL {job_scope}
GROUP BY 1 ORDER BY 1
"""
DAYS = 30


@login_required
def flaky(request, pk):
    """A topic: its pass rate day by day (an SVG drawn here), and its flaky tests, most flips first."""
    topic = _one(TopicSerializer, Topic, request.user, _uuid(pk))
    rows, count = _page(TestSerializer, Test, request.user, Q(topic_id=topic["id"], flaky=True), ("-flips", "id"))
    job_scope, job_params = Job.objects.readable_sql(request.user, "j")
    since = timezone.now() - datetime.timedelta(days=DAYS)
    with connection.cursor() as cursor:
        cursor.execute(
            PASS_RATE_SQL.format(job_scope=f"AND {job_scope}" if job_scope else ""), [topic["id"], since, *job_params]
        )
        days = {day: (passed, finished) for day, passed, finished in cursor.fetchall()}
    first = since.date()
    bars = []
    for index in range(DAYS + 1):
        day = first + datetime.timedelta(days=index)
        passed, finished = days.get(day, (0, 0))
        rate = passed / finished if finished else None
        height = round(rate * 100) if rate is not None else 0
        bars.append({"day": day, "x": index * 12, "height": height, "y": 100 - height, "rate": rate,
                     "finished": finished})  # fmt: skip
    return render(
        request, "dashboard/flaky.html", {"topic": topic, "tests": rows, "count": count, "bars": bars, "days": DAYS}
    )


# Each remoteci with its current (unfinished) job, and its last heartbeat: the newest update of its
# jobs of the last DCI_MATRIX_DAYS days (the caller's recent jobs, read newest first by index).
FLEET_SQL = """
WITH recent AS (
    SELECT DISTINCT ON (j.remoteci_id) j.remoteci_id, j.updated_at AS heartbeat
    FROM jobs_job j
    WHERE j.archived_at IS NULL AND j.created_at >= %s {job_scope}
    ORDER BY j.remoteci_id, j.updated_at DESC
)
SELECT r.id::text, r.name, r.state, c.id::text, c.status, c.name, coalesce(c.updated_at, recent.heartbeat)
FROM teams_remoteci r
LEFT JOIN recent ON recent.remoteci_id = r.id
LEFT JOIN LATERAL (
    SELECT j.id, j.status, j.name, j.updated_at FROM jobs_job j
    WHERE j.remoteci_id = r.id AND j.status IN ('new', 'pre-run', 'running', 'post-run')
      AND j.archived_at IS NULL {job_scope}
    ORDER BY j.created_at DESC LIMIT 1
) c ON true
WHERE {remoteci_scope}
ORDER BY r.name, r.id
LIMIT 500
"""


@login_required
@fragment_or_page
def fleet(request):
    """The remotecis: each one's current job and last heartbeat; stale agents flagged."""
    remoteci_scope, remoteci_params = RemoteCI.objects.readable_sql(request.user, "r")
    job_scope, job_params = Job.objects.readable_sql(request.user, "j")
    sql = FLEET_SQL.format(job_scope=f"AND {job_scope}" if job_scope else "", remoteci_scope=remoteci_scope or "TRUE")
    since = timezone.now() - datetime.timedelta(days=settings.DCI_MATRIX_DAYS)
    with connection.cursor() as cursor:
        cursor.execute(sql, [since, *job_params, *job_params, *remoteci_params])
        rows = cursor.fetchall()
    stale_after = timezone.now() - datetime.timedelta(seconds=settings.DCI_STALE_AFTER)
    fleet_rows = [
        {
            "id": rid, "name": name, "state": state, "job_id": job_id, "status": status, "job_name": job_name,
            # Stale: a job under way that has not reported for DCI_STALE_AFTER seconds.
            "heartbeat": heartbeat, "stale": job_id is not None and heartbeat < stale_after,
        }
        for rid, name, state, job_id, status, job_name, heartbeat in rows
    ]  # fmt: skip
    return render(
        request,
        "dashboard/fleet_table.html" if _fragment(request) else "dashboard/fleet.html",
        {"fleet": fleet_rows, "stale_after": settings.DCI_STALE_AFTER, "days": settings.DCI_MATRIX_DAYS},
    )


# The lines that ran lately, each with its latest job: the jobs of the last days read newest first
# (job_team_created, job_created), not every job of the history.
MATRIX_SQL = """
SELECT DISTINCT ON (j.topic_id, j.remoteci_id, j.name)
       t.name, r.name, j.name, j.status, j.id::text, j.created_at, j.topic_id::text
FROM jobs_job j JOIN jobs_topic t ON t.id = j.topic_id JOIN teams_remoteci r ON r.id = j.remoteci_id
WHERE j.archived_at IS NULL AND j.created_at >= %s {job_scope}
ORDER BY j.topic_id, j.remoteci_id, j.name, j.created_at DESC
"""


@login_required
def matrix(request):
    """Topic × remoteci: the latest job of each line that ran in the last DCI_MATRIX_DAYS days."""
    job_scope, job_params = Job.objects.readable_sql(request.user, "j")
    since = timezone.now() - datetime.timedelta(days=settings.DCI_MATRIX_DAYS)
    with connection.cursor() as cursor:
        cursor.execute(MATRIX_SQL.format(job_scope=f"AND {job_scope}" if job_scope else ""), [since, *job_params])
        rows = cursor.fetchall()
    topics = sorted({(row[0], row[6]) for row in rows})
    remotecis = sorted({row[1] for row in rows})
    cells = {}
    for topic, remoteci, name, status, job_id, _, _ in rows:
        cells.setdefault((topic, remoteci), []).append({"name": name or "(unnamed)", "status": status, "id": job_id})
    grid = [
        {"remoteci": remoteci, "cells": [cells.get((topic, remoteci), []) for topic, _ in topics]}
        for remoteci in remotecis
    ]
    return render(request, "dashboard/matrix.html", {"topics": topics, "grid": grid, "days": settings.DCI_MATRIX_DAYS})
