"""The dashboard's pages (SPEC §16): each renders its data, reads exactly what the API lets its
user read, and costs the same number of statements however many rows it shows."""

import io
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import PASSWORD
from files.models import TestCase as Case
from files.services import file_create
from jobs.models import Job
from jobs.services import jobstate_create

pytestmark = pytest.mark.django_db

LINE = {"name": "ocp-install", "configuration": "sno", "url": ""}


def report(**results):
    body = {"success": "", "failure": '<failure message="boom">trace</failure>'}
    cases = "".join(f'<testcase classname="tests.api" name="{n}">{body[r]}</testcase>' for n, r in results.items())
    return f'<testsuite name="pytest">{cases}</testsuite>'.encode()


def run(remoteci, topic, status, **results):
    job = Job.objects.create(
        remoteci=remoteci, topic=topic, team=remoteci.team, components_key=uuid.uuid4().hex, **LINE
    )
    jobstate_create(job=job, status="running")
    file_create(job=job, name="tests.xml", mime="application/junit", stream=io.BytesIO(report(**results)))
    file_create(job=job, name="console.log", stream=io.BytesIO(b"booting\nready\n"))
    jobstate_create(job=job, status=status)
    return job


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def history(remoteci, topic):
    runs = [
        run(remoteci, topic, "success", a="success", b="success"),
        run(remoteci, topic, "failure", a="failure", b="success"),
        run(remoteci, topic, "success", a="success", b="success"),
        run(remoteci, topic, "failure", a="failure", b="success"),
    ]
    return runs


def page(client, path, status=200, **headers):
    response = client.get(path, headers=headers)
    assert response.status_code == status, (path, response.status_code)
    return response.content.decode() if status == 200 else response


def fragment(client, path):
    """What htmx gets when it refreshes part of a page."""
    return page(client, path, **{"HX-Request": "true"})


def test_anonymous_people_are_asked_to_sign_in(user):
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login")

    client = Client()
    signed = client.post("/login", {"username": user.name, "password": PASSWORD, "next": "/"})
    assert signed.status_code == 302 and signed["Location"] == "/"
    assert "Recent jobs" in page(client, "/")


def test_every_page_renders_its_data(browser, history, topic, remoteci):
    last = history[-1]
    test_id = Case.objects.get(job=last, name="a").test_id

    jobs = page(browser, "/")
    job = page(browser, f"/jobs/{last.id}")
    test = page(browser, f"/tests/{test_id}")
    flaky = page(browser, f"/topics/{topic.id}/flaky")
    fleet = page(browser, "/fleet")
    matrix = page(browser, "/matrix")
    log = page(browser, f"/files/{last.files.get(name='console.log').id}")

    assert jobs.count("ocp-install") >= 4 and "status-failure" in jobs
    assert "state-REGRESSED" in job and "tests.api.a" in job and "console.log" in job and "running" in job
    assert test.count("status-failure") == 2 and "fsfs" in test
    assert "tests.api.a" in flaky and "fsfs" in flaky
    # Four finished jobs today, two passed: today's bar is half high.
    assert "50% of 4 jobs" in flaky
    assert remoteci.name in fleet and "idle" in fleet and "(stale)" not in fleet
    assert topic.name in matrix and "status-failure" in matrix
    # A line that last ran long ago is not shown.
    Job.objects.filter(pk__in=[j.pk for j in history]).update(created_at=timezone.now() - timedelta(days=40))
    assert topic.name not in page(browser, "/matrix")
    assert "booting" in log


def test_filters_choose_the_jobs(browser, history, topic):
    failed = page(browser, "/?status=failure")
    tagged = page(browser, "/?tag=nightly")

    assert failed.count("status status-failure") == 2 and "status status-success" not in failed
    assert "No job." in tagged


