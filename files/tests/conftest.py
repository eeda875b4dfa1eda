"""Fixtures of the files tests: stored bytes go to a temporary directory, never into var/."""

import pytest


@pytest.fixture(autouse=True)
def files_root(settings, tmp_path):
    """The filesystem storage's root, and where uploads are spooled, both under ``tmp_path``.

    (The project's conftest may do the same for every test: hence ``exist_ok``.)
    """
    settings.DCI_FILES_ROOT = tmp_path / "files"
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "spool"
    settings.FILE_UPLOAD_TEMP_DIR.mkdir(exist_ok=True)
    return settings.DCI_FILES_ROOT


@pytest.fixture
def stored(files_root):
    """What is left on disk: the stored objects and any spooled upload."""

    def listing():
        roots = [files_root, files_root.parent / "spool"]
        paths = [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]
        return sorted(str(p) for p in paths)

    return listing


@pytest.fixture
def jobstate(job):
    from jobs.models import JobState

    return JobState.objects.create(job=job, team=job.team, status="running")


@pytest.fixture
def other_job(other_remoteci, other_topic):
    from jobs.models import Job

    return Job.objects.create(remoteci=other_remoteci, topic=other_topic, team=other_remoteci.team)
