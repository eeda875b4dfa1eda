"""Replay every example request of the seed document (docs/seed/jobs-api.rst) as written.

The examples are read from the document itself: method, path, headers and body of each
request, status and body of its response. The seed's ids are given to real rows (the
remoteci, job definition, team and jobstate it names are created with those ids), and
the ids and etags the server generates (the job's id, its etags) are substituted where
the document shows its own. Two slips of the document are mended and named here: the
Basic credentials ``YWRta321YWetaW4=`` do not decode to a login, so ``admin:admin`` is
sent instead; ``GET /jobs/<jobdefinition id>/jobstates`` is sent for the job.
"""

import base64
import io
import json
import re
from pathlib import Path

import pytest

from files.services import file_create
from jobs.models import Component, Job, JobDefinition, JobState, Topic, TopicSubscription
from teams.models import RemoteCI, Team, User

SEED = Path(__file__).resolve().parents[2] / "docs" / "seed" / "jobs-api.rst"
ADMIN_BASIC = "Basic YWRtaW46YWRtaW4="
BROKEN_BASIC = "Basic YWRta321YWetaW4="

# The rows the seed names by id.
SEED_REMOTECI = "68bf9302-e9f7-41fb-89a1-823516dac13b"
SEED_JOBDEFINITION = "d4344452-f367-4b16-b0dd-fca87571e384"
SEED_TEAM = "0c6b70b0-ae41-461a-af89-a2bd408b43f5"
SEED_JOBSTATE = "1fac28dc-d6bc-4511-af21-a226a18037cd"
# The job and the etags the seed shows; the server makes its own.
SEED_JOB_IDS = ("cbd0ad1b-1f4b-4056-8c82-27ff9511e37f", "660abf0b998bf17842f376ca6def6eae")
SEED_ETAGS = ("f6cad3d32fde30a7a4b2beeed4002705", "a453c6e026f5b028c72f84e5684fc07d")


def parse_examples(text):
    """Each ``.. http:<method>:: <route>`` section's example request and response."""
    examples = []
    sections = re.split(r"^\.\. http:(\w+):: (\S+)\s*$", text, flags=re.M)
    for method, route, body in zip(sections[1::3], sections[2::3], sections[3::3], strict=True):
        blocks = [
            "\n".join(line[6:] for line in block.splitlines())
            for block in re.findall(r"\.\. sourcecode:: http\n\n((?:(?: {6}.*)?\n)+)", body)
        ]
        if len(blocks) < 2:
            continue  # "TODO: complete this"
        examples.append({"method": method.upper(), "route": route, **_request(blocks[0]), **_response(blocks[1])})
    return examples


def _request(block):
    head, _, body = block.strip().partition("\n\n")
    request_line, *header_lines = head.splitlines()
    method, path, _ = request_line.split()
    headers = dict(line.split(": ", 1) for line in header_lines)
    return {"path": path, "headers": headers, "body": json.loads(body) if body.strip() else None}


def _response(block):
    head, _, body = block.strip().partition("\n\n")
    status = int(head.splitlines()[0].split()[1])
    return {"status": status, "response": json.loads(body) if body.strip() else None}


EXAMPLES = parse_examples(SEED.read_text())
BY_ROUTE = {(e["method"], e["route"]): e for e in EXAMPLES}


def test_the_seed_document_has_the_examples_this_module_replays():
    assert sorted(BY_ROUTE) == sorted(
        [
            ("POST", "/api/v1/jobs"),
            ("PUT", "/api/v1/jobs/<job-id>"),
            ("DELETE", "/api/v1/jobs/<job-id>"),
            ("GET", "/api/v1/jobs/<job-id>"),
            ("GET", "/api/v1/jobs/<job-id>/results"),
            ("GET", "/api/v1/jobs/<job-id>/files"),
            ("POST", "/api/v1/jobs/<job-id>/files"),
            ("GET", "/api/v1/jobs/<job-id>/jobstates"),
            ("GET", "/api/v1/jobs"),
        ]
    )


@pytest.fixture
def seed_world(db, settings, tmp_path):
    """The admin of the seed (admin:admin) and the rows its examples name by id."""
    settings.DCI_FILES_ROOT = tmp_path / "files"
    User.objects.create_user("admin", "admin", team=Team.objects.get(name="admin"), role="admin")
    team = Team.objects.create(id=SEED_TEAM, name="seed-team")
    topic = Topic.objects.create(name="seed-topic", component_types=["puddle"])
    TopicSubscription.objects.create(topic=topic, team=team)
    Component.objects.create(name="puddle-1", type="puddle", topic=topic)
    remoteci = RemoteCI.objects.create(id=SEED_REMOTECI, name="seed-remoteci", team=team)
    jobdefinition = JobDefinition.objects.create(id=SEED_JOBDEFINITION, name="seed-jd", topic=topic)
    return remoteci, jobdefinition


