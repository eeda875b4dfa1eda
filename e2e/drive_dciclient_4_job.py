"""A whole job of the 2025 model, as ``dci-openshift-agent`` runs it: ``dciclient`` 4.x signing as its
remoteci, with no raw HTTP.

usage: python drive_dciclient_4_job.py URL LOGIN PASSWORD
The operator (LOGIN, a super admin) makes a product, a team linked to it with a member, a rival
team with its own member, an exported topic of the product with an older and a newer component,
and the team's remoteci. The agent schedules on the topic and gets the newest component; reports
new, running and success; uploads a JUnit file and reads its results; tags the job (the library's
``add_tag``: GET, then PUT with If-Match, which needs the 200); records a key/value; puts the job in
a pipeline. The team's member lists the job, the rival's gets 404; the operator reads the job's
final event with the library's ``jobs_events`` calls and moves the cursor. Then ``dcictl job-list``,
``job-show``, ``job-results`` and ``dci-diff-jobs`` (which sends a ``query=`` comma list). Prints one
line per request and ``FLOW OK`` at the end; any surprise raises.
"""

import json
import os
import subprocess
import sys
import uuid

from dciclient.v1.api import base, component, job, jobs_events, jobstate, pipeline, product, remoteci, team, topic
from dciclient.v1.api import file as dci_file
from dciclient.v1.api.context import build_dci_context, build_signature_context

URL, LOGIN, PASSWORD = sys.argv[1:4]
RUN = uuid.uuid4().hex[:6]
JUNIT = b"""<testsuite name="install" tests="3">
<testcase classname="ocp.install" name="test_api_up" time="1.5"/>
<testcase classname="ocp.install" name="test_nodes_ready" time="2"/>
<testcase classname="ocp.install" name="test_console"><skipped/></testcase>
</testsuite>"""


def expect(response, *codes):
    print(response.request.method, response.request.path_url, "->", response.status_code, flush=True)
    assert response.status_code in codes, (response.status_code, response.text)
    return response.json() if response.status_code != 204 and response.content else None


def user_context(name, password):
    return build_dci_context(URL, name, password, max_retries=0)


operator = user_context(LOGIN, PASSWORD)
lab = expect(team.create(operator, name=f"lab-{RUN}"), 201)["team"]
rival = expect(team.create(operator, name=f"rival-{RUN}"), 201)["team"]
for name, team_id in ((f"member-{RUN}", lab["id"]), (f"rival-{RUN}", rival["id"])):
    # 4.x's user.create cannot set a team: the generic create can.
    expect(base.create(operator, "users", name=name, password="pw", email=f"{name}@example.com", team_id=team_id), 201)
ocp = expect(product.create(operator, name=f"OpenShift-{RUN}", description="the product"), 201)["product"]
expect(product.attach_team(operator, ocp["id"], lab["id"]), 201)
release = expect(
    topic.create(operator, name=f"OCP-4.19-{RUN}", component_types=["ocp"], product_id=ocp["id"], export_control=True),
    201,
)["topic"]
expect(component.create(operator, name=f"ocp-4.19.0-{RUN}", type="ocp", topic_id=release["id"]), 201)
newest = expect(component.create(operator, name=f"ocp-4.19.1-{RUN}", type="ocp", topic_id=release["id"]), 201)[
    "component"
]
rack = expect(remoteci.create(operator, name=f"rack-{RUN}", team_id=lab["id"]), 201)["remoteci"]

agent = build_signature_context(URL, f"remoteci/{rack['id']}", rack["api_secret"], max_retries=0)
line = expect(pipeline.create(agent, name=f"nightly-{RUN}", team_id=lab["id"]), 201)["pipeline"]
scheduled = expect(
    job.schedule(agent, release["id"], name="openshift-vanilla", configuration="sno", pipeline_id=line["id"]), 201
)["job"]
job_id = scheduled["id"]
read = expect(job.get(agent, job_id, embed="topic,remoteci,components"), 200)["job"]
assert [c["id"] for c in read["components"]] == [newest["id"]], read["components"]
assert read["remoteci"]["id"] == rack["id"] and "api_secret" not in read["remoteci"], read["remoteci"]
assert read["pipeline"]["id"] == line["id"] and read["product_id"] == ocp["id"], read

for status in ("new", "running"):
    expect(jobstate.create(agent, status=status, comment=f"{status} on the rack", job_id=job_id), 201)
