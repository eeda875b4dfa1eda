"""A lab's agent as today's DCI agents run: ``dciclient`` 4.x signing every request as its remoteci.

usage: python drive_dciclient_4_agent.py URL LOGIN PASSWORD
An operator (LOGIN, a super admin, with login and password) makes a product, links a team to it,
makes a topic of it and its components and a remoteci; the agent, as the remoteci with HMAC
(``DCI_CLIENT_ID=remoteci/<id>``, ``DCI_API_SECRET``), reads its identity and the topic's
components; the operator rotates the secret and the old one is refused; ``dcictl``, with the
remoteci's credentials in its environment, lists the topics. Prints one line per request and
``FLOW OK`` at the end; any surprise raises.
"""

import os
import subprocess
import sys
import uuid

from dciclient.v1.api import component, identity, product, remoteci, team, topic
from dciclient.v1.api.context import build_dci_context, build_signature_context

URL, LOGIN, PASSWORD = sys.argv[1:4]
RUN = uuid.uuid4().hex[:6]


def expect(response, *codes):
    print(response.request.method, response.request.path_url, "->", response.status_code, flush=True)
    assert response.status_code in codes, (response.status_code, response.text)
    return response.json() if response.status_code != 204 and response.content else None


def agent(remoteci_id, secret):
    # max_retries=0: see failures at once instead of the client's retries.
    return build_signature_context(URL, f"remoteci/{remoteci_id}", secret, max_retries=0)


operator = build_dci_context(URL, LOGIN, PASSWORD, max_retries=0)
lab = expect(team.create(operator, name=f"lab-{RUN}"), 201)["team"]
ocp = expect(product.create(operator, name=f"OpenShift-{RUN}", description="the product"), 201)["product"]
assert ocp["label"] == f"OPENSHIFT-{RUN}".upper(), ocp
expect(product.attach_team(operator, ocp["id"], lab["id"]), 201)
release = expect(
    topic.create(operator, name=f"OCP-4.19-{RUN}", component_types=["ocp"], product_id=ocp["id"], export_control=True),
    201,
)["topic"]
hidden = expect(topic.create(operator, name=f"OCP-4.20-{RUN}", component_types=["ocp"], product_id=ocp["id"]), 201)[
    "topic"
]
build = expect(component.create(operator, name=f"ocp-4.19.3-{RUN}", type="ocp", topic_id=release["id"]), 201)[
    "component"
]
rack = expect(remoteci.create(operator, name=f"rack-{RUN}", team_id=lab["id"]), 201)["remoteci"]
secret = rack["api_secret"]
assert len(secret) == 64, rack

ctx = agent(rack["id"], secret)
me = expect(identity.get(ctx), 200)["identity"]
assert me["id"] == rack["id"] and list(me["teams"]) == [lab["id"]], me
assert me["teams"][lab["id"]]["team_name"] == lab["name"], me
components = expect(topic.list_components(ctx, release["id"], sort="-created_at", limit=10, offset=0), 200)
assert [c["id"] for c in components["components"]] == [build["id"]], components
assert expect(topic.get(ctx, release["id"]), 200)["topic"]["product_id"] == ocp["id"]
expect(topic.get(ctx, hidden["id"]), 404)  # not exported, and the lab has no pre-release access
mine = expect(product.get(ctx, ocp["id"]), 200)["product"]
assert [t["id"] for t in mine["topics"]] == [release["id"]], mine

etag = expect(remoteci.get(operator, rack["id"]), 200)["remoteci"]["etag"]
rotated = expect(remoteci.reset_api_secret(operator, rack["id"], etag), 200)["remoteci"]
assert rotated["api_secret"] != secret and len(rotated["api_secret"]) == 64
expect(identity.get(ctx), 401)
ctx = agent(rack["id"], rotated["api_secret"])
assert expect(identity.get(ctx), 200)["identity"]["id"] == rack["id"]

dcictl = os.path.join(os.path.dirname(sys.executable), "dcictl")
env = {
    **os.environ,
    "DCI_CS_URL": URL,
    "DCI_CLIENT_ID": f"remoteci/{rack['id']}",
    "DCI_API_SECRET": rotated["api_secret"],
    "DCI_LOGIN": "",
    "DCI_PASSWORD": "",
}
listed = subprocess.run([dcictl, "--format", "json", "topic-list"], env=env, capture_output=True, text=True, timeout=60)
print("dcictl topic-list ->", listed.returncode, flush=True)
assert listed.returncode == 0, listed.stderr + listed.stdout
assert release["name"] in listed.stdout and hidden["name"] not in listed.stdout, listed.stdout
print("FLOW OK")
