"""The same uploads and reads against an S3-compatible store (moto's server on the loopback)."""

import hashlib
import io
import socket

import boto3
import pytest
from moto.server import ThreadedMotoServer

from files import services
from files.models import File
from files.tests.helpers import API, raw_upload

pytestmark = pytest.mark.django_db

BUCKET = "dci-files"
CREDENTIALS = {"access_key": "testing", "secret_key": "testing", "region_name": "us-east-1"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings):
    """An empty bucket, and the files storage pointed at it."""
    s3 = boto3.resource(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=CREDENTIALS["access_key"],
        aws_secret_access_key=CREDENTIALS["secret_key"],
        region_name=CREDENTIALS["region_name"],
    )
    bucket = s3.Bucket(BUCKET)
    bucket.create()
    settings.STORAGES = {
        **settings.STORAGES,
        "dcifiles": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": s3_endpoint, "max_memory_size": 1024, **CREDENTIALS},
        },
    }
    yield bucket
    bucket.objects.all().delete()
    bucket.delete()


def keys(bucket):
    return sorted(obj.key for obj in bucket.objects.all())


def test_an_upload_lands_in_the_bucket_under_the_files_id(user_client, job, bucket):
    payload = bytes(range(256)) * 4096  # 1 MiB: past the read spool's memory size

    response = raw_upload(user_client, payload, name="disk.img", mime="application/octet-stream", job_id=job.id)

    assert response.status_code == 201, response.content
    file = File.objects.get()
    assert keys(bucket) == [file.storage_name]
    assert bucket.Object(file.storage_name).get()["Body"].read() == payload
    assert file.md5 == hashlib.md5(payload).hexdigest()


def test_content_and_inline_text_are_read_from_the_bucket(user_client, job, bucket):
    payload = b"console output\n" * 1000
    file = services.file_create(job=job, name="console.log", stream=io.BytesIO(payload))

    content = user_client.get(f"{API}/files/{file.id}/content")
    shown = user_client.get(f"{API}/files/{file.id}").json()["file"]

    assert b"".join(content.streaming_content) == payload
    assert content["Content-Length"] == str(len(payload))
    assert shown["content"] == payload.decode()


def test_a_junit_report_in_the_bucket_has_results(user_client, job, bucket):
    xml = b'<testsuite name="s3" time="1"><testcase name="a"/><testcase name="b"><failure/></testcase></testsuite>'

    raw_upload(user_client, xml, name="junit.xml", mime="application/junit", job_id=job.id)

    entry = user_client.get(f"{API}/jobs/{job.id}/results").json()["results"]["junit.xml"]
    assert (entry["total"], entry["failures"], entry["success"]) == ("2", "1", 1)


def test_a_refused_upload_leaves_the_bucket_empty(user_client, job, bucket):
    response = raw_upload(user_client, b"payload", job_id=job.id, md5="0" * 32)

    assert response.status_code == 400
    assert keys(bucket) == []
    assert File.objects.count() == 0


def test_a_failure_after_the_bytes_are_stored_deletes_them_from_the_bucket(job, bucket, monkeypatch):
    def failing_heartbeat(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "job_heartbeat", failing_heartbeat)

    with pytest.raises(RuntimeError):
        services.file_create(job=job, name="log.txt", stream=io.BytesIO(b"payload"))

    assert keys(bucket) == []
    assert File.objects.count() == 0


def test_bytes_missing_from_the_bucket_are_not_found(user_client, job, bucket):
    file = services.file_create(job=job, name="log.txt", stream=io.BytesIO(b"payload"))
    bucket.Object(file.storage_name).delete()

    assert user_client.get(f"{API}/files/{file.id}/content").status_code == 404
