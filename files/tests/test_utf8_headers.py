"""DCI-* headers are read as their senders wrote them (UTF-8), and a download offers the name back."""

import pytest

from dciserver.api.headers import header_text
from files.models import File
from files.tests.helpers import API, raw_upload

pytestmark = pytest.mark.django_db


def on_the_wire(text):
    """What a WSGI server hands over for a header a client sent as UTF-8: its bytes read as Latin-1."""
    return text.encode("utf-8").decode("latin-1")


@pytest.mark.parametrize("name", ["é.txt", "журнал.log", "日本語 レポート.xml", "emoji-🚀.log", "plain.log"])
def test_a_utf8_dci_name_is_stored_as_sent(user_client, job, name):
    response = raw_upload(user_client, b"bytes\n", name=on_the_wire(name), job_id=job.id)

    assert response.status_code == 201, response.content
    assert response.json()["file"]["name"] == name
    assert File.objects.get().name == name


def test_a_dci_name_whose_bytes_are_not_utf8_keeps_its_latin1_reading(user_client, job):
    response = raw_upload(user_client, b"bytes\n", name=b"caf\xe9.txt".decode("latin-1"), job_id=job.id)

    assert response.status_code == 201
    assert response.json()["file"]["name"] == "café.txt"


def test_every_dci_header_goes_through_the_same_reading(user_client, job):
    # DCI-MIME and DCI-MD5 too: a mime in UTF-8 is no media type, whatever its first reading.
    response = raw_upload(user_client, b"x", name="a.log", job_id=job.id, mime=on_the_wire("téxt/plain"))

    assert response.status_code == 400
    assert "téxt/plain" in response.json()["message"]


def test_header_text_reads_utf8_and_falls_back_to_latin1(rf):
    request = rf.get("/", HTTP_DCI_NAME=on_the_wire("é"), HTTP_DCI_MIME=b"\xe9".decode("latin-1"))

    assert header_text(request, "DCI-NAME") == "é"
    assert header_text(request, "DCI-MIME") == "é"
    assert header_text(request, "DCI-MD5") is None
    assert header_text(request, "DCI-MD5", "") == ""


@pytest.mark.parametrize(
    "name,disposition",
    [
        ("é.txt", "attachment; filename=\"e.txt\"; filename*=UTF-8''%C3%A9.txt"),
        ("日本.log", "attachment; filename=\"__.log\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.log"),
        ('a "quoted" é', "attachment; filename=\"a _quoted_ e\"; filename*=UTF-8''a%20%22quoted%22%20%C3%A9"),
        ("dir/sub/é.txt", "attachment; filename=\"e.txt\"; filename*=UTF-8''%C3%A9.txt"),
        ("dir\\é.txt", "attachment; filename=\"e.txt\"; filename*=UTF-8''%C3%A9.txt"),
        ("line\nbreak.txt", "attachment; filename=\"line_break.txt\"; filename*=UTF-8''line%0Abreak.txt"),
        ("console.log", 'attachment; filename="console.log"'),
    ],
)
def test_the_download_offers_a_non_ascii_name_as_rfc_6266_says(user_client, job, name, disposition):
    response = user_client.post(
        f"{API}/jobs/{job.id}/files", {"name": name, "content": "hello\n", "mime": "text/plain"}, format="json"
    )
    assert response.status_code == 201, response.content

    content = user_client.get(f"{API}/files/{response.json()['file']['id']}/content")

    assert content.status_code == 200
    assert content["Content-Disposition"] == disposition
    assert b"".join(content.streaming_content) == b"hello\n"
