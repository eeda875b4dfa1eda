"""Production settings: what an operator's environment gives is safe, and what it forgets is refused.

Settings are read once, from the environment, when Django starts: these tests start
``manage.py`` in a subprocess with a clean environment, as a service manager would.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent
UI = "https://dci-ui.example.com"


def manage(*args, **env):
    """``manage.py`` with only ``env`` (and PATH) in its environment: (exit code, stdout + stderr)."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **{k: v for k, v in env.items() if v is not None}}
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=120
    )
    return result.returncode, result.stdout + result.stderr


def production(**overrides):
    return {
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "dci.example.com",
        "DATABASE_URL": "postgres://dci@db.example.com:5432/dci",
        "CORS_ALLOWED_ORIGINS": UI,
        **overrides,
    }


def test_check_deploy_is_clean_with_production_values():
    code, output = manage("check", "--deploy", "--fail-level", "WARNING", **production())

    assert code == 0, output
    assert "System check identified no issues" in output, output


def test_production_values_turn_on_https_only_cookies_hsts_and_the_redirect():
    script = (
        "from django.conf import settings as s; print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.CORS_ALLOWED_ORIGINS)"
    )

    code, output = manage("shell", "-c", script, **production())

    assert code == 0, output
    assert output.split("\n")[-2] == (f"False True True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https') ['{UI}']"), (
        output
    )


@pytest.mark.parametrize("debug", [None, "", "0", "false", "off"])
def test_a_missing_secret_key_with_debug_off_refuses_to_start(debug):
    code, output = manage("check", **production(SECRET_KEY=None, DEBUG=debug))

    assert code != 0
    assert "SECRET_KEY must be set" in output, output


@pytest.mark.parametrize("debug", ["1", "true", "on"])
def test_debug_alone_does_not_install_the_public_development_key(debug):
    code, output = manage("check", **production(SECRET_KEY=None, DEBUG=debug))

    assert code != 0
    assert "SECRET_KEY must be set" in output, output


def test_an_empty_secret_key_is_a_missing_one():
    code, output = manage("check", **production(SECRET_KEY=""))

    assert code != 0 and "SECRET_KEY must be set" in output, output


def test_a_development_setup_starts_without_a_secret_key():
    assert manage("check", **production(SECRET_KEY=None, DCI_DEV="1"))[0] == 0


@pytest.mark.django_db
def test_the_health_check_is_not_redirected_to_https(client, settings):
    """Load balancers probe plain HTTP inside the network."""
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/").status_code == 301


# CORS for the DCI web UI ---------------------------------------------------------------------------------


@pytest.fixture
def ui_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = [UI]
    return UI


def cors_allow_credentials(**env):
    code, output = manage(
        "shell", "-c", "from django.conf import settings; print(settings.CORS_ALLOW_CREDENTIALS)", **env
    )
    assert code == 0, output
    return output.split("\n")[-2]


def test_cors_credentials_are_off_unless_configured():
    """The UI sends its own Authorization header; a browser's cookies and cached passwords stay home."""
    assert cors_allow_credentials(**production()) == "False"
    assert cors_allow_credentials(**production(DCI_DEV="1")) == "False"
    assert cors_allow_credentials(**production(CORS_ALLOW_CREDENTIALS="1")) == "True"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_preflight_from_the_ui_allows_if_match_and_authorization(client, ui_origin, job, method):
    response = client.options(
        f"/api/v1/jobs/{job.id}",
        HTTP_ORIGIN=ui_origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, if-match, content-type",
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ui_origin
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"if-match", "authorization", "content-type"} <= allowed
    assert method in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.django_db
def test_a_deployment_that_configures_credentials_allows_them_to_its_ui(client, ui_origin, job, settings):
    settings.CORS_ALLOW_CREDENTIALS = True

    response = client.options(f"/api/v1/jobs/{job.id}", HTTP_ORIGIN=ui_origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="PUT")

    assert response["Access-Control-Allow-Origin"] == ui_origin
    assert response["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.django_db
def test_an_answer_to_the_ui_exposes_its_etag(user_client, ui_origin, job):
    response = user_client.get(f"/api/v1/jobs/{job.id}", HTTP_ORIGIN=ui_origin)

    assert response.status_code == 200 and response["ETag"]
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert "etag" in exposed
    assert response["Access-Control-Allow-Origin"] == ui_origin


@pytest.mark.django_db
def test_an_origin_that_is_not_configured_gets_no_cors_headers(user_client, ui_origin, job):
    preflight = user_client.options(
        f"/api/v1/jobs/{job.id}", HTTP_ORIGIN="https://evil.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="PUT"
    )
    answer = user_client.get(f"/api/v1/jobs/{job.id}", HTTP_ORIGIN="https://evil.example.com")

    assert "Access-Control-Allow-Origin" not in preflight
    assert "Access-Control-Allow-Origin" not in answer


@pytest.mark.django_db
def test_cors_stays_off_the_admin_site(client, ui_origin):
    response = client.options("/admin/login/", HTTP_ORIGIN=ui_origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")

    assert "Access-Control-Allow-Origin" not in response
