"""Test results as data (SPEC §15): each case's state against the baseline, computed at upload from
real JUnit files of several shapes; a test's history on its line; flaky tests; any job against any
other; the 2025 server's JUnit report; and who may read each of them."""

import io
import threading
import uuid

import pytest
from django.db import connection

from conftest import client_for
from files.models import JUnitResult
from files.models import Test as LineTest  # not collected as a test class
from files.models import TestCase as Case
from files.services import file_create
from files.tests.helpers import API
from jobs.models import Job, TopicSubscription

pytestmark = pytest.mark.django_db

# A job's line (SPEC §15) beside its topic and remoteci.
LINE = {"name": "ocp-install", "configuration": "sno", "url": "https://ci.lab.example/ocp"}
OUTCOME = {
    "success": "",
    "failure": '<failure type="AssertionError" message="assert 1 == 2">Traceback</failure>',
    "error": '<error message="fixture failed">Traceback</error>',
    "skipped": '<skipped message="not on this hardware"/>',
}


def case(name, result="success", classname="tests.test_api", time="0.5"):
    return f'<testcase classname="{classname}" name="{name}" time="{time}">{OUTCOME[result]}</testcase>'


def suite(*cases, name="pytest"):
    return f'<testsuite name="{name}" tests="{len(cases)}">{"".join(cases)}</testsuite>'


def pytest_report(**results):
    """A pytest report of the cases ``name=result``."""
    return f"<testsuites>{suite(*(case(name, result) for name, result in results.items()))}</testsuites>"


def line_job(remoteci, topic, components_key=None, **fields):
    """A new job of the line, on a component set of its own unless ``components_key`` is given."""
    key = components_key or uuid.uuid4().hex
    return Job.objects.create(
        remoteci=remoteci, topic=topic, team=remoteci.team, components_key=key, **{**LINE, **fields}
    )


def upload(job, xml, name="tests.xml", mime="application/junit"):
    data = xml if isinstance(xml, bytes) else xml.encode()
    return file_create(job=job, name=name, mime=mime, stream=io.BytesIO(data))


def states(file):
    """``{name: (state, previous result, result)}`` of the file's cases."""
    return {c.name: (c.state, c.previous_result, c.result) for c in Case.objects.filter(file=file)}


def counts(file):
    result = JUnitResult.objects.get(file=file)
    return result.regressions, result.successfixes, result.flaky_regressions


def run(remoteci, topic, xml, **fields):
    """A new job of the line uploading ``xml``: its file."""
    return upload(line_job(remoteci, topic, **fields), xml)


def test_a_pytest_report_is_compared_with_the_previous_run_of_its_line(remoteci, topic):
    first = run(remoteci, topic, pytest_report(a="success", b="success", c="failure", d="skipped"))
    second = run(remoteci, topic, pytest_report(a="failure", b="success", c="success", d="skipped"))

    assert states(first) == {
        "a": ("ADDED", "", "success"),
        "b": ("ADDED", "", "success"),
        "c": ("ADDED", "", "failure"),
        "d": ("ADDED", "", "skipped"),
    }
    assert states(second) == {
        "a": ("REGRESSED", "success", "failure"),
        "b": ("UNCHANGED", "success", "success"),
        "c": ("RECOVERED", "failure", "success"),
        "d": ("UNCHANGED", "skipped", "skipped"),
    }
    assert counts(first) == (0, 0, 0) and counts(second) == (1, 1, 0)
    assert JUnitResult.objects.get(file=second).baseline_id == first.id


def test_the_modern_results_and_the_job_carry_the_counts(user_client, remoteci, topic):
    run(remoteci, topic, pytest_report(a="success", b="failure"))
    second = run(remoteci, topic, pytest_report(a="error", b="success"))
    modern = {"HTTP_CLIENT_VERSION": "python-dciclient_4.2.0"}

    listed = user_client.get(f"{API}/jobs/{second.job_id}/results", **modern).json()["results"]
    inline = user_client.get(f"{API}/jobs/{second.job_id}", **modern).json()["job"]["results"]

    for row in (listed[0], inline[0]):
        assert (row["regressions"], row["successfixes"], row["flaky_regressions"]) == (1, 1, 0)


TEMPEST = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite errors="0" failures="1" name="tempest" skipped="1" tests="4" time="1319.4">
<testcase classname="tempest.api.compute.servers.test_servers.ServersTestJSON"
  name="test_create_server_with_admin_password[id-b92d5ec7,smoke]" time="39.2"/>
