"""Remotecis sign their requests with dciauth v2 (SPEC §10): what is accepted, what is refused, once."""

import datetime
import json
import threading
import uuid

import pytest
from django.db import connection

from conftest import SignedClient, client_for, signature_headers

pytestmark = pytest.mark.django_db

API = "/api/v1"


def utcnow():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def refused(response, status=401):
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["status_code"] == status
    return response.json()["message"]


def test_a_signed_remoteci_reads_its_identity(remoteci, team):
    response = SignedClient(remoteci).get(f"{API}/identity")

    assert response.status_code == 200, response.content
    identity = response.json()["identity"]
    assert identity["id"] == str(remoteci.id) and identity["name"] == remoteci.name
    assert identity["teams"] == {
        str(team.id): {"team_name": team.name, "state": "active", "has_pre_release_access": False}
    }


def test_a_signed_remoteci_reads_its_teams_rows_and_no_others(remoteci, job, other_remoteci):
    client = SignedClient(remoteci)

    assert client.get(f"{API}/jobs/{job.id}").status_code == 200
    assert client.get(f"{API}/remotecis/{other_remoteci.id}").status_code == 404
    listed = client.get(f"{API}/remotecis").json()["remotecis"]
    assert [row["id"] for row in listed] == [str(remoteci.id)]


def test_a_wrong_secret_is_refused(remoteci):
    message = refused(SignedClient(remoteci, secret="x" * 64).get(f"{API}/identity"))

    assert "signature is invalid" in message


@pytest.mark.parametrize("minutes", [-16, 16])
def test_a_signature_dated_more_than_15_minutes_away_is_refused(remoteci, minutes):
    when = utcnow() + datetime.timedelta(minutes=minutes)
    headers = signature_headers(f"remoteci/{remoteci.id}", remoteci.api_secret, "GET", f"{API}/identity", when=when)

    message = refused(client_for(None).get(f"{API}/identity", HTTP_HOST="testserver", **headers))

    assert "expired" in message


def test_a_signature_dated_within_15_minutes_is_accepted(remoteci):
    when = utcnow() - datetime.timedelta(minutes=14)
    headers = signature_headers(f"remoteci/{remoteci.id}", remoteci.api_secret, "GET", f"{API}/identity", when=when)

    assert client_for(None).get(f"{API}/identity", HTTP_HOST="testserver", **headers).status_code == 200


def _signed(remoteci, method, path, query="", body=b"", host="testserver"):
    return signature_headers(f"remoteci/{remoteci.id}", remoteci.api_secret, method, path, query, body, host=host)


def test_a_tampered_body_is_refused_and_nothing_is_written(remoteci, job):
    from jobs.models import JobState

    signed_body = json.dumps({"job_id": str(job.id), "status": "running"}).encode()
    sent_body = json.dumps({"job_id": str(job.id), "status": "failure"}).encode()
    headers = _signed(remoteci, "POST", f"{API}/jobstates", body=signed_body)

    response = client_for(None).generic(
        "POST", f"{API}/jobstates", sent_body, "application/json", HTTP_HOST="testserver", **headers
    )

    refused(response)
    assert not JobState.objects.filter(job=job).exists()


def test_a_tampered_query_is_refused(remoteci):
    headers = _signed(remoteci, "GET", f"{API}/jobs", query="where=status:success")

    refused(client_for(None).get(f"{API}/jobs?where=status:failure", HTTP_HOST="testserver", **headers))


def test_a_tampered_host_is_refused(remoteci, settings):
    settings.ALLOWED_HOSTS = ["testserver", "dci.example.com"]
    headers = _signed(remoteci, "GET", f"{API}/identity", host="dci.example.com")

    refused(client_for(None).get(f"{API}/identity", HTTP_HOST="testserver", **headers))
    assert client_for(None).get(f"{API}/identity", HTTP_HOST="dci.example.com", **headers).status_code == 200


def test_a_tampered_path_is_refused(remoteci, job):
    headers = _signed(remoteci, "GET", f"{API}/identity")

    refused(client_for(None).get(f"{API}/jobs/{job.id}", HTTP_HOST="testserver", **headers))


@pytest.mark.parametrize("what", ["unknown", "inactive", "archived", "team inactive", "team archived", "not a uuid"])
def test_an_unknown_or_inactive_agent_is_refused(remoteci, team, what):
    name = f"remoteci/{remoteci.id}"
    if what == "unknown":
        name = f"remoteci/{uuid.uuid4()}"
    elif what == "not a uuid":
        name = "remoteci/rack-1"
    elif what == "inactive":
        remoteci.state = "inactive"
        remoteci.save()
    elif what == "archived":
        remoteci.archive()
    elif what == "team inactive":
        team.state = "inactive"
        team.save()
    elif what == "team archived":
        team.archive()
    headers = signature_headers(name, remoteci.api_secret, "GET", f"{API}/identity")

    refused(client_for(None).get(f"{API}/identity", HTTP_HOST="testserver", **headers))