junit = expect(dci_file.create(agent, name="install.xml", content=JUNIT, mime="application/junit", job_id=job_id), 201)[
    "file"
]
results = expect(job.list_results(agent, id=job_id), 200)
assert results["_meta"]["count"] == 1, results
result = results["results"][0]
assert (result["file_id"], result["total"], result["success"], result["skips"]) == (junit["id"], 3, 2, 1), result
assert (result["regressions"], result["successfixes"]) == (0, 0), result

expect(job.add_tag(agent, job_id, "agent:openshift"), 200)
expect(job.add_tag(agent, job_id, "sno"), 200)
assert expect(job.get(agent, job_id), 200)["job"]["tags"] == ["agent:openshift", "sno"]
assert job.list_tags(agent, job_id)["tags"] == ["agent:openshift", "sno"]
kv = expect(job.add_kv(agent, job_id, "install_seconds", 1830.5), 201)["kv"]
assert kv == {"job_id": job_id, "key": "install_seconds", "value": 1830.5}, kv
expect(jobstate.create(agent, status="success", comment="installed", job_id=job_id), 201)
done = expect(job.get(agent, job_id), 200)["job"]
assert done["status"] == "success" and done["keys_values"][0]["key"] == "install_seconds", done
assert [j["id"] for j in expect(pipeline.get_jobs(agent, line["id"]), 200)["jobs"]] == [job_id]

member = user_context(f"member-{RUN}", "pw")
listed = expect(job.list(member, where="state:active", limit=10, offset=0), 200)["jobs"]
assert job_id in [j["id"] for j in listed], listed
expect(job.get(user_context(f"rival-{RUN}", "pw"), job_id), 404)

events = list(jobs_events.iter(operator, 0, limit=50))
final = [event for event in events if event["job_id"] == job_id]
assert [event["status"] for event in final] == ["success"], final
assert final[0]["topic_id"] == release["id"], final
cursor = expect(jobs_events.get_sequence(operator), 200)["sequence"]
expect(jobs_events.update_sequence(operator, cursor["etag"], final[0]["id"]), 200, 204)
assert expect(jobs_events.get_sequence(operator), 200)["sequence"]["sequence"] == final[0]["id"]

# A second run on the same line (name, remoteci, topic, configuration, url), for dci-diff-jobs.
older_id = job_id
second = expect(job.schedule(agent, release["id"], name="openshift-vanilla", configuration="sno"), 201)["job"]
# Its report, compared at upload with the first run's (SPEC §15): a test that passed there fails here,
# on the same component set: flaky, not a regression.
broken = JUNIT.replace(b'time="2"/>', b'time="2"><failure message="2 of 3 nodes ready"/></testcase>')
expect(dci_file.create(agent, name="install.xml", content=broken, mime="application/junit", job_id=second["id"]), 201)
again = expect(job.list_results(agent, id=second["id"]), 200)["results"][0]
assert (again["failures"], again["regressions"], again["flaky_regressions"]) == (1, 0, 1), again

bin_dir = os.path.dirname(sys.executable)
env = {
    **os.environ,
    "DCI_CS_URL": URL,
    "DCI_CLIENT_ID": f"remoteci/{rack['id']}",
    "DCI_API_SECRET": rack["api_secret"],
    "DCI_LOGIN": "",
    "DCI_PASSWORD": "",
}


def run(*command):
    done = subprocess.run([os.path.join(bin_dir, command[0]), *command[1:]], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    print(" ".join(command[:2]), "->", done.returncode, flush=True)
    assert done.returncode == 0, done.stderr + done.stdout
    return done


assert older_id in run("dcictl", "--format", "json", "job-list").stdout
shown = json.loads(run("dcictl", "--format", "json", "job-show", older_id).stdout)
assert shown["job"]["id"] == older_id and shown["job"]["tags"] == ["agent:openshift", "sno"], shown
assert junit["id"] in run("dcictl", "--format", "json", "job-results", older_id).stdout
printed = run("dcictl", "--format", "json", "job-results", second["id"]).stdout
assert '"flaky_regressions": 1' in printed and '"regressions": 0' in printed, printed
# The second job's earlier run is found by dci-diff-jobs' query (eq(name,..),eq(remoteci_id,..),
# eq(topic_id,..),eq(configuration,..),null(url): a comma list, all of it applied), which it names
# on stderr; the two ran the same component, so no row differs.
diff = run("dci-diff-jobs", "--job_id_1", second["id"])
assert "getting another job using eq(name,openshift-vanilla)" in diff.stderr, diff.stderr
assert diff.stderr.rstrip().endswith(older_id), diff.stderr
assert newest["name"] not in diff.stdout, diff.stdout
print("FLOW OK")
