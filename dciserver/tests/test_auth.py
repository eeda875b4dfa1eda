"""Basic authentication (SPEC §2): 401 in the DCI shape, and only the first request pays for the hash."""

from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.cache import cache

from conftest import PASSWORD, basic, client_for

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"


@pytest.fixture
def hasher_calls():
    """Every run of the password hasher's ``verify`` (the slow part of a login), counted."""
    with mock.patch.object(MD5PasswordHasher, "verify", autospec=True, side_effect=MD5PasswordHasher.verify) as spy:
        yield spy


def etag_of(user):
    user.refresh_from_db(fields=["etag"])
    return user.etag


@pytest.mark.parametrize(
    "authorization",
    [None, basic("lab-user", "wrong"), basic("nobody"), "Basic not-base64!", "Bearer abc", "Basic " + "QQ=="],
    ids=["none", "wrong-password", "unknown-user", "garbled", "other-scheme", "no-colon"],
)
def test_missing_or_wrong_credentials_answer_401_with_the_basic_challenge(client, user, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = client.get("/api/v1/identity", **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="DCI"'
    body = response.json()
    assert set(body) == {"status_code", "message", "payload"} and body["status_code"] == 401


def test_a_second_request_with_the_same_credentials_does_not_run_the_hasher(user_client, hasher_calls):
    assert user_client.get(ME).status_code == 200
    assert hasher_calls.call_count == 1

    for _ in range(3):
        assert user_client.get(ME).status_code == 200

    assert hasher_calls.call_count == 1


def test_a_wrong_password_is_not_accepted_from_the_remembered_credentials(user, user_client, hasher_calls):
    user_client.get(ME)

    response = client_for(user, password="guess").get(ME)

    assert response.status_code == 401
    assert hasher_calls.call_count == 2


def test_changing_ones_password_forgets_the_remembered_credentials(user, user_client, hasher_calls):
    assert user_client.get(ME).status_code == 200

    response = user_client.put(ME, {"password": "brand-new"}, format="json", HTTP_IF_MATCH=etag_of(user))

    assert response.status_code == 204, response.content
    assert user_client.get(ME).status_code == 401
    assert client_for(user, password="brand-new").get(ME).status_code == 200


def test_an_admin_resetting_a_password_forgets_the_remembered_credentials(user, user_client, team_admin_client):
    assert user_client.get(ME).status_code == 200

    response = team_admin_client.put(
        f"/api/v1/users/{user.pk}", {"password": "reset"}, format="json", HTTP_IF_MATCH=etag_of(user)
    )

    assert response.status_code == 204, response.content
    assert user_client.get(ME).status_code == 401
    assert client_for(user, password="reset").get(ME).status_code == 200


def test_a_deleted_or_deactivated_user_is_refused_at_once(user, colleague, user_client, team_admin_client):
    colleague_client = client_for(colleague)
    assert user_client.get(ME).status_code == colleague_client.get(ME).status_code == 200

    team_admin_client.delete(f"/api/v1/users/{user.pk}", HTTP_IF_MATCH=etag_of(user))
    team_admin_client.put(
        f"/api/v1/users/{colleague.pk}", {"state": "inactive"}, format="json", HTTP_IF_MATCH=etag_of(colleague)
    )

    assert user_client.get(ME).status_code == 401
    assert colleague_client.get(ME).status_code == 401


def test_a_role_change_applies_to_the_next_request(team_admin, team_admin_client, admin_client):
    assert team_admin_client.get("/api/v1/audits").status_code == 200

    admin_client.put(
        f"/api/v1/users/{team_admin.pk}", {"role": "user"}, format="json", HTTP_IF_MATCH=etag_of(team_admin)
    )

    assert team_admin_client.get("/api/v1/audits").status_code == 403


def test_the_remembered_credentials_hold_neither_the_name_nor_the_password(user_client, user):
    user_client.get(ME)

    entries = {key: value for key, value in cache._cache.items() if "dci-basic:" in key}

    assert len(entries) == 1
    for key, value in entries.items():
        assert PASSWORD not in key and user.name not in key
        assert PASSWORD.encode() not in value and user.name.encode() not in value


def test_passwords_are_stored_hashed_and_never_returned(admin_client, team):
    created = admin_client.post(
        "/api/v1/users", {"name": "agent", "password": "plain-text", "team_id": str(team.pk)}, format="json"
    )

    assert created.status_code == 201, created.content
    from teams.models import User

    agent = User.objects.get(name="agent")
    assert agent.password != "plain-text" and agent.check_password("plain-text")
    bodies = [
        created.json()["user"],
        admin_client.get(f"/api/v1/users/{agent.pk}").json()["user"],
        *admin_client.get("/api/v1/users").json()["users"],
        client_for(agent, "plain-text").get(ME).json()["user"],
    ]
    assert all("password" not in body for body in bodies)
    assert "plain-text" not in str(bodies)


def test_a_session_authenticates_api_calls_too(client, user):
    client.force_login(user)

    response = client.get(ME)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)


def test_a_non_ascii_password_works(db, team):
    from teams.models import User

    agent = User.objects.create_user("agent-é", "pässwörd-密码", team=team)

    assert client_for(agent, "pässwörd-密码").get(ME).status_code == 200
    assert client_for(agent, "passwort").get(ME).status_code == 401


def test_a_credential_in_use_stays_remembered_and_an_unused_one_expires(user_client, settings, monkeypatch):
    from types import SimpleNamespace

    from dciserver.api import authentication

    settings.DCI_AUTH_CACHE_SECONDS = 60
    clock = SimpleNamespace(now=1000.0)
    fake_time = SimpleNamespace(time=lambda: clock.now)
    monkeypatch.setattr("django.core.cache.backends.locmem.time", fake_time)
    monkeypatch.setattr("django.core.cache.backends.base.time", fake_time)
    hashed = []
    real_authenticate = authentication.authenticate
    monkeypatch.setattr(authentication, "authenticate", lambda **kw: hashed.append(1) or real_authenticate(**kw))

    assert user_client.get(ME).status_code == 200
    assert len(hashed) == 1
    for _ in range(5):  # a request every 50 s, for 250 s: the entry slides, no hash is paid again
        clock.now += 50
        assert user_client.get(ME).status_code == 200
    assert len(hashed) == 1
    clock.now += 61  # unused for longer than the period: forgotten, the next request pays the hash
    assert user_client.get(ME).status_code == 200
    assert len(hashed) == 2


def test_renaming_a_user_through_the_api_forgets_the_remembered_credentials(user, user_client, team_admin_client):
    assert user_client.get(ME).status_code == 200

    response = team_admin_client.put(
        f"/api/v1/users/{user.pk}", {"name": "lab-user-renamed"}, format="json", HTTP_IF_MATCH=etag_of(user)
    )

    assert response.status_code == 204, response.content
    assert user_client.get(ME).status_code == 401
    user.refresh_from_db()
    assert client_for(user).get(ME).status_code == 200


def test_renaming_a_user_from_the_admin_forgets_the_remembered_credentials(user, user_client, super_admin):
    from django.test import Client
    from django.urls import reverse

    assert user_client.get(ME).status_code == 200
    browser = Client()
    browser.force_login(super_admin)

    response = browser.post(
        reverse("admin:teams_user_change", args=[user.pk]),
        {"name": "lab-user-renamed", "team": str(user.team_id), "role": user.role, "state": user.state},
    )

    assert response.status_code == 302, response.content[:2000]
    assert user_client.get(ME).status_code == 401
    user.refresh_from_db()
    assert user.name == "lab-user-renamed"
    assert client_for(user).get(ME).status_code == 200


def test_a_name_given_up_by_a_rename_does_not_log_in_its_new_owner_with_the_old_password(user, user_client, team):
    from teams.models import User

    assert user_client.get(ME).status_code == 200
    User.objects.filter(pk=user.pk).update(name="lab-user-renamed")
    newcomer = User.objects.create_user(user.name, "another-password", team=team)

    assert user_client.get(ME).status_code == 401
    response = client_for(newcomer, "another-password").get(ME)
    assert response.status_code == 200 and response.json()["user"]["id"] == str(newcomer.pk)
