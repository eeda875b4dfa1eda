"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a live server.

CI has Chromium (``.ci/run`` installs it); a developer's machine without it skips, saying so.
"""

import io
import os
import uuid

import pytest
from django.db import connections
from playwright.sync_api import expect

from conftest import PASSWORD
from dashboard.browser import chromium_path, launch, sign_in
from files.services import file_create
from jobs.models import Job
from jobs.services import jobstate_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API keeps an event loop running in this thread, where the test and the
    # live server's fixtures still use the database synchronously.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if chromium_path() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run installs it for CI")
        pytest.skip("chromium is not installed (apt-get install chromium): the dashboard's browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch(playwright)
        yield instance
        instance.close()
        # While Playwright's loop runs, this thread's connections are kept in the loop's context
        # (asgiref's Local), out of reach once it stops: left open, the one the fixtures used kept
        # the test database from being dropped at the end of the run. Closed while still in reach.
        connections.close_all()


def finished(remoteci, topic, status, result):
    job = Job.objects.create(
        remoteci=remoteci, topic=topic, team=remoteci.team, name="ocp-install", components_key=uuid.uuid4().hex
    )
    jobstate_create(job=job, status="running")
    body = '<failure message="boom"/>' if result == "failure" else ""
    report = f'<testsuite name="pytest"><testcase classname="tests.api" name="test_boot">{body}</testcase></testsuite>'
    file_create(job=job, name="tests.xml", mime="application/junit", stream=io.BytesIO(report.encode()))
    jobstate_create(job=job, status=status)
    return job


@pytest.fixture
def lab(user, remoteci, topic, other_remoteci, other_topic):
    jobs = [finished(remoteci, topic, "success", "success"), finished(remoteci, topic, "failure", "failure")]
    theirs = finished(other_remoteci, other_topic, "failure", "failure")
    return {"user": user, "jobs": jobs, "theirs": theirs, "topic": topic, "remoteci": remoteci}


def test_a_person_signs_in_and_reads_every_page(browser, live_server, lab):
    page = browser.new_page()
    sign_in(page, live_server.url, lab["user"].name, PASSWORD)

    rows = page.locator("#jobs tbody tr")
    assert rows.count() == 2
    assert page.locator(".status-failure").count() == 1
    # The job that broke: its regression highlighted, and the test's history two runs long.
    page.click(f"a[href='/jobs/{lab['jobs'][1].id}']")
    assert page.locator("#changes .state-REGRESSED").inner_text() == "REGRESSED"
    page.click("#changes tbody a")
    assert page.locator("#history tbody tr").count() == 2
    page.goto(f"{live_server.url}/fleet")
    assert lab["remoteci"].name in page.locator("#fleet").inner_text()
    page.goto(f"{live_server.url}/matrix")
    page.click(f"#matrix thead a[href='/topics/{lab['topic'].id}/flaky']")
    assert page.locator("#pass-rate rect").count() > 0
    # Styled by the server's own stylesheet.
    assert page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor") == "rgb(29, 35, 48)"


def test_the_filters_choose_the_jobs(browser, live_server, lab):
    page = browser.new_page()
    sign_in(page, live_server.url, lab["user"].name, PASSWORD)

    page.select_option("select[name=status]", "success")
    page.click("form.filters button")

    # The page swaps its table when the answer arrives: count once it has (expect waits for it).
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    assert page.locator("#jobs .status-success").count() == 1


def test_a_filter_swaps_the_table_without_loading_the_page_again(browser, live_server, lab):
    page = browser.new_page()
    sign_in(page, live_server.url, lab["user"].name, PASSWORD)
    page.evaluate("window.loadedOnce = true")

    page.select_option("select[name=status]", "success")

    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    assert page.locator("#jobs .status-success").count() == 1
    assert page.url == f"{live_server.url}/?status=success&topic=&remoteci=&tag="
    assert page.evaluate("window.loadedOnce") is True


def test_the_jobs_list_and_the_fleet_refresh_themselves(browser, live_server, lab):
    page = browser.new_page()
    page.clock.install()
    sign_in(page, live_server.url, lab["user"].name, PASSWORD)
    page.evaluate("window.loadedOnce = true")
    finished(lab["remoteci"], lab["topic"], "success", "success")
    page.clock.fast_forward("00:31")

    expect(page.locator("#jobs tbody tr")).to_have_count(3)
    assert page.evaluate("window.loadedOnce") is True

    page.goto(f"{live_server.url}/fleet")
    page.evaluate("window.loadedOnce = true")
    job = Job.objects.create(remoteci=lab["remoteci"], topic=lab["topic"], team=lab["remoteci"].team, name="upgrade")
    jobstate_create(job=job, status="running")
    page.clock.fast_forward("00:31")

    expect(page.locator("#fleet")).to_contain_text("upgrade")
    assert page.evaluate("window.loadedOnce") is True


def test_a_team_member_never_sees_another_teams_job(browser, live_server, lab):
    page = browser.new_page()
    sign_in(page, live_server.url, lab["user"].name, PASSWORD)

    assert str(lab["theirs"].id) not in page.content()
    response = page.goto(f"{live_server.url}/jobs/{lab['theirs'].id}")
    assert response.status == 404


def test_the_pages_work_with_javascript_off(browser, live_server, lab):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server.url, lab["user"].name, PASSWORD)
    page.select_option("select[name=status]", "success")
    page.click("form.filters button")
    page.wait_for_url(f"{live_server.url}/?status=success&topic=&remoteci=&tag=")

    assert page.locator("#jobs tbody tr").count() == 1 and page.locator("header").count() == 1
    page.goto(f"{live_server.url}/jobs/{lab['jobs'][1].id}")
    assert page.locator("#changes .state-REGRESSED").count() == 1
    context.close()
