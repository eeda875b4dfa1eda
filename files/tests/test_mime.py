"""A file's mime is a media type: it is served back as the Content-Type of the file's content."""

import io
import json

import pytest

from files import services
from files.models import File
from files.tests.helpers import API, raw_upload

pytestmark = pytest.mark.django_db

NOT_MEDIA_TYPES = [
    "../../etc",
    "text/plain\r\nSet-Cookie: a=b",
    "text/plain\nX-Evil: 1",
    "text",
    "text/",
    "/plain",
    "text/plain/x",
    "text /plain",
    "t\u00e9xt/plain",
    "text/plain; charset",
    'text/plain; a="unterminated',
    "text/plain\x00",
    "a" * 128 + "/b",
]


def upload(form, client, job, mime):
    """One upload of ``mime`` in each of the three forms of SPEC §6."""
    if form == "headers":
        return raw_upload(client, b"bytes\n", name="a.log", job_id=job.id, mime=mime)
    body = {"name": "a.log", "content": "bytes\n", "mime": mime}
    if form == "json":
        return client.post(f"{API}/files", json.dumps({**body, "job_id": str(job.id)}), content_type="application/json")
    return client.post(f"{API}/jobs/{job.id}/files", json.dumps(body), content_type="application/json")


FORMS = ["headers", "json", "job-files"]


def kept(files_root, spool):
    return [p for root in (files_root, spool) if root.exists() for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mime", NOT_MEDIA_TYPES, ids=range(len(NOT_MEDIA_TYPES)))
def test_a_mime_that_is_not_a_media_type_is_refused_and_nothing_is_kept(user_client, job, settings, form, mime):
    response = upload(form, user_client, job, mime)

    assert response.status_code == 400, response.content
    body = response.json()
    # A NUL in a header is refused before any view runs, for every header alike.
    assert "mime" in body["payload"].get("errors", {}) or "NUL" in body["message"], body
    assert not File.objects.exists()
    assert kept(settings.DCI_FILES_ROOT, settings.FILE_UPLOAD_TEMP_DIR) == []


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    "mime,stored",
    [
        ("text/plain", "text/plain"),
        ("application/junit", "application/junit"),
        ("application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.text"),
        ("application/x-tar+gzip", "application/x-tar+gzip"),
        ("Text/Plain; charset=UTF-8", "text/plain"),
        ('text/plain;format="flowed; really"', "text/plain"),
    ],
)
def test_a_media_type_is_kept_bare_and_served_back(user_client, job, form, mime, stored):
    response = upload(form, user_client, job, mime)

    assert response.status_code == 201, response.content
    assert response.json()["file"]["mime"] == stored
    content = user_client.get(f"{API}/files/{response.json()['file']['id']}/content")
    assert content["Content-Type"] == stored


def test_the_service_refuses_a_bad_mime_whoever_calls_it(job):
    with pytest.raises(services.BadRequest):
        services.file_create(job=job, name="a.log", mime="../../etc", stream=io.BytesIO(b"x"))
    assert not File.objects.exists()


@pytest.mark.parametrize("legacy", ["../../etc", "text/plain\r\nX-Evil: 1"])
def test_a_row_kept_with_a_bad_mime_before_the_check_is_served_as_bytes(user_client, file, legacy):
    File.objects.filter(pk=file.pk).update(mime=legacy)

    content = user_client.get(f"{API}/files/{file.id}/content")

    assert content.status_code == 200
    assert content["Content-Type"] == "application/octet-stream"
    assert b"".join(content.streaming_content) == b"booting\n"
