"""Layers that point one way, read from the source: ``dciserver/api/`` imports no app, ``files``
depends on ``jobs``, never the reverse, no app below ``events`` imports it, and the services stand
below the API (persistence helpers live on the models)."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMPORTS_AN_APP = re.compile(r"^\s*(from|import) (teams|jobs|files|events)\b", re.M)
IMPORTS_FILES = re.compile(r"^\s*(from|import) files\b|['\"]files\.", re.M)
IMPORTS_EVENTS = re.compile(r"^\s*(from|import) events\b|['\"]events\.", re.M)
IMPORTS_VIEWSETS = re.compile(r"^\s*from dciserver\.api\.viewsets import", re.M)


def application_code(folder):
    """The Python files under ``folder`` (relative to the checkout), but tests and migrations."""
    return [
        path
        for path in sorted((ROOT / folder).rglob("*.py"))
        if not {"tests", "migrations"} & set(path.relative_to(ROOT / folder).parts)
    ]


def offenders(paths, pattern):
    return [str(path.relative_to(ROOT)) for path in paths if pattern.search(path.read_text())]


def test_the_api_floor_imports_no_app():
    assert application_code("dciserver/api"), "the scan reads dciserver/api"

    assert offenders(application_code("dciserver/api"), IMPORTS_AN_APP) == []


def test_jobs_never_imports_files():
    assert application_code("jobs"), "the scan reads the jobs app"

    assert offenders(application_code("jobs"), IMPORTS_FILES) == []


def test_the_jobs_tests_need_no_files_either():
    """A test of jobs that needs files (the seed document's replay uploads one) is a test of the
    whole server: it lives in dciserver's tests, so that the jobs app stands alone, tests included."""
    tests = sorted((ROOT / "jobs" / "tests").rglob("*.py"))
    assert tests, "the scan reads the jobs app's tests"

    assert offenders(tests, IMPORTS_FILES) == []


def test_events_is_above_the_apps_it_tells_of():
    below = [*application_code("teams"), *application_code("jobs"), *application_code("files")]

    assert offenders(below, IMPORTS_EVENTS) == []


def test_the_scans_would_see_the_imports_they_forbid():
    assert IMPORTS_AN_APP.search("from teams.models import User")
    assert IMPORTS_AN_APP.search("    import jobs.services")
    assert IMPORTS_FILES.search("from files.models import File")
    assert IMPORTS_FILES.search("    from files import services")
    assert IMPORTS_FILES.search('SERIALIZER = "files.api.FileSerializer"')
    assert not IMPORTS_FILES.search("from jobs.models import Job  # a job's files")
    assert IMPORTS_EVENTS.search("from events.tasks import event_dispatch")
    assert IMPORTS_AN_APP.search("from events.models import Webhook")


def test_no_service_imports_the_api_viewsets():
    services = sorted(ROOT.glob("*/services.py"))
    assert len(services) >= 3

    assert offenders(services, IMPORTS_VIEWSETS) == []
