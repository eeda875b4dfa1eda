"""A component's files (SPEC §11): raw uploads stored as a job's files are, read by whoever reads
the component, written by whoever writes it."""

import hashlib

import pytest

from conftest import SignedClient, client_for, signature_headers

pytestmark = pytest.mark.django_db

API = "/api/v1"
BODY = b"manifest line\n" * 500


def upload(client, component, body=BODY, **headers):
    return client.generic(
        "POST", f"{API}/components/{component.id}/files", body, "application/json", HTTP_DCI_NAME="manifest.txt",
        **headers,
    )  # fmt: skip


def test_a_component_file_is_kept_listed_and_downloaded(admin_client, user_client, outsider_client, component):
    response = upload(admin_client, component, HTTP_DCI_MIME="text/plain")

    assert response.status_code == 201, response.content
    row = response.json()["component_file"]
    assert (row["name"], row["mime"], row["size"]) == ("manifest.txt", "text/plain", len(BODY))
    assert row["md5"] == hashlib.md5(BODY).hexdigest() and row["component_id"] == str(component.id)
    listed = user_client.get(f"{API}/components/{component.id}/files").json()
    assert [f["id"] for f in listed["component_files"]] == [row["id"]] and listed["_meta"]["count"] == 1
    assert user_client.get(f"{API}/components/{component.id}/files/{row['id']}").json()["component_file"] == row
    content = user_client.get(f"{API}/components/{component.id}/files/{row['id']}/content")
    assert content.status_code == 200 and b"".join(content.streaming_content) == BODY
    assert outsider_client.get(f"{API}/components/{component.id}/files").status_code == 404
    assert outsider_client.get(f"{API}/components/{component.id}/files/{row['id']}/content").status_code == 404


def test_only_the_writers_of_a_component_write_its_files(admin_client, user_client, feeder, component):
    assert upload(user_client, component).status_code == 403  # a global component is not the lab's to write
    fed = upload(SignedClient(feeder, kind="feeder"), component)
    assert fed.status_code == 201, fed.content
    file_id = fed.json()["component_file"]["id"]

    assert (
        SignedClient(feeder, kind="feeder").delete(f"{API}/components/{component.id}/files/{file_id}").status_code
        == 403
    )
    assert user_client.delete(f"{API}/components/{component.id}/files/{file_id}").status_code == 403
    assert admin_client.delete(f"{API}/components/{component.id}/files/{file_id}").status_code == 204
    assert admin_client.get(f"{API}/components/{component.id}/files/{file_id}").status_code == 404


def test_a_team_components_files_are_its_teams(user_client, outsider_client, topic, team, other_team):
    from jobs.models import Component, TopicSubscription

    TopicSubscription.objects.create(topic=topic, team=other_team)
    mine = Component.objects.create(name="lab-build", type="compose", topic=topic, team=team)

    made = upload(user_client, mine)

    assert made.status_code == 201, made.content
    assert outsider_client.get(f"{API}/components/{mine.id}/files").status_code == 404
    assert upload(outsider_client, mine).status_code == 404


def test_a_file_is_read_under_its_own_component_only(admin_client, component, topic):
    from jobs.models import Component

    other = Component.objects.create(name="other", type="compose", topic=topic)
    file_id = upload(admin_client, component).json()["component_file"]["id"]

    assert admin_client.get(f"{API}/components/{other.id}/files/{file_id}").status_code == 404


def test_a_signed_upload_with_a_wrong_signature_keeps_nothing(remoteci, topic, team, settings):
    from files.models import ComponentFile
    from jobs.models import Component

    mine = Component.objects.create(name="lab-build", type="compose", topic=topic, team=team)
    path = f"{API}/components/{mine.id}/files"
    assert SignedClient(remoteci).generic("POST", path, BODY, "application/json").status_code == 201

    headers = signature_headers(f"remoteci/{remoteci.id}", remoteci.api_secret, "POST", path, body=b"other")
    response = client_for(None).generic("POST", path, BODY, "application/json", HTTP_HOST="testserver", **headers)

    assert response.status_code == 401, response.content
    assert ComponentFile.objects.count() == 1
    assert not any(settings.FILE_UPLOAD_TEMP_DIR.iterdir())


def test_a_wrongly_signed_upload_is_refused_before_anything_else_is_said(remoteci, component, job):
    """Whatever the request would have met (an unknown component, a refusal, a wrong md5), a
    wrong signature over its streamed body is the answer."""
    import uuid

    cases = [
        (f"{API}/components/{uuid.uuid4()}/files", {}),
        (f"{API}/components/{component.id}/files", {}),
        (f"{API}/files", {"HTTP_DCI_NAME": "x.log", "HTTP_DCI_JOB_ID": str(uuid.uuid4())}),
        (f"{API}/files", {"HTTP_DCI_NAME": "x.log", "HTTP_DCI_JOB_ID": str(job.id), "HTTP_DCI_MD5": "0" * 32}),
    ]
    for path, extra in cases:
        headers = signature_headers(f"remoteci/{remoteci.id}", remoteci.api_secret, "POST", path, body=b"signed")
        response = client_for(None).generic(
            "POST", path, b"sent instead", "text/plain", HTTP_HOST="testserver", **headers, **extra
        )
        assert response.status_code == 401, (path, response.content)
