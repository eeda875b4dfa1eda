"""Layers that point one way, read from the source: ``files`` depends on ``jobs``, never the
reverse, and the services stand below the API (persistence helpers live on the models)."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMPORTS_FILES = re.compile(r"^\s*(from|import) files\b|['\"]files\.", re.M)
IMPORTS_VIEWSETS = re.compile(r"^\s*from dciserver\.api\.viewsets import", re.M)


def application_code(app):
    """The app's Python files, but its tests and migrations."""
    return [
        path
        for path in sorted((ROOT / app).rglob("*.py"))
        if not {"tests", "migrations"} & set(path.relative_to(ROOT / app).parts)
    ]


def offenders(paths, pattern):
    return [str(path.relative_to(ROOT)) for path in paths if pattern.search(path.read_text())]


def test_jobs_never_imports_files():
    assert application_code("jobs"), "the scan reads the jobs app"

    assert offenders(application_code("jobs"), IMPORTS_FILES) == []


def test_the_scan_would_see_an_import_of_files():
    assert IMPORTS_FILES.search("from files.models import File")
    assert IMPORTS_FILES.search("    from files import services")
    assert IMPORTS_FILES.search('SERIALIZER = "files.api.FileSerializer"')
    assert not IMPORTS_FILES.search("from jobs.models import Job  # a job's files")


def test_no_service_imports_the_api_viewsets():
    services = sorted(ROOT.glob("*/services.py"))
    assert len(services) >= 3

    assert offenders(services, IMPORTS_VIEWSETS) == []
