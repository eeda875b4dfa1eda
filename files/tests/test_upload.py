"""POST /files and POST /jobs/<id>/files: both forms, the checks, and that a refused upload leaves nothing."""

import hashlib
import io

import pytest

from files import services
from files.models import File
from files.storage import files_storage
from files.tests.helpers import API, raw_upload

pytestmark = pytest.mark.django_db

LOG = b"line one\nline two\n\x00binary tail\xff"


def stored_bytes(file_id):
    file = File.objects.get(pk=file_id)
    with files_storage().open(file.storage_name) as stored:
        return stored.read()


def test_it_stores_a_raw_upload_under_the_files_id(user_client, job, files_root):
    response = raw_upload(user_client, LOG, name="console.log", job_id=job.id, mime="text/x-log")

    assert response.status_code == 201, response.content
    body = response.json()["file"]
    assert body["name"] == "console.log"
    assert body["mime"] == "text/x-log"
    assert body["size"] == len(LOG)
    assert body["md5"] == hashlib.md5(LOG).hexdigest()
    assert (body["job_id"], body["jobstate_id"], body["team_id"]) == (str(job.id), None, str(job.team_id))
    assert stored_bytes(body["id"]) == LOG
    # Named by id, never by the client's name.
    assert [p.name for p in files_root.rglob("*") if p.is_file()] == [File.objects.get().id.hex]


def test_a_raw_upload_labelled_application_json_is_still_raw(user_client, job):
    response = raw_upload(user_client, b"not { json", job_id=job.id, content_type="application/json")

    assert response.status_code == 201, response.content
    assert stored_bytes(response.json()["file"]["id"]) == b"not { json"


def test_a_raw_upload_defaults_to_text_plain(user_client, job):
    response = raw_upload(user_client, b"hello", job_id=job.id)

    assert response.json()["file"]["mime"] == "text/plain"


def test_a_raw_upload_takes_the_job_of_its_jobstate(user_client, jobstate):
    response = raw_upload(user_client, b"hello", jobstate_id=jobstate.id)

    assert response.status_code == 201, response.content
    body = response.json()["file"]
    assert (body["job_id"], body["jobstate_id"]) == (str(jobstate.job_id), str(jobstate.id))


def test_an_empty_raw_upload_is_an_empty_file(user_client, job):
    response = raw_upload(user_client, b"", job_id=job.id)

    assert response.status_code == 201, response.content
    assert response.json()["file"]["size"] == 0
    assert response.json()["file"]["md5"] == hashlib.md5(b"").hexdigest()


def test_it_creates_a_file_from_a_json_body(user_client, jobstate):
    body = {"name": "hello.txt", "content": "hello\n", "jobstate_id": str(jobstate.id), "mime": "text/plain"}

    response = user_client.post(f"{API}/files", body, format="json")

    assert response.status_code == 201, response.content
    file = response.json()["file"]
    assert (file["content"], file["size"], file["job_id"]) == ("hello\n", 6, str(jobstate.job_id))
    assert stored_bytes(file["id"]) == b"hello\n"


def test_it_creates_a_file_from_the_seeds_json_body_on_the_jobs_route(user_client, jobstate):
    body = {"content": "helloworld", "jobstate_id": str(jobstate.id), "mime": "text/plain", "name": "helloworld.txt"}

    response = user_client.post(f"{API}/jobs/{jobstate.job_id}/files", body, format="json")

    assert response.status_code == 201, response.content
    file = response.json()["file"]
    assert (file["name"], file["content"], file["jobstate_id"]) == ("helloworld.txt", "helloworld", str(jobstate.id))
    assert file["job_id"] == str(jobstate.job_id)


def test_the_jobs_route_also_takes_a_raw_upload(user_client, job):
    response = raw_upload(user_client, LOG, path=f"{API}/jobs/{job.id}/files")

    assert response.status_code == 201, response.content
    assert stored_bytes(response.json()["file"]["id"]) == LOG


def test_the_jobs_route_refuses_a_jobstate_of_another_job(user_client, job, jobstate, remoteci, topic):
    from jobs.models import Job

    sibling = Job.objects.create(remoteci=remoteci, topic=topic, team=remoteci.team)
    body = {"content": "x", "jobstate_id": str(jobstate.id), "name": "x.txt"}

    response = user_client.post(f"{API}/jobs/{sibling.id}/files", body, format="json")

    assert response.status_code == 400
    assert "jobstate_id" in response.json()["payload"]["errors"]
    assert File.objects.count() == 0


