"""Test results in the admin (SPEC §15): a job's cases by state, a test's history, read-only."""

import html
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from files.models import JUnitResult
from files.models import Test as LineTest  # not collected as a test class
from files.models import TestCase as Case
from files.services import file_create
from jobs.models import Job

pytestmark = pytest.mark.django_db

CASES = reverse("admin:files_testcase_changelist")


def report(**cases):
    """A JUnit report of ``name=None`` (passed) or ``name="why"`` (failed) cases."""
    body = "".join(
        f'<testcase classname="smoke" name="{name}" time="0.5"/>'
        if why is None
        else f'<testcase classname="smoke" name="{name}" time="2"><failure message="{html.escape(why)}"/></testcase>'
        for name, why in cases.items()
    )
    return f'<testsuite name="smoke">{body}</testsuite>'.encode()


def upload(job, xml):
    return file_create(job=job, name="t.xml", mime="application/junit", stream=io.BytesIO(xml))


@pytest.fixture
def browser(client, super_admin):
    client.force_login(super_admin)
    return client


@pytest.fixture
def later_job(job):
    """The next job of ``job``'s line, on another component set (one set would make a flip flaky)."""
    return Job.objects.create(remoteci=job.remoteci, topic=job.topic, team=job.team, components_key="ab" * 20)


@pytest.fixture
def runs(job, later_job):
    """Two runs of one line: test_boot regresses (with a message to escape), test_disk recovers,
    test_new is added and test_gone removed; test_net and test_dns pass both times."""
    upload(job, report(test_boot=None, test_net=None, test_dns=None, test_disk="full", test_gone=None))
    upload(
        later_job, report(test_boot="<b>kernel panic</b>", test_net=None, test_dns=None, test_disk=None, test_new=None)
    )


def change_url(row):
    return reverse(f"admin:{row._meta.app_label}_{row._meta.model_name}_change", args=[row.pk])


def listed(response):
    """The rows of a change list page."""
    assert response.status_code == 200, response.content[:300]
    return list(response.context["cl"].result_list)


def history_rows(page):
    """``(job id, result, state, message)`` of each row of a test page's history table."""
    table = re.search(r"<table><thead><tr><th>job</th>.*?</table>", page, re.S).group()
    return re.findall(
        r'<tr><td><a href="/admin/jobs/job/([0-9a-f-]+)/change/">[^<]*</a></td><td>(\w+)</td><td>(\w+)</td>'
        r"<td>[^<]*</td><td>(.*?)</td>",
        table,
    )


def test_a_jobs_page_counts_its_cases_by_state_each_count_linking_to_those_cases(browser, runs, later_job):
    page = browser.get(change_url(later_job)).content.decode()

    links = re.findall(r'<a href="(/admin/files/testcase/\?job__id__exact=[^"]+)">(\d+)</a>', page)
    counts = {re.search(r"state__exact=(\w+)", html.unescape(url)).group(1): int(n) for url, n in links}
    assert counts == {"ADDED": 1, "REMOVED": 1, "UNCHANGED": 2, "REGRESSED": 1, "RECOVERED": 1}
    for url, count in links:
        cases = listed(browser.get(html.unescape(url)))
        state = re.search(r"state__exact=(\w+)", url).group(1)
        assert len(cases) == int(count)
        assert {(case.job_id, case.state) for case in cases} == {(later_job.id, state)}


def test_a_jobs_page_shows_its_junit_files_regressions_and_successfixes(browser, runs, later_job):
    result = JUnitResult.objects.get(job=later_job)

    page = browser.get(change_url(later_job)).content.decode()

    # The file, then total, failures, errors, skips, regressions, successfixes, flaky regressions.
    row = f'<td><a href="{change_url(result)}">t.xml</a></td>' + "".join(f"<td>{n}</td>" for n in (5, 1, 0, 0, 1, 1, 0))
    assert row in page


def test_a_job_without_results_shows_empty_tables(browser, job):
    page = browser.get(change_url(job)).content.decode()

    assert "test results" in page.lower()
    assert "job__id__exact" not in page


def test_the_cases_of_a_job_and_state_are_exactly_the_regressed_case(browser, runs, job, later_job):
    cases = listed(browser.get(CASES, {"job__id__exact": later_job.id, "state__exact": "REGRESSED"}))

    assert [(case.name, case.previous_result, case.result) for case in cases] == [("test_boot", "success", "failure")]
    assert cases[0].job_id == later_job.id


def test_a_tests_page_shows_its_runs_newest_first_with_their_messages_escaped(browser, runs, job, later_job):
    test = LineTest.objects.get(name="test_boot")

    page = browser.get(change_url(test)).content.decode()

    assert history_rows(page) == [
        (str(later_job.id), "failure", "REGRESSED", "&lt;b&gt;kernel panic&lt;/b&gt;"),
        (str(job.id), "success", "ADDED", ""),
    ]
    assert "<b>kernel panic</b>" not in page


def test_a_tests_history_shows_as_many_runs_as_its_outcomes_keep(browser, runs, job, later_job, settings):
    settings.DCI_FLAKY_RUNS = 2
    third = Job.objects.create(remoteci=job.remoteci, topic=job.topic, team=job.team, components_key="cd" * 20)
    upload(third, report(test_boot=None))
    test = LineTest.objects.get(name="test_boot")

    page = browser.get(change_url(test)).content.decode()

    assert [(job_id, state) for job_id, _, state, _ in history_rows(page)] == [
        (str(third.id), "RECOVERED"),
        (str(later_job.id), "REGRESSED"),
    ]


