"""A lab's agent flow, driven through the 2016 client ``dciclient==0.1a10``.

usage: python drive_dciclient_0_1a10.py URL LOGIN PASSWORD
Prints one line per request and ``FLOW OK`` at the end; any surprise raises.
"""

import sys
import uuid

from dciclient.v1.api import base, component, file, job, jobdefinition, jobstate, remoteci, team, topic, user
from dciclient.v1.api.context import DciContext

URL, LOGIN, PASSWORD = sys.argv[1:4]
RUN = uuid.uuid4().hex[:6]
JUNIT = (
    '<testsuite errors="0" failures="1" name="pytest" skips="1" tests="4" time="46.050">'
    '<testcase classname="a" name="t1" time="1"/><testcase classname="a" name="t2" time="1"/>'
    '<testcase classname="a" name="t3" time="1"><skipped message="s"/></testcase>'
    '<testcase classname="a" name="t4" time="1"><failure message="boom">trace</failure></testcase>'
    "</testsuite>"
)
LOG = "".join(f"line {i} \u2713\n" for i in range(2000))


def context(login, password):
    # max_retries=0: fail at once instead of the client's minutes of back-off.
    return DciContext(URL, login, password, max_retries=0)


def expect(response, *codes):
    print(response.request.method, response.request.path_url, "->", response.status_code, flush=True)
    assert response.status_code in codes, (response.status_code, response.text)
    return response.json() if response.status_code != 204 and response.content else None


admin = context(LOGIN, PASSWORD)
lab = expect(team.create(admin, name=f"lab-{RUN}"), 201)["team"]
expect(user.create(admin, name=f"agent-{RUN}", password="agent-pw", team_id=lab["id"], role="admin"), 201)
topic_row = expect(topic.create(admin, name=f"OSP-{RUN}"), 201)["topic"]
expect(topic.attach_team(admin, topic_row["id"], lab["id"]), 201)
puddle = expect(
    component.create(
        admin, name=f"puddle-{RUN}", type="puddle", topic_id=topic_row["id"], canonical_project_name="OSP"
    ),
    201,
)["component"]
jd = expect(jobdefinition.create(admin, name=f"jd-{RUN}", topic_id=topic_row["id"], component_types=["puddle"]), 201)[
    "jobdefinition"
]

# From here on, the lab's own user.
ctx = context(f"agent-{RUN}", "agent-pw")
rci = expect(remoteci.create(ctx, name=f"rci-{RUN}", team_id=lab["id"], data={"certification_id": "abc"}), 201)[
    "remoteci"
]
scheduled = expect(job.schedule(ctx, rci["id"], topic_row["id"]), 201)["job"]
assert scheduled["jobdefinition_id"] == jd["id"]
expect(job.schedule(ctx, rci["id"], topic_row["id"]), 412)
made = expect(
    job.create(
        ctx, recheck=False, remoteci_id=rci["id"], team_id=lab["id"], jobdefinition_id=jd["id"], comment="by hand"
    ),
    201,
)["job"]
job_id = made["id"]

state = expect(jobstate.create(ctx, "running", "deploying", job_id), 201)["jobstate"]
report = expect(file.create(ctx, name="res_junit.xml", content=JUNIT, mime="application/junit", job_id=job_id), 201)[
    "file"
]
log = expect(file.create(ctx, name="deploy.log", content=LOG, jobstate_id=state["id"]), 201)["file"]
assert log["size"] == len(LOG.encode()), log
content = file.content(ctx, log["id"])
assert content.status_code == 200 and content.content == LOG.encode()
assert file.content(ctx, report["id"]).text == JUNIT

results = expect(job.list_results(ctx, job_id), 200)
assert results["results"]["res_junit.xml"]["failures"] == "1", results
assert results["results"]["res_junit.xml"]["success"] == 2, results
expect(jobstate.create(ctx, "success", "done", job_id), 201)

listed = expect(
    base.list(
        ctx, "jobs", where=f"remoteci_id:{rci['id']}", sort="-created_at", limit=1, embed="remoteci,jobdefinition"
    ),
    200,
)
assert listed["_meta"]["count"] == 2 and len(listed["jobs"]) == 1, listed
assert listed["jobs"][0]["id"] == job_id and listed["jobs"][0]["remoteci"]["id"] == rci["id"]
assert expect(jobstate.list(ctx, where=f"job_id:{job_id}"), 200)["_meta"]["count"] == 2
assert expect(file.list(ctx, where=f"job_id:{job_id}", embed="jobstate"), 200)["_meta"]["count"] == 2
full = job.get_full_data(ctx, job_id)
assert full["remoteci"]["id"] == rci["id"] and full["jobdefinition"]["id"] == jd["id"], full
assert expect(remoteci.get_data(ctx, rci["id"], keys=["certification_id"]), 200) == {"certification_id": "abc"}

etag = expect(job.get(ctx, job_id), 200)["job"]["etag"]
expect(job.update(ctx, id=job_id, etag=etag, comment="annotated"), 204)
expect(job.update(ctx, id=job_id, etag=etag, comment="stale"), 412)
assert expect(job.get(ctx, job_id), 200)["job"]["comment"] == "annotated"
recheck = expect(job.recheck(ctx, job_id), 201)["job"]
assert recheck["recheck"] is True
etag = expect(remoteci.get(ctx, rci["id"]), 200)["remoteci"]["etag"]
expect(remoteci.update(ctx, id=rci["id"], etag=etag, name=rci["name"], active=False), 204)
assert expect(remoteci.get(ctx, rci["id"]), 200)["remoteci"]["active"] is False

etag = expect(job.get(ctx, job_id), 200)["job"]["etag"]
expect(job.delete(ctx, id=job_id, etag=etag), 204)
expect(job.get(ctx, job_id), 404)
expect(component.delete(admin, puddle["id"]), 204)
print("FLOW OK")