@pytest.mark.parametrize(
    "authorization",
    [
        "DCI2-HMAC-SHA256",
        "DCI2-HMAC-SHA256 Credential=remoteci/x, Signature=abc",
        "DCI2-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host;x-dci-date, Signature=abc",
        "DCI2-HMAC-SHA256 Credential=feeder/{id}/20260101/BHS3/api/dci2_request, SignedHeaders=host;x-other, "
        "Signature=abc",
        "AWS4-HMAC-SHA256 Credential=remoteci/{id}/20260101/BHS3/api/other_request, SignedHeaders=host;x-dci-date, "
        "Signature=abc",
    ],
)
def test_malformed_signature_headers_are_a_401_never_a_500(remoteci, authorization):
    response = client_for(None).get(
        f"{API}/identity",
        HTTP_HOST="testserver",
        HTTP_AUTHORIZATION=authorization.format(id=remoteci.id),
        HTTP_X_DCI_DATE="20260101T120000Z",
    )

    refused(response)


def test_a_malformed_date_is_a_401(remoteci):
    headers = _signed(remoteci, "GET", f"{API}/identity")
    headers["HTTP_X_DCI_DATE"] = "yesterday"

    refused(client_for(None).get(f"{API}/identity", HTTP_HOST="testserver", **headers))


@pytest.mark.django_db(transaction=True)  # the refused statement aborts a test's enclosing transaction
def test_a_signed_write_is_accepted_once(remoteci, job):
    from dciserver.models import AuditLog
    from jobs.models import JobState

    body = json.dumps({"job_id": str(job.id), "status": "running", "comment": "step 1"}).encode()
    headers = _signed(remoteci, "POST", f"{API}/jobstates", body=body)

    def post():
        return client_for(None).generic(
            "POST", f"{API}/jobstates", body, "application/json", HTTP_HOST="testserver", **headers
        )

    assert post().status_code == 201
    assert "already used" in refused(post())
    assert JobState.objects.filter(job=job).count() == 1
    entry = AuditLog.objects.get(resource="jobstate")
    assert entry.user_id is None and entry.user_name == f"remoteci/{remoteci.id}" and entry.team_id == job.team_id


def test_a_replayed_put_is_refused_and_rolled_back(remoteci, job):
    from jobs.models import Job

    body = json.dumps({"comment": "signed once"}).encode()
    headers = _signed(remoteci, "PUT", f"{API}/jobs/{job.id}", body=body)

    def put(etag):
        return client_for(None).generic(
            "PUT",
            f"{API}/jobs/{job.id}",
            body,
            "application/json",
            HTTP_HOST="testserver",
            HTTP_IF_MATCH=etag,
            **headers,
        )

    assert put(job.etag).status_code == 200  # signed: the modern wire answers the row
    fresh = Job.objects.get(pk=job.pk).etag
    refused(put(fresh))
    assert Job.objects.get(pk=job.pk).etag == fresh  # the replay's write was rolled back