def test_a_tests_history_links_to_every_case_of_the_test(browser, runs, job, later_job):
    test = LineTest.objects.get(name="test_boot")
    page = browser.get(change_url(test)).content.decode()

    url = html.unescape(re.search(r'<a href="(/admin/files/testcase/\?test_id=\d+)">', page).group(1))
    cases = listed(browser.get(url))

    assert url == f"{CASES}?test_id={test.id}"
    assert [(case.job_id, case.state) for case in cases] == [(later_job.id, "REGRESSED"), (job.id, "ADDED")]


def test_a_removed_case_is_left_out_of_its_tests_history(browser, runs, job):
    test = LineTest.objects.get(name="test_gone")

    page = browser.get(change_url(test)).content.decode()

    assert Case.objects.filter(test_id=test.id, state="REMOVED").exists()
    assert history_rows(page) == [(str(job.id), "success", "ADDED", "")]


def test_a_failing_case_links_to_the_job_its_failure_began_in(browser, runs, later_job):
    case = Case.objects.get(job=later_job, name="test_boot")

    page = browser.get(change_url(case)).content.decode()

    assert case.failing_since == later_job.id
    assert page.count(f'<a href="{change_url(later_job)}">{later_job.id}</a>') >= 2  # its job, and failing since
    assert f'href="{change_url(LineTest.objects.get(pk=case.test_id))}"' in page


def test_a_junit_result_links_to_its_cases(browser, runs, later_job):
    result = JUnitResult.objects.get(job=later_job)
    page = browser.get(reverse("admin:files_junitresult_changelist")).content.decode()

    url = html.unescape(re.search(rf'<a href="(/admin/files/testcase/\?file__id__exact={result.file_id})">', page)[1])

    assert {case.name for case in listed(browser.get(url))} == {
        "test_boot",
        "test_net",
        "test_dns",
        "test_disk",
        "test_new",
        "test_gone",
    }


@pytest.mark.parametrize(
    "term, names",
    [
        ("test_d", {"test_dns", "test_disk"}),
        ("no-such-test", set()),
    ],
)
def test_cases_are_found_by_name(browser, runs, later_job, term, names):
    cases = listed(browser.get(CASES, {"q": term, "job__id__exact": later_job.id}))

    assert {case.name for case in cases} == names


def test_cases_are_found_by_their_ids_on_indexed_columns(browser, runs, job, later_job):
    boot = Case.objects.get(job=later_job, name="test_boot")

    with CaptureQueriesContext(connection) as queries:
        by_job = listed(browser.get(CASES, {"q": str(later_job.id)}))
        by_file = listed(browser.get(CASES, {"q": str(boot.file_id)}))
        by_test = listed(browser.get(CASES, {"q": str(boot.test_id)}))
        by_case = listed(browser.get(CASES, {"q": str(boot.id)}))

    assert {case.job_id for case in by_job} == {later_job.id} and len(by_job) == 6
    assert by_file == by_job
    assert [case.job_id for case in by_test] == [later_job.id, job.id]
    assert by_case == [boot]
    # Django's own search casts each column to text, which no index serves.
    assert not [q["sql"] for q in queries if "files_testcase" in q["sql"] and "::text" in q["sql"]]


def test_tests_are_found_by_id_and_name_and_filtered_by_flakiness(browser, runs):
    test = LineTest.objects.get(name="test_boot")
    tests = reverse("admin:files_test_changelist")

    assert listed(browser.get(tests, {"q": str(test.id)})) == [test]
    assert {t.name for t in listed(browser.get(tests, {"q": "test_d"}))} == {"test_dns", "test_disk"}
    assert listed(browser.get(tests, {"flaky__exact": "1"})) == []
    assert len(listed(browser.get(tests, {"flaky__exact": "0", "topic__id__exact": test.topic_id}))) == 6


def test_a_jobs_cases_are_listed_in_a_fixed_number_of_queries(browser, job, later_job, django_assert_max_num_queries):
    upload(job, report(**{f"test_{n}": None for n in range(40)}))
    upload(later_job, report(**{f"test_{n}": "broke" if n % 2 else None for n in range(60)}))

    with django_assert_max_num_queries(12):
        cases = listed(browser.get(CASES, {"job__id__exact": later_job.id}))
    with django_assert_max_num_queries(12):
        listed(browser.get(reverse("admin:files_test_changelist")))

    assert len(cases) == 60


@pytest.mark.parametrize("model", [Case, LineTest])
def test_nobody_adds_changes_or_deletes_cases_or_tests_not_even_a_super_admin(browser, runs, model):
    row = model.objects.get(name="test_boot") if model is LineTest else model.objects.filter(name="test_boot").first()
    label = f"admin:files_{model._meta.model_name}"

    view = browser.get(change_url(row))
    changed = browser.post(change_url(row), {"name": "renamed"})

    assert browser.get(reverse(f"{label}_add")).status_code == 403
    assert browser.get(reverse(f"{label}_delete", args=[row.pk])).status_code == 403
    assert browser.post(reverse(f"{label}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert changed.status_code == 403
    assert 'value="delete_selected"' not in browser.get(reverse(f"{label}_changelist")).content.decode()
    row.refresh_from_db()
    assert row.name == "test_boot"


@pytest.mark.parametrize("who", ["team_admin", "user"])
def test_a_teams_own_members_are_sent_to_the_login_page(client, runs, later_job, team_admin, user, who):
    client.force_login(team_admin if who == "team_admin" else user)
    test = LineTest.objects.get(name="test_boot")

    for url in (
        change_url(later_job),
        f"{CASES}?job__id__exact={later_job.id}&state__exact=REGRESSED",
        change_url(test),
        change_url(Case.objects.filter(test_id=test.id).first()),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login"))
