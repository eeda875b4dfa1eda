"""Cross-site writes: a browser's cached Basic credentials never let another site's page write.

A page of another site can make the browser POST a ``<form>`` (``text/plain``, form-encoded or
multipart) to the API without asking first, and the browser adds the credentials it cached for
dciserver. Such a write is refused twice over: a body that is not labelled JSON is not taken as
JSON (415), and a request the browser marks as cross-site (``Origin``, ``Sec-Fetch-Site``) is
refused outright (403). The real clients send neither marker and label their bodies JSON.
"""

import json

import pytest

from conftest import if_match
from dciserver.tests.test_hostile_input import assert_dci_error
from files.models import File
from teams.models import User

API = "/api/v1"
PLANTED = {"name": "mallory", "password": "planted-pw", "role": "admin"}
FORM_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]


@pytest.fixture
def ui_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://dci-ui.example.org"]
    return "https://dci-ui.example.org"


def post_users(client, content_type="application/json", **headers):
    return client.post(f"{API}/users", json.dumps(PLANTED), content_type=content_type, **headers)


@pytest.mark.parametrize("content_type", FORM_TYPES)
def test_a_form_body_is_not_taken_as_json_and_creates_no_user(team_admin_client, content_type):
    response = post_users(team_admin_client, content_type)

    body = assert_dci_error(response, 415)
    assert "application/json" in body["message"]
    assert not User.objects.filter(name="mallory").exists()


def test_a_body_without_any_content_type_is_not_taken_as_json(team_admin_client):
    response = team_admin_client.generic("POST", f"{API}/users", json.dumps(PLANTED), content_type="")

    assert_dci_error(response, 415)
    assert not User.objects.filter(name="mallory").exists()


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/vnd.dci+json"]
)
def test_a_body_labelled_json_is_taken(team_admin_client, content_type):
    assert post_users(team_admin_client, content_type).status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_ORIGIN": "https://evil.example.com"},
        {"HTTP_ORIGIN": "https://evil.example.com", "HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_ORIGIN": "null"},
        {"HTTP_ORIGIN": "http://testserver.evil.example.com"},
    ],
    ids=["sec-fetch-site", "origin", "both", "null-origin", "look-alike-origin"],
)
def test_a_write_the_browser_marks_cross_site_is_refused_even_as_json(team_admin_client, ui_origin, headers):
    response = post_users(team_admin_client, **headers)

    body = assert_dci_error(response, 403)
    assert "Cross-site" in body["message"]
    assert not User.objects.filter(name="mallory").exists()


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_every_unsafe_method_is_refused_cross_site(team_admin_client, user, method):
    response = team_admin_client.generic(
        method,
        f"{API}/users/{user.id}",
        json.dumps({"fullname": "pwned"}),
        content_type="application/json",
        HTTP_SEC_FETCH_SITE="cross-site",
        **if_match(user),
    )

    assert_dci_error(response, 403)
    user.refresh_from_db()
    assert user.fullname != "pwned" and user.archived_at is None


def test_reads_are_not_refused_cross_site(team_admin_client):
    response = team_admin_client.get(f"{API}/users", HTTP_SEC_FETCH_SITE="cross-site", HTTP_ORIGIN="https://x.example")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "https://dci-ui.example.org", "HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_ORIGIN": "http://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"},
        {"HTTP_SEC_FETCH_SITE": "same-origin"},
        {"HTTP_SEC_FETCH_SITE": "none"},
        {},
    ],
    ids=["allowed-ui-origin", "same-origin", "same-origin-no-origin", "typed-by-the-user", "api-client"],
)
def test_a_write_from_an_allowed_origin_or_from_no_browser_at_all_is_served(team_admin_client, ui_origin, headers):
    assert post_users(team_admin_client, **headers).status_code == 201


def test_an_origin_regex_of_the_cors_settings_is_allowed_too(team_admin_client, settings):
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"^https://\w+\.dci\.example\.org$"]

    assert post_users(team_admin_client, HTTP_ORIGIN="https://eu.dci.example.org").status_code == 201
    assert_dci_error(post_users(team_admin_client, HTTP_ORIGIN="https://eu.dci.example.org.evil.com"), 403)


def test_requests_without_a_body_keep_working_whatever_they_claim(user_client, team_admin_client, job):
    # What the clients send: a bodiless POST and DELETE, labelled JSON or not labelled at all.
    recheck = user_client.generic("POST", f"{API}/jobs/{job.id}/recheck", "", content_type="")
    assert recheck.status_code == 201
    labelled = user_client.generic("POST", f"{API}/jobs/{job.id}/recheck", "", content_type="text/plain")
    assert labelled.status_code == 201
    deleted = team_admin_client.generic("DELETE", f"{API}/jobs/{job.id}", "", content_type="", **if_match(job))
    assert deleted.status_code == 204


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", ""])
def test_the_seed_json_uploads_keep_working_whatever_they_claim(user_client, job, content_type):
    body = json.dumps({"name": "seed.log", "content": "helloworld", "mime": "text/plain"})

    by_job = user_client.generic("POST", f"{API}/jobs/{job.id}/files", body, content_type=content_type)
    by_body = user_client.generic(
        "POST", f"{API}/files", json.dumps({**json.loads(body), "job_id": str(job.id)}), content_type=content_type
    )

    assert (by_job.status_code, by_body.status_code) == (201, 201), (by_job.content, by_body.content)
    assert File.objects.filter(name="seed.log").count() == 2


def test_the_2016_raw_upload_labelled_json_keeps_working(user_client, job):
    response = user_client.post(
        f"{API}/files",
        b"not json at all\n",
        content_type="application/json",
        HTTP_DCI_NAME="raw.log",
        HTTP_DCI_JOB_ID=str(job.id),
    )

    assert response.status_code == 201
    assert response.json()["file"]["size"] == len(b"not json at all\n")
