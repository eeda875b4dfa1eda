import pytest

from conftest import PASSWORD, basic

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.DCI_LOGIN_FAILURE_LIMIT = 3
    settings.DCI_LOGIN_ADDRESS_FAILURE_LIMIT = 6
    settings.DCI_LOGIN_FAILURE_WINDOW = 60


def get(client, name, password, address="10.0.0.1"):
    return client.get("/api/v1/identity", HTTP_AUTHORIZATION=basic(name, password), REMOTE_ADDR=address)


def test_repeated_failures_for_one_name_answer_429_with_retry_after(client, user):
    assert [get(client, user.name, "wrong").status_code for _ in range(3)] == [401, 401, 401]

    response = get(client, user.name, "wrong")

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 61
    assert response.json()["status_code"] == 429
    # Even the right password waits: the name is under attack.
    assert get(client, user.name, PASSWORD).status_code == 429


def test_a_throttled_name_does_not_lock_out_anyone_else(client, user, team_admin):
    for _ in range(4):
        get(client, user.name, "wrong")

    assert get(client, team_admin.name, PASSWORD).status_code == 200


def test_a_client_already_logged_in_keeps_working_during_an_attack(client, user):
    assert get(client, user.name, PASSWORD, address="10.0.0.9").status_code == 200
    for _ in range(5):
        get(client, user.name, "wrong", address="10.6.6.6")

    assert get(client, user.name, PASSWORD, address="10.0.0.9").status_code == 200


def test_repeated_failures_from_one_address_throttle_that_address_only(client, user, team_admin, other_user):
    for name in ("ghost-1", "ghost-2", "ghost-3", "ghost-4", "ghost-5", "ghost-6"):
        assert get(client, name, "guess", address="10.6.6.6").status_code == 401

    assert get(client, team_admin.name, PASSWORD, address="10.6.6.6").status_code == 429
    assert get(client, other_user.name, PASSWORD, address="10.0.0.2").status_code == 200


def test_the_window_expires(client, user, settings):
    from datetime import timedelta

    from teams.models import LoginFailure

    for _ in range(4):
        get(client, user.name, "wrong")
    LoginFailure.objects.update(window_start=LoginFailure.objects.first().window_start - timedelta(seconds=61))

    assert get(client, user.name, PASSWORD).status_code == 200


def test_failures_on_write_requests_count_too(client, user):
    for _ in range(3):
        response = client.post(
            "/api/v1/remotecis", {"name": "x"}, HTTP_AUTHORIZATION=basic(user.name, "wrong"), REMOTE_ADDR="10.0.0.1"
        )
        assert response.status_code == 401

    assert get(client, user.name, "wrong").status_code == 429
