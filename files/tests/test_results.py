"""JUnit files parsed at upload, and GET /jobs/<id>/results in the seed's shape."""

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from files import services
from files.models import File, JUnitResult
from files.models import TestCase as Case  # not collected as a test class
from files.tests.helpers import API, BILLION_LAUGHS, EXTERNAL_ENTITY, PYTEST, raw_upload

pytestmark = pytest.mark.django_db


def upload_junit(client, job, xml, name="res_junit.xml", mime="application/junit"):
    response = raw_upload(client, xml.encode(), name=name, mime=mime, job_id=job.id)
    assert response.status_code == 201, response.content
    return File.objects.get(pk=response.json()["file"]["id"])


def results(client, job):
    response = client.get(f"{API}/jobs/{job.id}/results")
    assert response.status_code == 200, response.content
    return response.json()


def test_results_answer_the_seeds_shape(user_client, job):
    file = upload_junit(user_client, job, PYTEST)

    assert results(user_client, job) == {
        "_meta": {"count": 1},
        "results": {
            "res_junit.xml": {
                "errors": "0",
                "failures": "0",
                "name": "pytest",
                "skips": "1",
                "success": 2,
                "time": "46.050",
                "total": "3",
                "file_id": str(file.id),
                "filename": "res_junit.xml",
            }
        },
    }


def test_every_test_case_is_stored(user_client, job):
    file = upload_junit(user_client, job, PYTEST)

    cases = Case.objects.filter(file=file).order_by("id")

    assert [(c.name, c.result, c.message) for c in cases] == [
        ("test_ok", "success", ""),
        ("test_also_ok", "success", ""),
        ("test_later", "skipped", "not on this hardware"),
    ]


def test_test_cases_are_stored_by_copy_not_one_insert_each(job):
    xml = "<testsuite>" + '<testcase name="t"/>' * 5000 + "</testsuite>"

    with CaptureQueriesContext(connection) as queries:
        services.file_create(job=job, name="big.xml", mime="application/junit", stream=io.BytesIO(xml.encode()))

    assert not [q for q in queries if Case._meta.db_table in q["sql"] and q["sql"].startswith("INSERT")]
    assert Case.objects.count() == 5000


def test_test_cases_keep_tabs_newlines_backslashes_and_unicode(job):
    message = "Traceback:\n\tline 1 \\N \\t\r\nAssertionError: café ≠ 🐍"
    xml = (
        '<testsuite><testcase classname="a\\b&#9;c" name="t\\N"><failure><![CDATA['
        + message
        + "]]></failure></testcase></testsuite>"
    )

    services.file_create(job=job, name="r.xml", mime="application/junit", stream=io.BytesIO(xml.encode()))

    case = Case.objects.get()
    assert (case.classname, case.name, case.result) == ("a\\b\tc", "t\\N", "failure")
    assert case.message == message.strip().replace("\r\n", "\n")


def test_a_large_report_breaking_after_thousands_of_cases_keeps_none_of_them(job):
    xml = "<testsuite>" + '<testcase name="t" time="0.5"><failure message="m\tx"/></testcase>' * 20000 + "<testcase"

    file = services.file_create(job=job, name="r.xml", mime="application/junit", stream=io.BytesIO(xml.encode()))

    assert "not well-formed XML" in JUnitResult.objects.get(file=file).error
    assert Case.objects.count() == 0


def test_an_xml_file_whose_root_is_a_suite_is_parsed_whatever_its_mime(user_client, job):
    upload_junit(user_client, job, PYTEST, name="report.XML", mime="text/plain")

    assert results(user_client, job)["results"]["report.XML"]["total"] == "3"


def test_an_xml_file_that_is_not_a_report_has_no_results(user_client, job):
    upload_junit(user_client, job, "<html><body/></html>", name="page.xml", mime="text/xml")
    upload_junit(user_client, job, "not xml at all", name="notes.xml", mime="text/plain")

    assert results(user_client, job) == {"_meta": {"count": 0}, "results": {}}
    assert File.objects.count() == 2


@pytest.mark.parametrize(
    ("xml", "why"),
    [
        ("garbage <<<", "not well-formed XML"),
        ("<html/>", "not a JUnit report"),
        (BILLION_LAUGHS, "entities are not expanded"),
        (EXTERNAL_ENTITY, "entity 'xxe'"),
    ],
    ids=["garbage", "not-junit", "billion-laughs", "external-entity"],
)
def test_a_report_that_does_not_parse_is_kept_with_why(user_client, job, xml, why):
    file = upload_junit(user_client, job, xml)

    entry = results(user_client, job)["results"]["res_junit.xml"]

    assert why in entry["error"]
    assert (entry["total"], entry["success"], entry["file_id"]) == ("0", 0, str(file.id))
    assert user_client.get(f"{API}/files/{file.id}/content").getvalue() == xml.encode()
    assert Case.objects.count() == 0


def test_a_hostile_report_is_never_expanded(user_client, job):
    upload_junit(user_client, job, EXTERNAL_ENTITY)

    stored = list(JUnitResult.objects.values_list("name", "error")) + list(Case.objects.values_list("message"))

    assert "root:" not in repr(stored)


def test_a_report_breaking_midway_keeps_none_of_its_cases(user_client, job):
    upload_junit(user_client, job, '<testsuite name="s">' + '<testcase name="t"/>' * 10 + "<testcase")

    assert "not well-formed XML" in results(user_client, job)["results"]["res_junit.xml"]["error"]
    assert Case.objects.count() == 0


def test_results_sum_several_suites_and_list_every_report(user_client, job):
    upload_junit(user_client, job, PYTEST, name="unit.xml")
    upload_junit(
        user_client,
        job,
        '<testsuites><testsuite name="a" time="1"><testcase name="x"><failure/></testcase></testsuite>'
        '<testsuite name="b" time="2"><testcase name="y"><error/></testcase><testcase name="z"/></testsuite>'
        "</testsuites>",
        name="functional.xml",
    )

    body = results(user_client, job)

    assert body["_meta"] == {"count": 2}
    functional = body["results"]["functional.xml"]
    assert (functional["total"], functional["failures"], functional["errors"]) == ("3", "1", "1")
    assert (functional["success"], functional["time"], functional["name"]) == (1, "3.000", "a")


def test_the_newer_report_of_a_name_is_shown(user_client, job):
    upload_junit(user_client, job, PYTEST)
    newer = upload_junit(user_client, job, '<testsuite name="again"><testcase name="a"/></testsuite>')

    body = results(user_client, job)

    assert body["_meta"] == {"count": 1}
    assert body["results"]["res_junit.xml"]["file_id"] == str(newer.id)


def test_a_deleted_reports_results_are_hidden(user_client, team_admin_client, job):
    file = upload_junit(user_client, job, PYTEST)

    team_admin_client.delete(f"{API}/files/{file.id}")

    assert results(user_client, job)["results"] == {}


def test_another_teams_results_are_not_found(outsider_client, job):
    assert outsider_client.get(f"{API}/jobs/{job.id}/results").status_code == 404