def test_an_upload_refreshes_the_jobs_etag(user_client, job):
    before = job.etag

    raw_upload(user_client, b"x", job_id=job.id)

    job.refresh_from_db()
    assert job.etag != before


def test_a_matching_md5_is_accepted(user_client, job):
    response = raw_upload(user_client, LOG, job_id=job.id, md5=hashlib.md5(LOG).hexdigest().upper())

    assert response.status_code == 201, response.content


def test_a_wrong_md5_is_refused_and_nothing_is_kept(user_client, job, stored):
    response = raw_upload(user_client, LOG, job_id=job.id, md5="0" * 32)

    assert response.status_code == 400
    assert "md5" in response.json()["message"]
    assert File.objects.count() == 0
    assert stored() == []


def test_an_announced_size_over_the_limit_is_refused_and_nothing_is_kept(user_client, job, settings, stored):
    settings.DCI_MAX_UPLOAD_SIZE = 10

    response = raw_upload(user_client, b"x" * 11, job_id=job.id)

    assert response.status_code == 413
    assert response.json()["status_code"] == 413
    assert File.objects.count() == 0
    assert stored() == []


def test_a_json_content_over_the_limit_is_refused(user_client, job, settings, stored):
    settings.DCI_MAX_UPLOAD_SIZE = 10

    response = user_client.post(f"{API}/files", {"name": "a", "content": "x" * 11, "job_id": str(job.id)})

    assert response.status_code == 413
    assert File.objects.count() == 0
    assert stored() == []


def test_a_stream_growing_past_the_limit_is_cut_and_nothing_is_kept(job, settings, stored):
    settings.DCI_MAX_UPLOAD_SIZE = services.CHUNK_SIZE + 1

    with pytest.raises(services.PayloadTooLarge):
        services.file_create(job=job, name="big", stream=io.BytesIO(b"x" * (services.CHUNK_SIZE * 2)))

    assert File.objects.count() == 0
    assert stored() == []


class RecordingInput(io.BytesIO):
    """A WSGI input that records the size of every read."""

    def __init__(self, data):
        super().__init__(data)
        self.sizes = []

    def read(self, size=-1):
        self.sizes.append(size)
        return super().read(size)


def test_a_raw_upload_is_read_in_chunks_never_whole(user_client, job):
    body = b"x" * (3 * services.CHUNK_SIZE + 5)
    wsgi_input = RecordingInput(body)

    response = user_client.post(
        f"{API}/files",
        content_type="application/octet-stream",
        HTTP_DCI_NAME="big.bin",
        HTTP_DCI_JOB_ID=str(job.id),
        CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": wsgi_input},
    )

    assert response.status_code == 201, response.content
    assert response.json()["file"]["size"] == len(body)
    assert max(wsgi_input.sizes) <= services.CHUNK_SIZE


class BrokenInput:
    """A WSGI input whose client goes away: after ``sent`` it raises, or (``raises=False``) says end of body."""

    def __init__(self, sent, raises=True):
        self.sent, self.raises = io.BytesIO(sent), raises

    def read(self, size=-1):
        data = self.sent.read(size)
        if not data and self.raises:
            raise OSError("Connection reset by peer")
        return data

    readline = read


@pytest.mark.parametrize("raises", [True, False], ids=["input-raises", "body-shorter-than-content-length"])
def test_a_broken_off_upload_leaves_no_row_and_no_bytes(user_client, job, stored, raises):
    response = user_client.post(
        f"{API}/files",
        content_type="application/octet-stream",
        HTTP_DCI_NAME="log.txt",
        HTTP_DCI_JOB_ID=str(job.id),
        CONTENT_LENGTH="4096",
        **{"wsgi.input": BrokenInput(b"only the start", raises=raises)},
    )

    assert response.status_code == 400
    assert "broke off" in response.json()["message"]
    assert File.objects.count() == 0
    assert stored() == []


def test_a_failure_after_the_bytes_are_stored_deletes_them(job, stored, monkeypatch):
    def failing_heartbeat(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "job_heartbeat", failing_heartbeat)

    with pytest.raises(RuntimeError):
        services.file_create(job=job, name="log.txt", stream=io.BytesIO(LOG))

    assert File.objects.count() == 0
    assert stored() == []