def test_a_signed_write_that_failed_stays_usable(remoteci, job):
    """dciclient retries with the same signed headers: a signature is spent only by a success."""
    body = json.dumps({"job_id": str(job.id), "status": "running"}).encode()
    headers = _signed(remoteci, "POST", f"{API}/jobstates", body=body)

    def post():
        return client_for(None).generic(
            "POST", f"{API}/jobstates", body, "application/json", HTTP_HOST="testserver", **headers
        )

    job.archive()
    assert post().status_code == 400
    job.restore()
    assert post().status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_one_signed_write_are_accepted_once(team, remoteci, job):
    """Sixteen threads, each its own database connection, send the same signed report at once."""
    from jobs.models import JobState

    body = json.dumps({"job_id": str(job.id), "status": "running", "comment": "raced"}).encode()
    headers = _signed(remoteci, "POST", f"{API}/jobstates", body=body)
    barrier = threading.Barrier(16)
    statuses = []

    def post():
        try:
            barrier.wait()
            response = client_for(None).generic(
                "POST", f"{API}/jobstates", body, "application/json", HTTP_HOST="testserver", **headers
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [401] * 15
    assert JobState.objects.filter(job=job).count() == 1


def test_failed_signatures_are_throttled_like_passwords(remoteci, settings):
    settings.DCI_LOGIN_FAILURE_LIMIT = 3
    client = SignedClient(remoteci, secret="y" * 64)

    statuses = [client.get(f"{API}/identity").status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]
    # A valid signature still passes, as a remembered password does.
    assert SignedClient(remoteci).get(f"{API}/identity").status_code == 200


def test_the_secret_is_shown_to_its_team_and_never_inside_another_resource(remoteci, job, user_client, admin_client):
    secret = remoteci.api_secret
    assert len(secret) == 64 and secret.isalnum()

    assert user_client.get(f"{API}/remotecis/{remoteci.id}").json()["remoteci"]["api_secret"] == secret
    assert admin_client.get(f"{API}/remotecis").json()["remotecis"][0]["api_secret"] == secret
    for path in [f"{API}/jobs?embed=remoteci", f"{API}/jobs/{job.id}?embed=remoteci", f"{API}/audits"]:
        response = admin_client.get(path)
        assert response.status_code == 200 and secret.encode() not in response.content, path


def test_a_new_remoteci_has_its_own_secret(user_client, team):
    first = user_client.post(f"{API}/remotecis", {"name": "rack-a", "team_id": str(team.id)}).json()["remoteci"]
    second = user_client.post(f"{API}/remotecis", {"name": "rack-b", "team_id": str(team.id)}).json()["remoteci"]

    assert len(first["api_secret"]) == 64 and first["api_secret"] != second["api_secret"]


def test_rotating_the_secret_refuses_the_old_one_at_once(remoteci, user_client):
    old = remoteci.api_secret
    assert user_client.put(f"{API}/remotecis/{remoteci.id}/api_secret", {}).status_code == 412  # If-Match required

    response = user_client.put(f"{API}/remotecis/{remoteci.id}/api_secret", {}, HTTP_IF_MATCH=remoteci.etag)

    assert response.status_code == 200, response.content
    row = response.json()["remoteci"]
    assert row["api_secret"] != old and len(row["api_secret"]) == 64
    assert response["ETag"] == row["etag"] != remoteci.etag
    refused(SignedClient(remoteci, secret=old).get(f"{API}/identity"))
    assert SignedClient(remoteci, secret=row["api_secret"]).get(f"{API}/identity").status_code == 200


def test_a_remoteci_rotates_its_own_secret_and_signs_with_the_new_one(remoteci):
    client = SignedClient(remoteci)

    row = client.put(f"{API}/remotecis/{remoteci.id}/api_secret", {}, HTTP_IF_MATCH=remoteci.etag).json()["remoteci"]

    refused(client.get(f"{API}/identity"))
    assert SignedClient(remoteci, secret=row["api_secret"]).get(f"{API}/identity").status_code == 200


def test_another_teams_remoteci_secret_cannot_be_rotated(remoteci, outsider_client):
    response = outsider_client.put(f"{API}/remotecis/{remoteci.id}/api_secret", {}, HTTP_IF_MATCH=remoteci.etag)

    assert response.status_code == 404


def test_an_agent_is_never_an_admin(admin_team):
    from teams.models import RemoteCI

    admin_rack = RemoteCI.objects.create(name="admin-rack", team=admin_team)
    client = SignedClient(admin_rack)

    assert client.post(f"{API}/teams", {"name": "made-by-an-agent"}).status_code == 403
    assert client.get(f"{API}/audits").status_code == 403


def test_basic_still_works_beside_signatures(user_client):
    assert user_client.get(f"{API}/identity").json()["identity"]["name"] == "lab-user"


def test_a_signed_raw_upload_is_kept(remoteci, job):
    from files.models import File

    client = SignedClient(remoteci)
    response = client.generic(
        "POST", f"{API}/files", b"line\n" * 1000, "text/plain", HTTP_DCI_NAME="run.log", HTTP_DCI_JOB_ID=str(job.id)
    )

    assert response.status_code == 201, response.content
    assert File.objects.get(pk=response.json()["file"]["id"]).size == 5000


def test_a_raw_upload_with_a_wrong_signature_keeps_nothing(remoteci, job, settings):
    from files.models import File

    body = b"line\n" * 1000
    headers = _signed(remoteci, "POST", f"{API}/files", body=b"other bytes")

    response = client_for(None).generic(
        "POST",
        f"{API}/files",
        body,
        "text/plain",
        HTTP_HOST="testserver",
        HTTP_DCI_NAME="run.log",
        HTTP_DCI_JOB_ID=str(job.id),
        **headers,
    )

    refused(response)
    assert not File.objects.exists()
    stored = settings.DCI_FILES_ROOT
    assert not stored.exists() or not any(path.is_file() for path in stored.rglob("*"))
    assert not any(settings.FILE_UPLOAD_TEMP_DIR.iterdir())


@pytest.mark.django_db(transaction=True)
def test_a_signed_write_replayed_to_another_app_server_is_refused(remoteci, job):
    """Two gunicorn servers, each its own processes, on the suite's database: what one accepted,
    the other refuses."""
    import urllib.error
    import urllib.request

    from dciserver.tests.live import Gunicorn
    from jobs.models import JobState

    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    servers = [Gunicorn(database_url, workers=1, threads=2) for _ in range(2)]
    body = json.dumps({"job_id": str(job.id), "status": "running", "comment": "across servers"}).encode()
    headers = {
        "Authorization": None,
        "Content-Type": "application/json",
        "Host": "localhost",
    }
    signed = _signed(remoteci, "POST", f"{API}/jobstates", body=body, host="localhost")
    headers.update(Authorization=signed["HTTP_AUTHORIZATION"], **{"X-DCI-Date": signed["HTTP_X_DCI_DATE"]})

    def post(server):
        request = urllib.request.Request(f"{server.url}{API}/jobstates", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    try:
        for server in servers:
            server.start()
        assert [post(servers[0]), post(servers[1])] == [201, 401]
    finally:
        for server in servers:
            server.stop()
    assert JobState.objects.filter(job=job).count() == 1


# Feeders: agents feeding the catalogue --------------------------------------------------------


def test_a_feeder_creates_and_updates_topics_and_components(feeder, product):
    client = SignedClient(feeder, kind="feeder")

    topic = client.post(f"{API}/topics", {"name": "OCP-4.22", "product_id": str(product.id)})
    assert topic.status_code == 201, topic.content
    topic = topic.json()["topic"]
    renamed = client.put(f"{API}/topics/{topic['id']}", {"export_control": True}, HTTP_IF_MATCH=topic["etag"])
    assert renamed.status_code == 200 and renamed.json()["topic"]["export_control"] is True
    component = client.post(f"{API}/components", {"name": "ocp-4.22.0", "type": "ocp", "topic_id": topic["id"]})
    assert component.status_code == 201, component.content
    assert client.get(f"{API}/identity").json()["identity"]["id"] == str(feeder.id)


def test_a_feeder_reads_every_topic_and_writes_nothing_else(feeder, other_topic, job, remoteci):
    from jobs.models import Job, Topic

    client = SignedClient(feeder, kind="feeder")

    assert client.get(f"{API}/topics/{other_topic.id}").status_code == 200  # not its team's: fed all the same
    topic = Topic.objects.get(pk=other_topic.pk)
    assert client.delete(f"{API}/topics/{topic.id}", HTTP_IF_MATCH=topic.etag).status_code == 403
    jobs_before = Job.objects.count()
    created = client.post(f"{API}/jobs", {"remoteci_id": str(remoteci.id), "topic_id": str(job.topic_id)})
    assert created.status_code == 403 and Job.objects.count() == jobs_before
    assert client.post(f"{API}/jobstates", {"job_id": str(job.id), "status": "running"}).status_code == 403
    assert client.post(f"{API}/products", {"name": "Mine"}).status_code == 403


def test_a_feeders_secret_is_shown_to_its_team_and_rotated_by_its_admins(feeder, user_client, team_admin_client):
    old = feeder.api_secret
    assert user_client.get(f"{API}/feeders/{feeder.id}").json()["feeder"]["api_secret"] == old
    assert user_client.put(f"{API}/feeders/{feeder.id}/api_secret", {}, HTTP_IF_MATCH=feeder.etag).status_code == 403

    response = team_admin_client.put(f"{API}/feeders/{feeder.id}/api_secret", {}, HTTP_IF_MATCH=feeder.etag)

    assert response.status_code == 200, response.content
    new = response.json()["feeder"]["api_secret"]
    assert new != old and len(new) == 64
    refused(SignedClient(feeder, secret=old, kind="feeder").get(f"{API}/identity"))
    assert SignedClient(feeder, secret=new, kind="feeder").get(f"{API}/identity").status_code == 200


def test_a_remoteci_secret_does_not_sign_as_a_feeder(feeder, remoteci):
    headers = signature_headers(f"feeder/{feeder.id}", remoteci.api_secret, "GET", f"{API}/identity")

    refused(client_for(None).get(f"{API}/identity", HTTP_HOST="testserver", **headers))
