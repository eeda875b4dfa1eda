"""The files admin: rows are archived, never deleted (their bytes would be orphaned)."""

import io

import pytest
from django.test import Client

from files import services
from files.models import File

pytestmark = pytest.mark.django_db


def test_the_admin_archives_files_and_never_deletes_them(super_admin, job):
    file = services.file_create(job=job, name="log.txt", stream=io.BytesIO(b"x"))
    client = Client()
    client.force_login(super_admin)

    delete_page = client.get(f"/admin/files/file/{file.id}/delete/")
    archived = client.post("/admin/files/file/", {"action": "archive", "_selected_action": [str(file.id)]})

    assert delete_page.status_code == 403
    assert archived.status_code == 302
    file.refresh_from_db()
    assert file.is_archived
    assert services.files_storage().exists(file.storage_name)


def test_archiving_a_job_in_the_admin_archives_its_files(super_admin, job):
    services.file_create(job=job, name="log.txt", stream=io.BytesIO(b"x"))
    client = Client()
    client.force_login(super_admin)

    response = client.post("/admin/jobs/job/", {"action": "archive", "_selected_action": [str(job.id)]})

    assert response.status_code == 302
    assert File.objects.count() == 1 and not File.objects.live().exists()


def test_a_jobs_admin_page_lists_its_files(super_admin, job):
    services.file_create(job=job, name="install.log", stream=io.BytesIO(b"x"))
    client = Client()
    client.force_login(super_admin)

    response = client.get(f"/admin/jobs/job/{job.id}/change/")

    assert response.status_code == 200
    assert "install.log" in response.content.decode()