class Replayer:
    """Sends an example as written, with the server's own ids and etags in place of the seed's."""

    def __init__(self, client):
        self.client = client
        self.substitutions = {}

    def substitute(self, text):
        for seed_value, real in self.substitutions.items():
            text = text.replace(seed_value, real)
        return text

    def send(self, method, route, path=None):
        example = BY_ROUTE[(method, route)]
        headers = {}
        for name, value in example["headers"].items():
            if name == "Authorization" and value == BROKEN_BASIC:
                value = ADMIN_BASIC
            if name in ("Host", "Content-Length"):
                continue
            headers["HTTP_" + name.upper().replace("-", "_")] = self.substitute(value)
        if "HTTP_CONTENT_TYPE" in headers:
            headers["content_type"] = headers.pop("HTTP_CONTENT_TYPE")
        body = self.substitute(json.dumps(example["body"])) if example["body"] is not None else None
        response = self.client.generic(method, self.substitute(path or example["path"]), body or "", **headers)
        assert response.status_code == example["status"], (method, route, response.status_code, response.content)
        return example, response


def same_shape(documented, actual):
    """Every documented key is there; our objects may carry more (state, topic_id...)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict) and set(documented) <= set(actual), (sorted(documented), actual)
        for key, value in documented.items():
            same_shape(value, actual[key])
    elif isinstance(documented, list) and documented:
        assert isinstance(actual, list) and actual
        for item in actual:
            same_shape(documented[0], item)


def test_the_seeds_examples_replay_as_documented(client, seed_world):
    assert base64.b64decode(ADMIN_BASIC.split()[1]) == b"admin:admin"
    replay = Replayer(client)

    example, response = replay.send("POST", "/api/v1/jobs")
    job = response.json()["job"]
    same_shape(example["response"], response.json())
    for field in ("comment", "recheck", "remoteci_id", "jobdefinition_id", "team_id", "status"):
        assert job[field] == example["response"]["job"][field]
    assert response["ETag"] == job["etag"]
    replay.substitutions.update({seed_id: job["id"] for seed_id in SEED_JOB_IDS})
    replay.substitutions[SEED_ETAGS[0]] = job["etag"]

    example, response = replay.send("GET", "/api/v1/jobs/<job-id>")
    same_shape(example["response"], response.json())
    assert response.json()["job"]["id"] == job["id"]

    example, response = replay.send("GET", "/api/v1/jobs")
    same_shape(example["response"], response.json())
    assert response.json()["_meta"]["count"] == 1

    example, response = replay.send("PUT", "/api/v1/jobs/<job-id>")
    assert response.content == b""
    updated = Job.objects.get(pk=job["id"])
    assert (updated.comment, updated.status) == ("comment updated", "running")
    assert response["ETag"] == updated.etag
    JobState.objects.create(id=SEED_JOBSTATE, job_id=job["id"], team_id=SEED_TEAM, status="new", comment="c")
    example, response = replay.send("POST", "/api/v1/jobs/<job-id>/files")
    same_shape({k: v for k, v in example["response"]["file"].items() if k != "md5"}, response.json()["file"])
    assert response.json()["file"]["content"] == "helloworld"
    assert response.json()["file"]["jobstate_id"] == SEED_JOBSTATE

    example, response = replay.send("GET", "/api/v1/jobs/<job-id>/files")
    same_shape(example["response"], response.json())
    assert response.json()["files"][0]["name"] == "helloworld.txt"

    # The document's JobState listing is of the job (it shows the job definition's id in the path).
    example, response = replay.send(
        "GET", "/api/v1/jobs/<job-id>/jobstates", path=f"/api/v1/jobs/{job['id']}/jobstates"
    )
    same_shape(example["response"], response.json())

    report = (
        '<testsuite errors="0" failures="0" name="pytest" skips="1" tests="3" time="46.050">'
        '<testcase classname="t" name="a" time="1"/><testcase classname="t" name="b" time="1"/>'
        '<testcase classname="t" name="c" time="1"><skipped/></testcase></testsuite>'
    )
    file_create(
        job=Job.objects.get(pk=job["id"]),
        name="res_junit.xml",
        mime="application/junit",
        stream=io.BytesIO(report.encode()),
    )
    example, response = replay.send("GET", "/api/v1/jobs/<job-id>/results")
    body = response.json()
    assert body["_meta"] == example["response"]["_meta"]
    documented = example["response"]["results"]["res_junit.xml"]
    assert {k: body["results"]["res_junit.xml"][k] for k in documented} == documented

    # The document deletes with the etag its PUT answered; files added since renewed it.
    replay.substitutions[SEED_ETAGS[1]] = Job.objects.get(pk=job["id"]).etag
    replay.send("DELETE", "/api/v1/jobs/<job-id>")
    assert client.get(f"/api/v1/jobs/{job['id']}", HTTP_AUTHORIZATION=ADMIN_BASIC).status_code == 404