<testcase classname="tempest.api.network.test_ports.PortsTestJSON" name="test_list_ports[id-cf95b358]" time="1.9"/>
<testcase classname="tempest.api.volume.test_volumes_get.VolumesGetTestJSON"
  name="test_volume_create_get_update_delete[id-27fb0e9f]" time="18.5">
  <failure type="testtools.testresult.real._StringException">Traceback (most recent call last):
  TimeoutException: Request timed out</failure></testcase>
<testcase classname="tempest.api.image.v2.test_images.BasicOperationsImagesTest"
  name="test_register_upload_get_image_file[id-139b765e]" time="0">
  <skipped message="Image upload is disabled"/></testcase>
</testsuite>
"""


def test_a_tempest_report_and_its_2025_junit_route(user_client, remoteci, topic):
    first = run(remoteci, topic, TEMPEST)
    fixed = TEMPEST.replace('<failure type="testtools.testresult.real._StringException">', "<system-out>").replace(
        "Request timed out</failure>", "Request timed out</system-out>"
    )
    second = run(remoteci, topic, fixed)

    report = user_client.get(f"{API}/files/{second.id}/junit").json()

    assert report["id"] == str(second.id) and report["name"] == "tempest"
    assert report["job"] == {"id": str(second.job_id), "name": "ocp-install"}
    assert report["previous_job"] == {"id": str(first.job_id), "name": "ocp-install"}
    [tempest] = report["testsuites"]
    assert {k: tempest[k] for k in ("id", "name", "tests", "failures", "errors", "skipped", "success")} == {
        "id": 0, "name": "tempest", "tests": 4, "failures": 0, "errors": 0, "skipped": 1, "success": 3,
    }  # fmt: skip
    assert (tempest["unchanged"], tempest["successfixes"], tempest["regressions"], tempest["additions"]) == (3, 1, 0, 0)
    assert tempest["time"] == pytest.approx(59.6) and tempest["properties"] == []
    names = [c["name"] for c in tempest["testcases"]]
    assert names == sorted(names)
    volume = next(c for c in tempest["testcases"] if c["name"].startswith("test_volume"))
    assert volume == {
        "name": "test_volume_create_get_update_delete[id-27fb0e9f]",
        "classname": "tempest.api.volume.test_volumes_get.VolumesGetTestJSON",
        "time": 18.5, "action": "success", "message": None, "type": None, "value": None, "stdout": None,
        "stderr": None, "properties": [], "state": "RECOVERED", "regression": False, "successfix": True,
        "flaky": False,
    }  # fmt: skip
    failed = user_client.get(f"{API}/files/{first.id}/junit").json()["testsuites"][0]
    volume = next(c for c in failed["testcases"] if c["name"].startswith("test_volume"))
    assert volume["action"] == "failure" and volume["type"] == "testtools.testresult.real._StringException"
    assert "TimeoutException" in volume["message"] and failed["additions"] == 4
    assert user_client.get(f"{API}/files/{first.id}/junit").json()["previous_job"] is None


def test_a_multi_suite_file_tells_apart_one_case_run_in_two_suites(user_client, remoteci, topic):
    def report(second_result):
        return (
            "<testsuites>"
            + suite(case("test_boot"), case("test_only_here"), name="ipv4")
            + suite(case("test_boot", second_result), name="ipv6")
            + "</testsuites>"
        )

    run(remoteci, topic, report("success"))
    second = run(remoteci, topic, report("failure"))

    rows = {(c.suite, c.name): (c.state, c.result) for c in Case.objects.filter(file=second)}
    assert rows == {
        ("ipv4", "test_boot"): ("UNCHANGED", "success"),
        ("ipv4", "test_only_here"): ("UNCHANGED", "success"),
        ("ipv6", "test_boot"): ("REGRESSED", "failure"),
    }
    suites = user_client.get(f"{API}/files/{second.id}/junit").json()["testsuites"]
    assert [(s["id"], s["name"], s["tests"], s["failures"], s["regressions"]) for s in suites] == [
        (0, "ipv4", 2, 0, 0),
        (1, "ipv6", 1, 1, 1),
    ]


def test_a_case_that_moves_to_another_suite_is_the_same_test(user_client, remoteci, topic):
    run(remoteci, topic, suite(case("test_boot"), name="smoke"))
    second = run(remoteci, topic, suite(case("test_boot", "failure"), name="regression"))

    [moved] = Case.objects.filter(file=second)
    assert (moved.state, moved.suite, moved.previous_result) == ("REGRESSED", "regression", "success")
    test = LineTest.objects.get(pk=moved.test_id)
    assert (test.suite, test.runs, test.outcomes) == ("regression", 2, "fs")
    history = user_client.get(f"{API}/tests/{test.id}/history").json()["testcases"]
    assert [(h["suite"], h["result"]) for h in history] == [("regression", "failure"), ("smoke", "success")]


def test_changes_to_and_from_skipped_are_reported_never_counted_as_breaks_or_fixes(remoteci, topic):
    run(remoteci, topic, pytest_report(a="success", b="skipped", c="failure"))
    second = run(remoteci, topic, pytest_report(a="skipped", b="success", c="skipped"))
    third = run(remoteci, topic, pytest_report(a="failure", b="success", c="error"))

    assert states(second) == {
        "a": ("SKIPPED", "success", "skipped"),
        "b": ("UNSKIPPED", "skipped", "success"),
        "c": ("SKIPPED", "failure", "skipped"),
    }
    assert states(third)["a"] == ("UNSKIPPED", "skipped", "failure")
    assert counts(second) == counts(third) == (0, 0, 0)


def test_failure_to_error_is_a_change_of_a_failing_test(remoteci, topic):
    run(remoteci, topic, pytest_report(a="failure", b="error"))
    second = run(remoteci, topic, pytest_report(a="error", b="failure"))

    assert states(second) == {"a": ("CHANGED", "failure", "error"), "b": ("CHANGED", "error", "failure")}
    assert counts(second) == (0, 0, 0)


def test_a_renamed_case_is_removed_and_added_and_the_removal_is_no_run(user_client, remoteci, topic):
    first = run(remoteci, topic, pytest_report(test_login="failure", test_stays="success"))
    second = run(remoteci, topic, pytest_report(test_sign_in="success", test_stays="success"))

    assert states(second) == {
        "test_sign_in": ("ADDED", "", "success"),
        "test_stays": ("UNCHANGED", "success", "success"),
        # The baseline's case, kept as a row of the comparison with the baseline's values.
        "test_login": ("REMOVED", "failure", "failure"),
    }
    removed = Case.objects.get(file=second, name="test_login")
    assert removed.message == "assert 1 == 2" and removed.job_id == second.job_id
    old = LineTest.objects.get(pk=removed.test_id)
    assert (old.runs, old.last_job_id) == (1, first.job_id)
    history = user_client.get(f"{API}/tests/{old.id}/history").json()
    assert [h["job_id"] for h in history["testcases"]] == [str(first.job_id)]
    listed = user_client.get(f"{API}/jobs/{second.job_id}/tests?where=state:REMOVED").json()
    assert [c["name"] for c in listed["testcases"]] == ["test_login"]


def test_an_empty_file_is_a_report_of_no_case(remoteci, topic):
    run(remoteci, topic, pytest_report(a="success", b="failure"))
    empty = run(remoteci, topic, b"")

    result = JUnitResult.objects.get(file=empty)
    assert (result.total, result.error) == (0, "")
    assert states(empty) == {"a": ("REMOVED", "success", "success"), "b": ("REMOVED", "failure", "failure")}
    assert counts(empty) == (0, 0, 0)


def test_a_broken_file_keeps_no_case_and_is_no_baseline(remoteci, topic):
    run(remoteci, topic, pytest_report(a="success"))
    broken = run(remoteci, topic, b"<testsuites><testsuite name='x'><testcase name='a'></testsuites>")
    after = run(remoteci, topic, pytest_report(a="failure"))

    assert JUnitResult.objects.get(file=broken).error.startswith("not well-formed XML")
    assert not Case.objects.filter(file=broken).exists()
    # The baseline is the newest earlier job of the line: the broken one, whose file has no case.
    assert states(after) == {"a": ("ADDED", "", "failure")}
    assert JUnitResult.objects.get(file=after).baseline_id is None


def test_the_baseline_is_the_newest_earlier_live_job_of_the_same_line(remoteci, topic, other_topic, team):
    from teams.models import RemoteCI

    base = run(remoteci, topic, pytest_report(a="success"))
    rack_2 = RemoteCI.objects.create(name="rack-2", team=team)
    TopicSubscription.objects.create(topic=other_topic, team=team)
    # Not of the line: another configuration, url, name, remoteci or topic.
    for fields in ({"configuration": "ha"}, {"url": "https://elsewhere"}, {"name": "upgrade"}):
        run(remoteci, topic, pytest_report(a="failure"), **fields)
    upload(Job.objects.create(remoteci=rack_2, topic=topic, team=team, **LINE), pytest_report(a="failure"))
    upload(Job.objects.create(remoteci=remoteci, topic=other_topic, team=team, **LINE), pytest_report(a="failure"))
    archived = run(remoteci, topic, pytest_report(a="failure"))
    archived.job.archive()
    current = line_job(remoteci, topic)
    later = run(remoteci, topic, pytest_report(a="error"))  # created after current

    now = upload(current, pytest_report(a="failure"))

    assert JUnitResult.objects.get(file=now).baseline_id == base.id
    assert states(now) == {"a": ("REGRESSED", "success", "failure")}
    # Its baseline is current, which had no report when it uploaded: compared with nothing.
    assert JUnitResult.objects.get(file=later).baseline_id is None


def test_a_tests_history_newest_first_and_where_its_failure_began(user_client, remoteci, topic):
    files = [run(remoteci, topic, pytest_report(a=r)) for r in ("success", "failure", "skipped", "failure")]
    test_id = Case.objects.get(file=files[0]).test_id

    history = user_client.get(f"{API}/tests/{test_id}/history?embed=job").json()
    test = user_client.get(f"{API}/tests/{test_id}").json()["test"]

    assert history["_meta"]["count"] == 4
    assert [h["result"] for h in history["testcases"]] == ["failure", "skipped", "failure", "success"]
    assert [h["job"]["id"] for h in history["testcases"]] == [str(f.job_id) for f in reversed(files)]
    # A skipped run does not end a failure streak: it began with the second job.
    assert history["testcases"][0]["failing_since"] == str(files[1].job_id)
    assert history["testcases"][1]["failing_since"] is None
    assert (test["failing_since"], test["outcomes"], test["runs"], test["last_result"]) == (
        str(files[1].job_id), "fkfs", 4, "failure",
    )  # fmt: skip
    fixed = run(remoteci, topic, pytest_report(a="success"))
    assert Case.objects.get(file=fixed).failing_since is None
    assert LineTest.objects.get(pk=test_id).failing_since is None
    failing_again = run(remoteci, topic, pytest_report(a="error"))
    assert Case.objects.get(file=failing_again).failing_since == failing_again.job_id


def test_a_regression_of_a_test_that_flipped_k_times_in_n_runs_counts_as_flaky(user_client, remoteci, topic):
    files = [run(remoteci, topic, pytest_report(a=r, b="success")) for r in ("success", "failure", "success")]
    assert counts(files[1]) == (1, 0, 0)  # one flip: a regression

    fourth = run(remoteci, topic, pytest_report(a="failure", b="success"))

    assert states(fourth)["a"] == ("REGRESSED", "success", "failure")
    assert counts(fourth) == (0, 0, 1)
    assert Case.objects.get(file=fourth, name="a").flaky
    for path in (f"/topics/{topic.id}/flaky_tests", f"/remotecis/{remoteci.id}/flaky_tests"):
        flaky = user_client.get(API + path).json()
        assert [(t["name"], t["flips"], t["outcomes"], t["flaky"]) for t in flaky["tests"]] == [("a", 3, "fsfs", True)]
        assert flaky["_meta"]["count"] == 1
    junit = user_client.get(f"{API}/files/{fourth.id}/junit").json()["testsuites"][0]
    assert junit["regressions"] == 0
    assert next(c for c in junit["testcases"] if c["name"] == "a")["regression"] is False


def test_passing_and_failing_on_one_component_set_marks_a_test_flaky(user_client, remoteci, topic):
    run(remoteci, topic, pytest_report(a="success", b="success"), components_key="a" * 40)
    retry = run(remoteci, topic, pytest_report(a="failure", b="success"), components_key="a" * 40)
    other_set = run(remoteci, topic, pytest_report(a="success", b="failure"), components_key="b" * 40)

    assert counts(retry) == (0, 0, 1)
    # b failed on a new component set: a regression.
    assert counts(other_set) == (1, 1, 0)
    flaky = user_client.get(f"{API}/topics/{topic.id}/flaky_tests").json()["tests"]
    assert [t["name"] for t in flaky] == ["a"]


def test_a_recheck_runs_the_same_component_set(user_client, remoteci, topic, component):
    from jobs.services import job_recheck

    original = line_job(remoteci, topic)
    upload(original, pytest_report(a="success"))
    retry = upload(job_recheck(job=original), pytest_report(a="failure"))

    assert counts(retry) == (0, 0, 1)


def test_flakiness_settings_k_and_n(settings, remoteci, topic):
    settings.DCI_FLAKY_FLIPS, settings.DCI_FLAKY_RUNS = 2, 3
    files = [run(remoteci, topic, pytest_report(a=r)) for r in ("success", "failure", "success")]
    assert Case.objects.get(file=files[2]).flaky  # two flips in three runs

    for _ in range(2):
        files.append(run(remoteci, topic, pytest_report(a="success")))

    test = LineTest.objects.get(pk=Case.objects.get(file=files[0]).test_id)
    # The last three runs passed: no flip in them, no longer flaky.
    assert (test.outcomes, test.flips, test.flaky, test.runs) == ("sss", 0, False, 5)


def test_a_file_uploaded_again_by_one_job_replaces_its_run(remoteci, topic):
    job = line_job(remoteci, topic)
    upload(job, pytest_report(a="success"))
    upload(job, pytest_report(a="failure"))

    test = LineTest.objects.get()
    assert (test.runs, test.outcomes) == (1, "f")


def test_any_job_against_any_other(user_client, remoteci, topic):
    old = run(remoteci, topic, pytest_report(a="success", b="failure", c="success", gone="success"), name="nightly")
    new = run(remoteci, topic, pytest_report(a="failure", b="success", c="skipped", new="error"), name="weekly")

    diff = user_client.get(f"{API}/jobs/{new.job_id}/tests?baseline={old.job_id}&sort=name").json()
    regressed = user_client.get(f"{API}/jobs/{new.job_id}/tests?baseline={old.job_id}&where=state:REGRESSED").json()
    query = "and(eq(state,REMOVED),eq(name,gone))"
    removed = user_client.get(f"{API}/jobs/{new.job_id}/tests?baseline={old.job_id}&query={query}").json()

    assert [(c["name"], c["state"], c["previous_result"], c["result"]) for c in diff["testcases"]] == [
        ("a", "REGRESSED", "success", "failure"),
        ("b", "RECOVERED", "failure", "success"),
        ("c", "SKIPPED", "success", "skipped"),
        ("gone", "REMOVED", "success", "success"),
        ("new", "ADDED", "", "error"),
    ]
    assert diff["_meta"]["count"] == 5
    assert [c["name"] for c in regressed["testcases"]] == ["a"] and regressed["_meta"]["count"] == 1
    assert [c["name"] for c in removed["testcases"]] == ["gone"]
    # Each on its own line: against its baseline, every case was new.
    assert {c["state"] for c in user_client.get(f"{API}/jobs/{new.job_id}/tests").json()["testcases"]} == {"ADDED"}


def test_a_jobs_cases_are_filtered_and_paged_with_the_list_language(user_client, remoteci, topic):
    run(remoteci, topic, pytest_report(a="success", b="success", c="failure"))
    second = run(remoteci, topic, pytest_report(a="failure", b="failure", c="failure", d="skipped"))
    path = f"{API}/jobs/{second.job_id}/tests"

    page = user_client.get(f"{path}?where=result:failure&sort=-name&limit=2").json()
    suite_page = user_client.get(f"{path}?where=suite:pytest,state:UNCHANGED").json()
    bad = user_client.get(f"{path}?where=nope:1")

    assert [c["name"] for c in page["testcases"]] == ["c", "b"] and page["_meta"]["count"] == 3
    assert [c["name"] for c in suite_page["testcases"]] == ["c"]
    assert bad.status_code == 400 and bad["Content-Type"] == "application/json"


def test_another_teams_results_are_never_shown(
    user_client, outsider_client, remoteci, topic, other_remoteci, other_team
):
    TopicSubscription.objects.create(topic=topic, team=other_team)  # one topic, two teams
    mine = [run(remoteci, topic, pytest_report(a=r)) for r in ("success", "failure", "success", "failure")]
    theirs = [run(other_remoteci, topic, pytest_report(z=r)) for r in ("success", "failure", "success", "failure")]
    my_test = Case.objects.filter(file=mine[0]).get().test_id
    their_test = Case.objects.filter(file=theirs[0]).get().test_id

    for client, own, other, own_files, other_files, own_ci, other_ci in (
        (user_client, my_test, their_test, mine, theirs, remoteci, other_remoteci),
        (outsider_client, their_test, my_test, theirs, mine, other_remoteci, remoteci),
    ):
        flaky = client.get(f"{API}/topics/{topic.id}/flaky_tests").json()["tests"]
        assert [t["id"] for t in flaky] == [str(own)]
        assert [t["id"] for t in client.get(f"{API}/tests").json()["tests"]] == [str(own)]
        assert client.get(f"{API}/remotecis/{own_ci.id}/flaky_tests").json()["_meta"]["count"] == 1
        for path in (
            f"/tests/{other}",
            f"/tests/{other}/history",
            f"/remotecis/{other_ci.id}/flaky_tests",
            f"/files/{other_files[0].id}/junit",
            f"/jobs/{other_files[0].job_id}/tests",
            f"/jobs/{own_files[1].job_id}/tests?baseline={other_files[0].job_id}",
        ):
            assert client.get(API + path).status_code == 404, path
        history = client.get(f"{API}/tests/{own}/history").json()
        assert {h["job_id"] for h in history["testcases"]} == {str(f.job_id) for f in own_files}


def test_a_deleted_file_or_job_leaves_the_history_and_comes_back_restored(user_client, remoteci, topic):
    first = run(remoteci, topic, pytest_report(a="success"))
    second = run(remoteci, topic, pytest_report(a="failure"))
    test_id = Case.objects.get(file=first).test_id

    def history():
        return [h["job_id"] for h in user_client.get(f"{API}/tests/{test_id}/history").json()["testcases"]]

    second.archive()
    assert history() == [str(first.job_id)]
    assert user_client.get(f"{API}/jobs/{second.job_id}/tests").json()["_meta"]["count"] == 0
    second.restore()
    assert history() == [str(second.job_id), str(first.job_id)]
    first.job.archive()
    assert history() == [str(second.job_id)]


def test_unknown_or_malformed_test_ids_are_404(user_client):
    for value in ("123", "not-a-number", "99999999999999999999999", "-1"):
        response = user_client.get(f"{API}/tests/{value}/history")
        assert response.status_code == 404 and response["Content-Type"] == "application/json", value
    assert user_client.get(f"{API}/jobs/{uuid.uuid4()}/tests").status_code == 404


def test_a_file_that_is_no_report_has_no_junit(user_client, file):
    response = user_client.get(f"{API}/files/{file.id}/junit")

    assert response.status_code == 404 and "not a JUnit report" in response.json()["message"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_of_one_line_lose_no_run(team, remoteci, topic, user):
    """Two jobs of a line upload at once: each test's row counts both runs (the line's lock)."""
    jobs = [line_job(remoteci, topic) for _ in range(4)]
    report = pytest_report(**{f"t{i}": "success" for i in range(200)})
    barrier = threading.Barrier(len(jobs))
    errors = []

    def post(job):
        try:
            barrier.wait(timeout=30)
            response = client_for(user).post(
                f"{API}/files", report.encode(), content_type="application/junit",
                HTTP_DCI_NAME="tests.xml", HTTP_DCI_MIME="application/junit", HTTP_DCI_JOB_ID=str(job.id),
            )  # fmt: skip
            if response.status_code != 201:
                errors.append(response.content)
        except Exception as exc:  # reported through errors, asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert set(LineTest.objects.values_list("runs", flat=True)) == {4}
    assert LineTest.objects.count() == 200 and Case.objects.count() == 800


def test_one_case_repeated_in_a_suite_is_told_apart_by_its_order(remoteci, topic):
    run(remoteci, topic, suite(case("test_retry"), case("test_retry", "failure"), case("test_retry")))
    second = run(remoteci, topic, suite(case("test_retry"), case("test_retry"), case("test_retry", "error")))

    rows = Case.objects.filter(file=second).order_by("id")
    assert [(c.state, c.previous_result, c.result) for c in rows] == [
        ("UNCHANGED", "success", "success"),
        ("RECOVERED", "failure", "success"),
        ("REGRESSED", "success", "error"),
    ]
    assert len({c.test_id for c in rows}) == 3