def test_a_chunked_raw_upload_is_refused_rather_than_stored_empty(user_client, job):
    response = user_client.post(
        f"{API}/files",
        content_type="application/octet-stream",
        HTTP_DCI_NAME="log.txt",
        HTTP_DCI_JOB_ID=str(job.id),
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )

    assert response.status_code == 411
    assert File.objects.count() == 0


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"name": None}, None),
        ({"name": ""}, "name"),
        ({}, "job_id"),
        ({"job_id": "not-a-uuid"}, "job_id"),
    ],
    ids=["no-dci-name", "empty-dci-name", "no-job", "malformed-job-id"],
)
def test_a_raw_upload_without_its_metadata_is_refused(user_client, job, headers, field):
    name = headers.pop("name", "log.txt")

    response = raw_upload(user_client, b"bytes", name=name, **headers)

    assert response.status_code == 400
    if field:
        assert field in response.json()["payload"]["errors"]
    assert File.objects.count() == 0


def test_a_json_upload_needs_a_name_and_content(user_client, job):
    response = user_client.post(f"{API}/files", {"job_id": str(job.id)}, format="json")

    assert response.status_code == 400
    assert set(response.json()["payload"]["errors"]) == {"name", "content"}


@pytest.mark.parametrize("header", ["job_id", "jobstate_id"])
def test_another_teams_job_or_jobstate_is_not_found(user_client, other_job, header):
    from jobs.models import JobState

    other_jobstate = JobState.objects.create(job=other_job, team=other_job.team, status="new")
    target = other_job if header == "job_id" else other_jobstate

    raw = raw_upload(user_client, b"x", **{header: target.id})
    json = user_client.post(f"{API}/files", {"name": "a", "content": "x", header: str(target.id)}, format="json")

    assert (raw.status_code, json.status_code) == (404, 404)
    assert File.objects.count() == 0


def test_an_outsider_cannot_upload_to_a_jobs_route(outsider_client, job):
    response = outsider_client.post(f"{API}/jobs/{job.id}/files", {"name": "a", "content": "x"}, format="json")

    assert response.status_code == 404


def test_a_super_admin_uploads_to_any_teams_job(admin_client, job):
    response = raw_upload(admin_client, b"x", job_id=job.id)

    assert response.status_code == 201
    assert response.json()["file"]["team_id"] == str(job.team_id)


def test_an_anonymous_upload_is_refused(anonymous_client, job):
    response = raw_upload(anonymous_client, b"x", job_id=job.id)

    assert response.status_code == 401
    assert File.objects.count() == 0


def test_a_name_postgresql_cannot_store_is_refused(user_client, job):
    body = {"name": "a\x00b", "content": "x", "job_id": str(job.id)}

    response = user_client.post(f"{API}/files", body, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["payload"]["errors"]


def test_an_empty_metadata_header_counts_as_none(user_client, job):
    response = raw_upload(user_client, b"x", job_id=job.id, jobstate_id="", mime="")

    assert response.status_code == 201, response.content
    assert (response.json()["file"]["jobstate_id"], response.json()["file"]["mime"]) == (None, "text/plain")


def test_a_chunked_raw_upload_is_read_to_its_end_where_the_server_terminates_the_input(user_client, job):
    response = user_client.post(
        f"{API}/files",
        content_type="text/plain",
        HTTP_DCI_NAME="pipe.log",
        HTTP_DCI_JOB_ID=str(job.id),
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
        # What gunicorn hands over: the de-chunked body, ending where the body ends.
        **{"wsgi.input": io.BytesIO(b"piped output\n"), "wsgi.input_terminated": True},
    )

    assert response.status_code == 201, response.content
    assert response.json()["file"]["size"] == len(b"piped output\n")
    assert File.objects.get().size == 13


def test_the_bytes_and_their_name_are_on_disk_before_the_row_is_written(job, files_root, monkeypatch):
    from files import streaming

    synced = []
    fsync = streaming.os.fsync

    def recording_fsync(fd):
        synced.append((streaming.os.readlink(f"/proc/self/fd/{fd}"), File.objects.count()))
        fsync(fd)

    monkeypatch.setattr(streaming.os, "fsync", recording_fsync)

    file = services.file_create(job=job, name="log.txt", stream=io.BytesIO(LOG))

    stored = files_root / file.storage_name
    assert synced == [(str(stored), 0), (str(stored.parent), 0)]
