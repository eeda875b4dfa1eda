"""The bench stands apart: its own settings and URLs, and production code never names it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import settings as bench_settings
from bench.middleware import HEADER

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PRODUCTION_PACKAGES = ["dciserver", "teams", "jobs", "files"]
# A name of the bench in code: its switch, an import of it, a dotted path into it.
BENCH_NAME = re.compile(r"DCI_BENCH|^\s*(?:from|import)\s+bench\b|[\"']bench[.:]", re.MULTILINE)


def production_sources():
    return [path for package in PRODUCTION_PACKAGES for path in (BASE_DIR / package).rglob("*.py")]


def test_production_code_never_names_the_bench():
    sources = production_sources()
    named = [
        f"{path.relative_to(BASE_DIR)}: {match.group(0).strip()}"
        for path in sources
        for match in BENCH_NAME.finditer(path.read_text())
    ]
    modules = [str(path.relative_to(BASE_DIR)) for path in sources if path.name.startswith("bench")]

    assert len(sources) > 50
    assert named == []
    assert modules == []


def test_the_bench_settings_start_a_server_with_the_bench_routes():
    script = (
        "import django; django.setup(); from django.conf import settings; from django.urls import resolve; "
        "print(settings.MIDDLEWARE[0], settings.ROOT_URLCONF, resolve('/api/v1/_bench/ceiling').url_name,"
        " resolve('/api/v1/jobs').url_name)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "DCI_DEV": "1"}

    check = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )

    assert check.returncode == 0, check.stderr
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["bench.middleware.QueryCountMiddleware", "bench.urls", "bench-ceiling", "job-list"]


@pytest.mark.django_db
def test_the_ceiling_answers_with_the_query_count_under_the_bench_settings(settings, user_client, user):
    settings.ROOT_URLCONF = bench_settings.ROOT_URLCONF
    settings.MIDDLEWARE = bench_settings.MIDDLEWARE

    response = user_client.get("/api/v1/_bench/ceiling")

    assert response.status_code == 200
    assert response.json() == {"ceiling": {"user": user.name}}
    assert int(response[HEADER]) >= 0


@pytest.mark.django_db
def test_dciserver_alone_serves_no_bench_route(user_client):
    response = user_client.get("/api/v1/_bench/ceiling")

    assert response.status_code == 404
    assert HEADER not in response
