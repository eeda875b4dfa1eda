"""No answer carries a password hash or the SECRET_KEY (the suite-wide scan is in response_scan.py)."""

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory

from dciserver.tests import response_scan

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.mark.parametrize(
    "content",
    ["md5$salt$0123456789abcdef", "pbkdf2_sha256$1000000$salt$hash=", "argon2$argon2id$v=19$m=1", "<SECRET_KEY>"],
)
def test_the_scan_catches_a_secret_in_a_response(content):
    content = content.replace("<SECRET_KEY>", settings.SECRET_KEY)
    request = RequestFactory().get("/api/v1/users")

    response_scan.scan(request, HttpResponse(f'{{"password": "{content}"}}'))

    assert len(response_scan.findings) == 1
    response_scan.findings.clear()


def test_the_scan_looks_at_headers_too():
    response = HttpResponse("{}")
    response["X-Debug"] = settings.SECRET_KEY

    response_scan.scan(RequestFactory().get("/"), response)

    assert response_scan.findings
    response_scan.findings.clear()


def test_no_answer_about_users_carries_their_password_hash(admin_client, super_admin, user, team, colleague, job):
    from teams.models import User

    hashes = [u.password.encode() for u in User.objects.all()]
    admin_client.force_login(super_admin)  # the admin site is session-based
    paths = [
        f"{API}/users",
        f"{API}/users?embed=team",
        f"{API}/users/me",
        f"{API}/users/{user.pk}",
        f"{API}/users/{user.name}?embed=team",
        f"{API}/teams/{team.pk}/users",
        f"{API}/identity",
        f"{API}/audits",
        f"{API}/jobs?embed=team,remoteci,jobstates,files",
        f"/admin/teams/user/{user.pk}/change/",
        "/admin/teams/user/",
    ]

    for path in paths:
        response = admin_client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert not any(h in response.content for h in hashes), path
        assert b'"password"' not in response.content, path


def test_a_created_or_updated_user_is_answered_without_its_password(admin_client, team, colleague):
    created = admin_client.post(f"{API}/users", {"name": "newbie", "password": "pw-1", "team_id": str(team.pk)})
    colleague.refresh_from_db()
    admin_client.put(f"{API}/users/{colleague.pk}", {"password": "pw-2"}, HTTP_IF_MATCH=colleague.etag)

    assert created.status_code == 201
    assert "password" not in created.json()["user"]
    listed = admin_client.get(f"{API}/users").json()["users"]
    assert all("password" not in entry for entry in listed)


def test_the_scan_catches_an_api_secret_outside_the_routes_that_show_it():
    body = '{"job": {"remoteci": {"api_secret": "abc"}}}'

    response_scan.scan(RequestFactory().get("/api/v1/jobs"), HttpResponse(body))
    response_scan.scan(RequestFactory().get("/api/v1/remotecis/7f0c"), HttpResponse(body))
    response_scan.scan(RequestFactory().put("/api/v1/remotecis/7f0c/api_secret"), HttpResponse(body))

    assert [finding.split(" →")[0] for finding in response_scan.findings] == ["GET /api/v1/jobs"]
    response_scan.findings.clear()