def test_another_teams_rows_are_never_shown(browser, history, other_remoteci, other_topic):
    theirs = run(other_remoteci, other_topic, "failure", z="failure")
    their_test = Case.objects.get(job=theirs).test_id

    assert str(theirs.id) not in page(browser, "/")
    assert other_remoteci.name not in page(browser, "/fleet")
    assert other_topic.name not in page(browser, "/matrix")
    for path in (
        f"/jobs/{theirs.id}",
        f"/tests/{their_test}",
        f"/topics/{other_topic.id}/flaky",
        f"/files/{theirs.files.first().id}",
        "/jobs/not-a-uuid",
    ):
        page(browser, path, 404)


def test_each_page_costs_the_same_statements_whatever_it_shows(browser, remoteci, topic):
    def statements(path, read):
        with CaptureQueriesContext(connection) as queries:
            read(browser, path)
        return len(queries.captured_queries)

    first = run(remoteci, topic, "success", a="success")
    paths = ("/", "/fleet", "/matrix", f"/jobs/{first.id}", f"/topics/{topic.id}/flaky")
    reads = [(path, page) for path in paths] + [("/", fragment), ("/fleet", fragment)]
    few = {(path, read.__name__): statements(path, read) for path, read in reads}
    for n in range(12):
        run(remoteci, topic, "failure", **{f"t{i}": "failure" for i in range(n)})
    many = {(path, read.__name__): statements(path, read) for path, read in reads}

    assert few == many
    # A fragment is the page's own reading, rendered in part.
    assert few["/", "fragment"] == few["/", "page"] and few["/fleet", "fragment"] == few["/fleet", "page"]


def test_htmx_gets_the_part_of_the_page_it_refreshes_alone(browser, history, remoteci):
    failed = page(browser, "/?status=failure")
    jobs = fragment(browser, "/?status=failure")
    fleet = fragment(browser, "/fleet")

    assert "<html" not in jobs and "<form" not in jobs and jobs.strip() in failed
    assert jobs.count("status status-failure") == 2 and "status status-success" not in jobs
    assert 'hx-get="/?status=failure"' in jobs
    assert "<html" not in fleet and 'id="fleet"' in fleet and remoteci.name in fleet
    response = browser.get("/", headers={"HX-Request": "true"})
    assert "HX-Request" in response["Vary"]
    # A history restore the browser's cache missed replaces the whole page.
    assert "<html" in page(browser, "/", **{"HX-Request": "true", "HX-History-Restore-Request": "true"})


def test_the_pager_keeps_the_filters(browser, remoteci, topic):
    Job.objects.bulk_create(
        Job(remoteci=remoteci, topic=topic, team=remoteci.team, status="failure", name=f"job-{i}") for i in range(51)
    )
    Job.objects.create(remoteci=remoteci, topic=topic, team=remoteci.team, status="success")

    first = fragment(browser, "/?status=failure")
    last = fragment(browser, "/?status=failure&offset=50")

    assert first.count("status-failure") == 50 and 'href="/?status=failure&amp;offset=50"' in first
    assert last.count("status-failure") == 1 and 'href="/?status=failure&amp;offset=0"' in last
    assert "newer" not in first and "older" not in last and "status-success" not in first + last


def test_another_teams_rows_never_appear_in_a_fragment(browser, history, other_remoteci, other_topic):
    theirs = run(other_remoteci, other_topic, "failure", z="failure")

    assert str(theirs.id) not in fragment(browser, "/")
    assert "No job." in fragment(browser, f"/?topic={other_topic.id}&remoteci={other_remoteci.id}")
    assert other_remoteci.name not in fragment(browser, "/fleet")


def test_the_fleet_flags_a_remoteci_whose_job_went_silent(browser, remoteci, topic):
    job = Job.objects.create(remoteci=remoteci, topic=topic, team=remoteci.team, name="hung")
    jobstate_create(job=job, status="running")
    fresh = page(browser, "/fleet")
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(hours=2))

    assert "hung" in fresh and "(stale)" not in fresh
    assert "(stale)" in page(browser, "/fleet")
