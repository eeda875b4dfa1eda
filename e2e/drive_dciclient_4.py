"""A lab's agent flow, driven through the modern client ``dciclient`` 4.x with login and password.

usage: python drive_dciclient_4.py URL LOGIN PASSWORD
Prints one line per request and ``FLOW OK`` at the end; any surprise raises.
"""

import os
import sys
import tempfile
import uuid

from dciclient.v1.api import base, component, file, identity, job, jobstate, remoteci, team, topic
from dciclient.v1.api.context import build_dci_context

URL, LOGIN, PASSWORD = sys.argv[1:4]
RUN = uuid.uuid4().hex[:6]
JUNIT = (
    '<testsuites><testsuite errors="1" failures="0" name="unit" skipped="0" tests="2" time="1.5">'
    '<testcase classname="a" name="t1" time="0.5"/>'
    '<testcase classname="a" name="t2" time="1"><error message="oops">trace</error></testcase>'
    '</testsuite><testsuite errors="0" failures="0" name="lint" tests="1" time="0.5">'
    '<testcase classname="b" name="t3" time="0.5"/></testsuite></testsuites>'
)


def context(login, password):
    # max_retries=0: see failures at once instead of the client's retries.
    return build_dci_context(URL, login, password, max_retries=0)


def expect(response, *codes):
    print(response.request.method, response.request.path_url, "->", response.status_code, flush=True)
    assert response.status_code in codes, (response.status_code, response.text)
    return response.json() if response.status_code != 204 and response.content else None


admin = context(LOGIN, PASSWORD)
assert expect(identity.get(admin), 200)["identity"]["teams"]
lab = expect(team.create(admin, name=f"lab-{RUN}"), 201)["team"]
# 4.x's user.create cannot set a team or a role: the generic create can.
expect(
    base.create(
        admin, "users", name=f"agent-{RUN}", password="agent-pw", email="a@example.com", team_id=lab["id"], role="admin"
    ),
    201,
)
topic_row = expect(topic.create(admin, name=f"OCP-{RUN}", component_types=["ocp"]), 201)["topic"]
# 4.x subscribes teams through products; the v1 route is called directly.
expect(admin.session.post(f"{admin.dci_cs_api}/topics/{topic_row['id']}/teams", json={"team_id": lab["id"]}), 201)
ocp = expect(
    component.create(admin, name=f"ocp-4.19-{RUN}", type="ocp", topic_id=topic_row["id"], url="http://x"), 201
)["component"]

ctx = context(f"agent-{RUN}", "agent-pw")
me = expect(identity.get(ctx), 200)["identity"]
assert me["teams"][lab["id"]]["team_name"] == lab["name"], me
rci = expect(remoteci.create(ctx, name=f"rci-{RUN}", team_id=lab["id"], data={"k": "v"}), 201)["remoteci"]
assert (
    expect(topic.list_components(ctx, topic_row["id"], where="type:ocp", sort="-created_at", limit=1), 200)[
        "components"
    ][0]["id"]
    == ocp["id"]
)

scheduled = expect(job.schedule(ctx, topic_row["id"], remoteci_id=rci["id"]), 201)["job"]
assert scheduled["jobdefinition_id"] is None and scheduled["topic_id"] == topic_row["id"]
made = expect(
    job.create(ctx, topic_row["id"], remoteci_id=rci["id"], components=[ocp["id"]], comment="by hand", name="my-job"),
    201,
)["job"]
job_id = made["id"]
state = expect(jobstate.create(ctx, "running", "deploying", job_id), 201)["jobstate"]
report = expect(
    file.create(ctx, "res_junit.xml", content=JUNIT, mime="application/junit", job_id=job_id, jobstate_id=state["id"]),
    201,
)["file"]
with tempfile.TemporaryDirectory() as tmp:
    log_path = os.path.join(tmp, "deploy.log")
    with open(log_path, "w") as handle:
        handle.write("line\n" * 5000)
    log = expect(file.create(ctx, "deploy.log", file_path=log_path, job_id=job_id), 201)["file"]
    assert log["size"] == 25000, log
    download = os.path.join(tmp, "copy.log")
    file.download(ctx, None, log["id"], download)
    with open(log_path, "rb") as original, open(download, "rb") as copy:
        assert original.read() == copy.read()
assert file.content(ctx, report["id"]).text == JUNIT

# 4.x is on the modern wire (SPEC §9): results are a list of rows.
results = expect(job.list_results(ctx, job_id), 200)["results"]
assert len(results) == 1 and results[0]["total"] == 3 and results[0]["errors"] == 1, results
expect(jobstate.create(ctx, "success", "done", job_id), 201)

listed = expect(
    job.list(
        ctx,
        where=f"remoteci_id:{rci['id']},state:active",
        sort="-created_at",
        limit=10,
        offset=0,
        embed="topic,remoteci,team",
    ),
    200,
)
assert listed["_meta"]["count"] == 2 and listed["jobs"][0]["topic"]["id"] == topic_row["id"], listed
assert len(list(job.iter(ctx, where=f"topic_id:{topic_row['id']}"))) == 2
assert expect(job.list_jobstates(ctx, id=job_id, sort="created_at"), 200)["_meta"]["count"] == 2
assert expect(job.list_files(ctx, id=job_id, where=f"jobstate_id:{state['id']}"), 200)["_meta"]["count"] == 1
assert [c["id"] for c in expect(job.get_components(ctx, job_id), 200)["components"]] == [ocp["id"]]

etag = expect(job.get(ctx, job_id), 200)["job"]["etag"]
# The modern wire's PUT answers the row (the Ansible modules read it).
assert expect(job.update(ctx, id=job_id, etag=etag, comment="annotated"), 200)["job"]["comment"] == "annotated"
expect(job.update(ctx, id=job_id, etag=etag, comment="stale"), 412)
etag = expect(remoteci.get(ctx, rci["id"]), 200)["remoteci"]["etag"]
expect(remoteci.update(ctx, rci["id"], etag, state="inactive"), 200)
expect(job.schedule(ctx, topic_row["id"], remoteci_id=rci["id"]), 412)
etag = expect(job.get(ctx, job_id), 200)["job"]["etag"]
expect(job.delete(ctx, job_id, etag), 204)
expect(job.get(ctx, job_id), 404)
print("FLOW OK")
