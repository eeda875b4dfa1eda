"""Brute force: failed logins lock out a (name, address) pair, and an address failing for many names,
for Basic authentication and the admin's login form alike; never a name for everyone."""

from datetime import timedelta
from unittest import mock

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import RequestFactory
from django.urls import reverse

from conftest import PASSWORD, basic
from dciserver.api.throttling import client_address

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = reverse("admin:login")


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.DCI_LOGIN_FAILURE_LIMIT = 3
    settings.DCI_LOGIN_ADDRESS_FAILURE_LIMIT = 6
    settings.DCI_LOGIN_FAILURE_WINDOW = 60


@pytest.fixture
def hasher_calls():
    with mock.patch.object(MD5PasswordHasher, "verify", autospec=True, side_effect=MD5PasswordHasher.verify) as spy:
        yield spy


def get(client, name, password, address="10.0.0.1", **headers):
    return client.get("/api/v1/identity", HTTP_AUTHORIZATION=basic(name, password), REMOTE_ADDR=address, **headers)


def admin_login(client, name, password, address="10.0.0.1"):
    return client.post(ADMIN_LOGIN, {"username": name, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def test_repeated_failures_for_one_name_answer_429_with_retry_after(client, user):
    assert [get(client, user.name, "wrong").status_code for _ in range(3)] == [401, 401, 401]

    response = get(client, user.name, "wrong")

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 61
    body = response.json()
    assert (body["status_code"], body["payload"]) == (429, {})
    assert body["message"].startswith("Too many failed logins")
    # Even the right password waits, from the address that failed.
    assert get(client, user.name, PASSWORD).status_code == 429


def test_ten_wrong_passwords_from_one_address_leave_the_name_usable_from_another(client, user, settings):
    settings.DCI_LOGIN_FAILURE_LIMIT = 10
    settings.DCI_LOGIN_ADDRESS_FAILURE_LIMIT = 50

    assert {get(client, user.name, "wrong", address="127.0.0.1").status_code for _ in range(10)} == {401}

    assert get(client, user.name, PASSWORD, address="127.0.0.2").status_code == 200
    refused = get(client, user.name, PASSWORD, address="127.0.0.1")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert set(refused.json()) == {"status_code", "message", "payload"}


def test_a_locked_out_login_does_not_run_the_hasher(client, user, hasher_calls):
    for _ in range(3):
        get(client, user.name, "wrong")
    assert hasher_calls.call_count == 3

    assert get(client, user.name, PASSWORD).status_code == 429
    assert get(client, user.name, "wrong").status_code == 429

    assert hasher_calls.call_count == 3


def test_a_throttled_name_does_not_lock_out_anyone_else(client, user, team_admin):
    for _ in range(4):
        get(client, user.name, "wrong")

    assert get(client, team_admin.name, PASSWORD).status_code == 200


def test_a_client_already_logged_in_keeps_working_during_an_attack(client, user):
    assert get(client, user.name, PASSWORD, address="10.0.0.9").status_code == 200
    for _ in range(5):
        get(client, user.name, "wrong", address="10.6.6.6")

    assert get(client, user.name, PASSWORD, address="10.0.0.9").status_code == 200


def test_the_locked_out_address_does_not_learn_a_right_guess_from_remembered_credentials(client, user, hasher_calls):
    assert get(client, user.name, PASSWORD, address="10.0.0.9").status_code == 200
    for _ in range(3):
        get(client, user.name, "wrong", address="10.6.6.6")

    assert get(client, user.name, PASSWORD, address="10.6.6.6").status_code == 429
    assert hasher_calls.call_count == 4


def test_repeated_failures_from_one_address_throttle_that_address_only(client, user, team_admin, other_user):
    for name in ("ghost-1", "ghost-2", "ghost-3", "ghost-4", "ghost-5", "ghost-6"):
        assert get(client, name, "guess", address="10.6.6.6").status_code == 401

    assert get(client, team_admin.name, PASSWORD, address="10.6.6.6").status_code == 429
    assert get(client, other_user.name, PASSWORD, address="10.0.0.2").status_code == 200


def test_the_window_expires(client, user):
    for _ in range(4):
        get(client, user.name, "wrong")
    assert get(client, user.name, PASSWORD).status_code == 429

    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - timedelta(seconds=61))

    assert get(client, user.name, PASSWORD).status_code == 200


def test_failures_on_write_requests_count_too(client, user):
    for _ in range(3):
        response = client.post(
            "/api/v1/remotecis", {"name": "x"}, HTTP_AUTHORIZATION=basic(user.name, "wrong"), REMOTE_ADDR="10.0.0.1"
        )
        assert response.status_code == 401

    assert get(client, user.name, "wrong").status_code == 429


@pytest.mark.parametrize("name", ["nul\x00name", "x" * 1000], ids=["nul", "too-long"])
def test_a_name_no_user_can_have_is_counted_like_any_other(client, name):
    assert [get(client, name, "guess").status_code for _ in range(4)] == [401, 401, 401, 429]


def test_ten_wrong_passwords_on_the_admin_login_lock_it_out_and_are_recorded(client, super_admin, settings):
    settings.DCI_LOGIN_FAILURE_LIMIT = 10
    settings.DCI_LOGIN_ADDRESS_FAILURE_LIMIT = 50

    answers = [admin_login(client, super_admin.name, "wrong", address="127.0.0.1").status_code for _ in range(10)]

    assert answers == [200] * 9 + [429]  # the form again with its error, then the lock-out page
    refused = admin_login(client, super_admin.name, PASSWORD, address="127.0.0.1")
    assert refused.status_code == 429
    assert "Too many failed logins" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    assert client.get(reverse("admin:index"), REMOTE_ADDR="127.0.0.1").status_code == 302
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == (super_admin.name, "127.0.0.1", 10)
    assert PASSWORD not in attempt.post_data and "wrong" not in attempt.post_data
    # The same name from an address that has not been failing logs in.
    assert admin_login(client, super_admin.name, PASSWORD, address="127.0.0.2").status_code == 302


def test_the_admin_login_and_basic_share_one_count(client, super_admin):
    for _ in range(2):
        admin_login(client, super_admin.name, "wrong")
    get(client, super_admin.name, "wrong")

    assert get(client, super_admin.name, PASSWORD).status_code == 429
    assert admin_login(client, super_admin.name, PASSWORD).status_code == 429


# X-Forwarded-For: trusted only as far as the configured proxies wrote it.


@pytest.mark.parametrize(
    "proxies, forwarded_for, expected",
    [
        (0, "", "10.9.9.9"),
        (0, "203.0.113.7", "10.9.9.9"),
        (1, "", "10.9.9.9"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "1.2.3.4, 203.0.113.7", "203.0.113.7"),
        (1, "1.2.3.4,203.0.113.7", "203.0.113.7"),
        (2, "1.2.3.4, 203.0.113.7, 10.0.0.5", "203.0.113.7"),
        (2, "203.0.113.7", "203.0.113.7"),
        (1, "1.2.3.4, not-an-address", "10.9.9.9"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_is_the_hop_the_outermost_trusted_proxy_saw(settings, proxies, forwarded_for, expected):
    settings.DCI_TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR=forwarded_for)

    assert client_address(request) == expected


def test_without_trusted_proxies_a_forged_header_does_not_escape_the_address_limit(client, user, settings):
    settings.DCI_TRUSTED_PROXIES = 0
    for hop in range(3):
        get(client, user.name, "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{hop}")

    assert get(client, user.name, PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_behind_a_proxy_a_forged_leftmost_hop_does_not_change_the_throttled_address(client, user, settings):
    settings.DCI_TRUSTED_PROXIES = 1
    proxy = "10.0.0.100"
    for hop in range(3):
        forged = f"192.0.2.{hop}, 203.0.113.7"
        assert get(client, user.name, "wrong", address=proxy, HTTP_X_FORWARDED_FOR=forged).status_code == 401

    assert (
        get(client, user.name, PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.7").status_code
        == 429
    )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    # Another client behind the same proxy is not locked out.
    assert get(client, user.name, PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 200
