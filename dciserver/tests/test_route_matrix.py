"""Who may do what, generated from the URL configuration: every ``/api/`` route × every method × every role.

The routes and their methods come from ``dciserver.urls`` itself (the DRF router's viewsets
and their actions, and the plain views), so a new route cannot escape: it needs a rule in
``RULES`` or ``test_every_route_has_a_rule`` fails. The expected status of each row is
computed from that small table:

- anonymous and a wrong password: 401 (authentication comes first, whatever the method);
- a method the route does not serve: 405;
- otherwise the route's policy for the role: ``OK`` (200 for GET, HEAD and OPTIONS, 201 for
  POST, 204 for PUT, PATCH and DELETE) or the status of the refusal.

The objects in the paths belong to the lab team (its catalogue: topics the lab is subscribed
to); ``other_*`` roles belong to the rival team, for whom those objects do not exist.
Each role's request runs in a savepoint rolled back afterwards, so every role meets the
same world.
"""

import re

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver

from conftest import PASSWORD, SignedClient, client_for

pytestmark = pytest.mark.django_db

ROLES = (
    "anonymous",
    "wrong_password",
    "wrong_signature",
    "user",
    "team_admin",
    "other_user",
    "other_admin",
    "super_admin",
)
MEMBERS = ROLES[3:8]
# Remotecis signing their requests (SPEC §10): the lab's, and the rival team's. An agent acts
# inside its team as a plain member does (``AGENT_SAME_AS``), but where ``AGENT_RULES`` says.
AGENTS = ("agent", "other_agent", "feeder")
AGENT_SAME_AS = {"agent": "user", "other_agent": "other_user", "feeder": "user"}
ROLES += AGENTS
METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
OK = "ok"
SUCCESS = {"GET": 200, "HEAD": 200, "OPTIONS": 200, "POST": 201, "PUT": 204, "PATCH": 204, "DELETE": 204}


def policy(user, team_admin, other_user, other_admin, super_admin):
    return dict(zip(MEMBERS, (user, team_admin, other_user, other_admin, super_admin), strict=True))


# Policies: what each authenticated role gets when the route serves the method.
EVERYONE = policy(OK, OK, OK, OK, OK)
# A row of the lab (or of its catalogue): its members and super admins; the rival team does not see it.
MEMBERS_OF_LAB = policy(OK, OK, 404, 404, OK)
# Written by the lab's admins (and super admins); a plain member is refused.
ADMINS_OF_LAB = policy(403, OK, 404, 404, OK)
# The catalogue and teams are written by super admins; the lab's members see the row but are refused.
SUPER_ADMINS_ON_LAB_ROW = policy(403, 403, 404, 404, OK)
SUPER_ADMINS = policy(403, 403, 403, 403, OK)
# Creations naming the lab's rows in the body: a rival's request names rows it cannot see.
# A serializer-validated id is a 400 on the field; an id looked up by the view is a 404.
MEMBERS_CREATE = policy(OK, OK, 400, 400, OK)
MEMBERS_CREATE_BY_LOOKUP = policy(OK, OK, 404, 404, OK)
ADMINS_CREATE = policy(403, OK, 400, 400, OK)
SUPER_ADMINS_CREATE_IN_LAB_TOPIC = policy(403, 403, 400, 400, OK)
# Created by super admins only; the body names the lab's team, which the rival team cannot see (400).
MEMBERS_CREATE_SUPER_ADMINS = policy(403, 403, 400, 400, OK)
AUDIT_LIST = policy(403, OK, 403, OK, OK)
AUDIT_ENTRY_OF_LAB = policy(403, OK, 403, 404, OK)

# (url name, method) → policy, for every route and method the URL configuration serves.
# fmt: off
RULES = {
    ("api-root", "GET"): EVERYONE,
    ("api-root-bare", "GET"): EVERYONE,
    ("identity", "GET"): EVERYONE,
    ("schema", "GET"): EVERYONE,
    ("docs", "GET"): EVERYONE,
    ("team-list", "GET"): EVERYONE,
    ("team-list", "POST"): SUPER_ADMINS,
    ("team-detail", "GET"): MEMBERS_OF_LAB,
    ("team-detail", "PUT"): ADMINS_OF_LAB,
    ("team-detail", "PATCH"): ADMINS_OF_LAB,
    ("team-detail", "DELETE"): SUPER_ADMINS_ON_LAB_ROW,
    ("team-remotecis", "GET"): MEMBERS_OF_LAB,
    ("team-users", "GET"): MEMBERS_OF_LAB,
    ("user-list", "GET"): EVERYONE,
    ("user-list", "POST"): ADMINS_CREATE,
    ("user-me", "GET"): EVERYONE,
    ("user-me", "PUT"): EVERYONE,
    ("user-detail", "GET"): MEMBERS_OF_LAB,
    ("user-detail", "PUT"): ADMINS_OF_LAB,
    ("user-detail", "PATCH"): ADMINS_OF_LAB,
    ("user-detail", "DELETE"): ADMINS_OF_LAB,
    ("remoteci-list", "GET"): EVERYONE,
    ("remoteci-list", "POST"): MEMBERS_CREATE,
    ("remoteci-detail", "GET"): MEMBERS_OF_LAB,
    ("remoteci-detail", "PUT"): MEMBERS_OF_LAB,
    ("remoteci-detail", "PATCH"): MEMBERS_OF_LAB,
    ("remoteci-detail", "DELETE"): MEMBERS_OF_LAB,
    ("remoteci-data", "GET"): MEMBERS_OF_LAB,
    # The rotation answers the row with its new secret (200, not the seed's 204 of a PUT).
    ("remoteci-api-secret", "PUT"): policy(200, 200, 404, 404, 200),
    ("feeder-list", "GET"): EVERYONE,
    ("feeder-list", "POST"): MEMBERS_CREATE_SUPER_ADMINS,
    ("feeder-detail", "GET"): MEMBERS_OF_LAB,
    ("feeder-detail", "PUT"): SUPER_ADMINS_ON_LAB_ROW,
    ("feeder-detail", "PATCH"): SUPER_ADMINS_ON_LAB_ROW,
    ("feeder-detail", "DELETE"): SUPER_ADMINS_ON_LAB_ROW,
    ("feeder-api-secret", "PUT"): policy(403, 200, 404, 404, 200),
    ("product-list", "GET"): EVERYONE,
    ("product-list", "POST"): SUPER_ADMINS,
    ("product-detail", "GET"): MEMBERS_OF_LAB,
    ("product-detail", "PUT"): SUPER_ADMINS_ON_LAB_ROW,
    ("product-detail", "PATCH"): SUPER_ADMINS_ON_LAB_ROW,
    ("product-detail", "DELETE"): SUPER_ADMINS_ON_LAB_ROW,
    ("product-teams", "GET"): SUPER_ADMINS_ON_LAB_ROW,
    ("product-teams", "POST"): SUPER_ADMINS_ON_LAB_ROW,
    ("product-unlink", "DELETE"): SUPER_ADMINS_ON_LAB_ROW,
    ("team-products", "GET"): MEMBERS_OF_LAB,
    ("topic-list", "GET"): EVERYONE,
    ("topic-list", "POST"): SUPER_ADMINS,
    ("topic-detail", "GET"): MEMBERS_OF_LAB,
    ("topic-detail", "PUT"): SUPER_ADMINS_ON_LAB_ROW,
    ("topic-detail", "PATCH"): SUPER_ADMINS_ON_LAB_ROW,
    ("topic-detail", "DELETE"): SUPER_ADMINS_ON_LAB_ROW,
    ("topic-components", "GET"): MEMBERS_OF_LAB,
    ("topic-jobdefinitions", "GET"): MEMBERS_OF_LAB,
    ("topic-teams", "GET"): MEMBERS_OF_LAB,
    ("topic-teams", "POST"): SUPER_ADMINS_ON_LAB_ROW,
    ("topic-unsubscribe", "DELETE"): SUPER_ADMINS_ON_LAB_ROW,
    ("component-list", "GET"): EVERYONE,
    ("component-list", "POST"): SUPER_ADMINS_CREATE_IN_LAB_TOPIC,
    ("component-detail", "GET"): MEMBERS_OF_LAB,
    ("component-detail", "PUT"): SUPER_ADMINS_ON_LAB_ROW,
    ("component-detail", "PATCH"): SUPER_ADMINS_ON_LAB_ROW,
    ("component-detail", "DELETE"): SUPER_ADMINS_ON_LAB_ROW,
    ("component-files", "GET"): MEMBERS_OF_LAB,
    ("component-files", "POST"): SUPER_ADMINS_ON_LAB_ROW,
    ("component-file-detail", "GET"): MEMBERS_OF_LAB,
    ("component-file-detail", "DELETE"): SUPER_ADMINS_ON_LAB_ROW,
    ("component-file-content", "GET"): MEMBERS_OF_LAB,
    ("jobdefinition-list", "GET"): EVERYONE,
    ("jobdefinition-list", "POST"): SUPER_ADMINS_CREATE_IN_LAB_TOPIC,
    ("jobdefinition-detail", "GET"): MEMBERS_OF_LAB,
    ("jobdefinition-detail", "PUT"): SUPER_ADMINS_ON_LAB_ROW,
    ("jobdefinition-detail", "PATCH"): SUPER_ADMINS_ON_LAB_ROW,
    ("jobdefinition-detail", "DELETE"): SUPER_ADMINS_ON_LAB_ROW,
    ("job-list", "GET"): EVERYONE,
    ("job-list", "POST"): MEMBERS_CREATE,
    ("job-recheck-from-body", "POST"): MEMBERS_CREATE_BY_LOOKUP,
    ("job-schedule", "POST"): MEMBERS_CREATE_BY_LOOKUP,
    ("job-detail", "GET"): MEMBERS_OF_LAB,
    ("job-detail", "PUT"): MEMBERS_OF_LAB,
    ("job-detail", "PATCH"): MEMBERS_OF_LAB,
    ("job-detail", "DELETE"): ADMINS_OF_LAB,
    ("job-components", "GET"): MEMBERS_OF_LAB,
    ("job-files", "GET"): MEMBERS_OF_LAB,
    ("job-files", "POST"): MEMBERS_OF_LAB,
    ("job-jobstates", "GET"): MEMBERS_OF_LAB,
    ("job-recheck", "POST"): MEMBERS_OF_LAB,
    ("job-results", "GET"): MEMBERS_OF_LAB,
    ("jobstate-list", "GET"): EVERYONE,
    ("jobstate-list", "POST"): MEMBERS_CREATE,
    ("jobstate-detail", "GET"): MEMBERS_OF_LAB,
    ("jobstate-detail", "DELETE"): ADMINS_OF_LAB,
    ("file-list", "GET"): EVERYONE,
    ("file-list", "POST"): MEMBERS_CREATE_BY_LOOKUP,
    ("file-detail", "GET"): MEMBERS_OF_LAB,
    ("file-detail", "DELETE"): ADMINS_OF_LAB,
    ("file-content", "GET"): MEMBERS_OF_LAB,
    # The 2025 job model (SPEC §12–§13).
    ("job-kv", "POST"): MEMBERS_OF_LAB,
    ("job-kv", "DELETE"): MEMBERS_OF_LAB,
    ("job-components", "POST"): MEMBERS_OF_LAB,
    ("job-detach", "DELETE"): MEMBERS_OF_LAB,
    ("job-follow-up", "POST"): MEMBERS_OF_LAB,
    # The lab's topic has no next topic: its readers learn that (400), others nothing (404).
    ("job-upgrade", "POST"): policy(400, 400, 404, 404, 400),
    ("pipeline-list", "GET"): EVERYONE,
    ("pipeline-list", "POST"): MEMBERS_CREATE,
    ("pipeline-detail", "GET"): MEMBERS_OF_LAB,
    ("pipeline-detail", "PUT"): MEMBERS_OF_LAB,
    ("pipeline-detail", "PATCH"): MEMBERS_OF_LAB,
    ("pipeline-detail", "DELETE"): MEMBERS_OF_LAB,
    ("pipeline-jobs", "GET"): MEMBERS_OF_LAB,
    ("jobs-events", "GET"): SUPER_ADMINS,
    ("jobs-events", "DELETE"): SUPER_ADMINS,
    ("jobs-events-sequence", "GET"): SUPER_ADMINS,
    ("jobs-events-sequence", "PUT"): SUPER_ADMINS,
    # Test results as data (SPEC §15).
    ("file-junit", "GET"): MEMBERS_OF_LAB,
    ("job-tests", "GET"): MEMBERS_OF_LAB,
    ("test-list", "GET"): EVERYONE,
    ("test-detail", "GET"): MEMBERS_OF_LAB,
    ("test-history", "GET"): MEMBERS_OF_LAB,
    ("topic-flaky-tests", "GET"): MEMBERS_OF_LAB,
    ("remoteci-flaky-tests", "GET"): MEMBERS_OF_LAB,
    ("audit-list", "GET"): AUDIT_LIST,
    ("audit-detail", "GET"): AUDIT_ENTRY_OF_LAB,
    # Events out (SPEC §17): a team's webhooks, written by its admins, in their own team.
    ("webhook-list", "GET"): EVERYONE,
    ("webhook-list", "POST"): policy(403, OK, 403, OK, OK),
    ("webhook-detail", "GET"): MEMBERS_OF_LAB,
    ("webhook-detail", "PUT"): ADMINS_OF_LAB,
    ("webhook-detail", "PATCH"): ADMINS_OF_LAB,
    ("webhook-detail", "DELETE"): ADMINS_OF_LAB,
    ("webhook-secret", "PUT"): policy(403, 200, 404, 404, 200),
    ("webhook-deliveries", "GET"): MEMBERS_OF_LAB,
    ("delivery-list", "GET"): EVERYONE,
    ("delivery-list", "POST"): policy(403, 403, 403, 403, 403),
    ("delivery-detail", "GET"): MEMBERS_OF_LAB,
    ("delivery-attempts", "GET"): MEMBERS_OF_LAB,
    ("delivery-redeliver", "POST"): policy(403, 202, 404, 404, 202),
    ("event-list", "GET"): EVERYONE,
    ("event-detail", "GET"): MEMBERS_OF_LAB,
    ("event-deliveries", "GET"): MEMBERS_OF_LAB,
    # Following a topic or a remoteci (mail when its jobs fail), as the 2025 server.
    ("topics-followed", "GET"): EVERYONE,
    ("topic-notifications", "POST"): MEMBERS_OF_LAB,
    ("topic-notifications", "DELETE"): MEMBERS_OF_LAB,
    ("topic-followers", "GET"): MEMBERS_OF_LAB,
    ("remoteci-followers", "GET"): MEMBERS_OF_LAB,
    ("remoteci-followers", "POST"): MEMBERS_OF_LAB,
    ("remoteci-follower", "DELETE"): ADMINS_OF_LAB,
}
# fmt: on

# What the lab's feeder writes (SPEC §10): topics and components; any other write is 403.
FEEDER_WRITES = {
    ("component-files", "POST"),
    ("topic-list", "POST"),
    ("topic-detail", "PUT"),
    ("topic-detail", "PATCH"),
    ("component-list", "POST"),
    ("component-detail", "PUT"),
    ("component-detail", "PATCH"),
}

# Where an agent is not answered as a plain member of its team: (url name, method) → {agent: status}.
AGENT_RULES = {
    # Remotecis are created by users (the rival's body names the lab's team: a 400 first).
    ("remoteci-list", "POST"): {"agent": 403, "other_agent": 400},
    ("feeder-list", "POST"): {"agent": 403, "other_agent": 400},
    # An agent is no user: it has no /users/me.
    ("user-me", "GET"): {"agent": 404, "other_agent": 404, "feeder": 404},
    ("user-me", "PUT"): {"agent": 404, "other_agent": 404},
    # Signed, the modern schedule (SPEC §9): the rival's body names a remoteci it cannot see (400).
    ("job-schedule", "POST"): {"other_agent": 400},
    # The modern wire's answer to a detach (what dci_job_component accepts).
    ("job-detach", "DELETE"): {"agent": 201},
    # Agents follow nothing (people are mailed).
    ("topic-notifications", "POST"): {"agent": 403},
    ("topic-notifications", "DELETE"): {"agent": 403},
    ("remoteci-followers", "POST"): {"agent": 403},
}

# Views anyone may call, signed in or not (a wrong password is still refused: credentials sent are checked).
PUBLIC = {"api-root", "api-root-bare", "schema", "docs"}

# Valid bodies of the writes; ``{name}`` is replaced by the id of the cast's object of that name.
BODIES = {
    ("team-list", "POST"): {"name": "new-lab"},
    ("team-detail", "PUT"): {"name": "renamed-lab"},
    ("team-detail", "PATCH"): {"name": "renamed-lab"},
    ("user-list", "POST"): {"name": "new-user", "password": "pw", "team_id": "{team}"},
    ("user-me", "PUT"): {"fullname": "Me Myself"},
    ("user-detail", "PUT"): {"fullname": "Renamed Colleague"},
    ("user-detail", "PATCH"): {"fullname": "Renamed Colleague"},
    ("remoteci-list", "POST"): {"name": "rack-new", "team_id": "{team}"},
    ("remoteci-detail", "PUT"): {"name": "rack-renamed"},
    ("remoteci-detail", "PATCH"): {"name": "rack-renamed"},
    ("feeder-list", "POST"): {"name": "new-feeder", "team_id": "{team}"},
    ("feeder-detail", "PUT"): {"name": "renamed-feeder"},
    ("feeder-detail", "PATCH"): {"name": "renamed-feeder"},
    ("product-list", "POST"): {"name": "Ansible"},
    ("product-detail", "PUT"): {"description": "renamed"},
    ("product-detail", "PATCH"): {"description": "renamed"},
    ("product-teams", "POST"): {"team_id": "{other_team}"},
    ("topic-list", "POST"): {"name": "new-topic"},
    ("topic-detail", "PUT"): {"name": "renamed-topic"},
    ("topic-detail", "PATCH"): {"name": "renamed-topic"},
    ("topic-teams", "POST"): {"team_id": "{other_team}"},
    ("component-list", "POST"): {"name": "new-component", "type": "compose", "topic_id": "{topic}"},
    ("component-detail", "PUT"): {"title": "renamed"},
    ("component-detail", "PATCH"): {"title": "renamed"},
    ("jobdefinition-list", "POST"): {"name": "new-jobdefinition", "topic_id": "{topic}"},
    ("jobdefinition-detail", "PUT"): {"priority": 7},
    ("jobdefinition-detail", "PATCH"): {"priority": 7},
    ("job-list", "POST"): {"remoteci_id": "{remoteci}", "jobdefinition_id": "{jobdefinition}"},
    ("job-detail", "PUT"): {"comment": "renamed"},
    ("job-detail", "PATCH"): {"comment": "renamed"},
    ("job-recheck-from-body", "POST"): {"job_id": "{job}"},
    ("job-schedule", "POST"): {"remoteci_id": "{remoteci}", "topic_id": "{topic}"},
    ("job-files", "POST"): {"name": "seed.log", "content": "hello", "mime": "text/plain"},
    ("jobstate-list", "POST"): {"job_id": "{job}", "status": "running"},
    ("file-list", "POST"): {"name": "json.log", "content": "hello", "job_id": "{job}"},
    ("job-kv", "POST"): {"key": "nodes", "value": 3},
    ("job-kv", "DELETE"): {"key": "nodes"},
    ("job-components", "POST"): {"id": "{kernel}"},
    ("job-upgrade", "POST"): {"job_id": "{job}"},
    ("pipeline-list", "POST"): {"name": "weekly", "team_id": "{team}"},
    ("pipeline-detail", "PUT"): {"name": "renamed"},
    ("pipeline-detail", "PATCH"): {"name": "renamed"},
    ("jobs-events-sequence", "PUT"): {"sequence": 1},
    ("webhook-list", "POST"): {"name": "new-hook", "url": "https://ci.example.com/hook", "kinds": ["job_failed"]},
    ("webhook-detail", "PUT"): {"name": "renamed-hook"},
    ("webhook-detail", "PATCH"): {"name": "renamed-hook"},
}

# Which object of the cast each path parameter names, by route.
PATH_OBJECTS = {
    "team": "team",
    "user": "colleague",
    "remoteci": "remoteci",
    "feeder": "lab_feeder",
    "product": "product",
    "topic": "topic",
    "component": "component",
    "jobdefinition": "jobdefinition",
    "job": "job",
    "jobstate": "jobstate",
    "file": "file",
    "audit": "audit",
    "pipeline": "pipeline",
    "test": "test",
    "webhook": "webhook",
    "deliverie": "delivery",
    "event": "event",
}


def api_routes():
    """Every route under ``/api/``: (url name, path regex, methods it serves), from the URL configuration."""

    def walk(resolver, prefix):
        for entry in resolver.url_patterns:
            pattern = prefix + str(entry.pattern).lstrip("^")
            if isinstance(entry, URLResolver):
                yield from walk(entry, pattern)
            elif isinstance(entry, URLPattern) and pattern.startswith("api/"):
                yield entry.name, pattern, served_methods(entry.callback)

    return sorted(walk(get_resolver(), ""), key=lambda route: (route[1], route[0] or ""))


def served_methods(callback):
    """The methods a view answers other than with 405."""
    view_class = getattr(callback, "cls", None)
    initkwargs = getattr(callback, "view_initkwargs", None) or {}
    allowed = {m.upper() for m in initkwargs.get("http_method_names", getattr(view_class, "http_method_names", ()))}
    actions = getattr(callback, "actions", None)
    if actions is not None:  # a viewset route: the router's method → action mapping
        methods = {method.upper() for method in actions}
    else:  # an APIView or a Django view: its handler methods
        methods = {m for m in allowed if hasattr(view_class, m.lower())} if view_class else {"GET"}
    if "GET" in methods:
        methods |= {"HEAD"}
    if view_class and "OPTIONS" in allowed:
        methods |= {"OPTIONS"}
    return sorted(methods & allowed if allowed else methods)


ROUTES = api_routes()


def concrete_path(pattern, objects):
    """``api/v1/jobs/(?P<pk>[^/]+)/files/?$`` → ``/api/v1/jobs/<the job's id>/files``."""
    kind = pattern.removeprefix("api/v1/").split("/")[0].removesuffix("s")

    def value(match):
        name = match.group(1)
        return str(objects[PATH_OBJECTS[kind] if name == "pk" else name.removesuffix("_id")].pk)

    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", value, pattern)
    return "/" + path.replace("/?$", "").replace("$", "").rstrip("/") + ("/" if pattern.endswith("/") else "")


def expected_status(name, method, role, served):
    if role in ("anonymous", "wrong_password", "wrong_signature"):
        if role == "anonymous" and name in PUBLIC:
            return SUCCESS[method] if method in served else 405
        return 401
    if method not in served:
        return 405
    if method == "OPTIONS":
        return 200
    key = (name, "GET" if method == "HEAD" else method)
    if role == "feeder" and method not in ("GET", "HEAD"):
        rule = OK if key in FEEDER_WRITES else 403
        return (200 if method in ("PUT", "PATCH") else SUCCESS[method]) if rule == OK else rule
    if role in AGENTS:
        rule = AGENT_RULES.get(key, {}).get(role, RULES[key][AGENT_SAME_AS[role]])
        if rule == OK and method in ("PUT", "PATCH"):
            return 200  # a signed request is on the modern wire (SPEC §9): the row comes back
    else:
        rule = RULES[key][role]
    return SUCCESS[method] if rule == OK else rule


@pytest.fixture
def cast(
    team,
    other_team,
    user,
    team_admin,
    colleague,
    other_user,
    other_admin,
    super_admin,
    other_remoteci,
    product,
    feeder,
    component_file,
    jobstate,
    file,
    pipeline,
):
    """Every role's user, and the lab's objects the paths and bodies name."""
    import io
    from types import SimpleNamespace

    from dciserver.models import AuditLog
    from events.models import Delivery, RemoteciFollower, Webhook
    from events.tests.working import work
    from files.models import Test as LineTest
    from files.models import TestCase as Case
    from files.services import file_create
    from jobs.models import Component, Job
    from jobs.services import jobstate_create

    job = jobstate.job
    # The lab's JUnit report, whose test the test routes name.
    junit = b'<testsuite name="s"><testcase classname="c" name="ok"/></testsuite>'
    report = file_create(job=job, name="tests.xml", mime="application/junit", stream=io.BytesIO(junit))
    test = LineTest.objects.get(pk=Case.objects.get(job=job).test_id)
    audit = AuditLog.objects.create(
        user=user, user_name=user.name, team=team, action="create", resource="job", method="POST", status_code=201
    )
    # The lab's webhook, and a failed job of the lab's: its event, dispatched and tried once.
    webhook = Webhook.objects.create(team=team, name="hook", url="http://127.0.0.1:9/hook", kinds=["job_finished"])
    failed = Job.objects.create(remoteci=job.remoteci, topic=job.topic, team=team, name="failed")
    jobstate_create(job=failed, status="failure")
    work()
    delivery = Delivery.objects.get(webhook=webhook)
    # A colleague following the lab's remoteci (/remotecis/<id>/users/<user_id>).
    RemoteciFollower.objects.create(remoteci=job.remoteci, user=colleague)
    users = {
        "user": user,
        "team_admin": team_admin,
        "other_user": other_user,
        "other_admin": other_admin,
        "super_admin": super_admin,
        "agent": job.remoteci,
        "other_agent": other_remoteci,
        "feeder": feeder,
    }
    objects = {
        "team": team,
        "other_team": other_team,
        "colleague": colleague,
        "remoteci": job.remoteci,
        "product": product,
        "lab_feeder": feeder,
        "component_file": component_file,
        "topic": job.topic,
        "component": job.components.get(),
        "jobdefinition": job.jobdefinition,
        "job": job,
        "jobstate": jobstate,
        "file": report,
        "audit": audit,
        "pipeline": pipeline,
        "test": test,
        # The topic's other type: a follow-up or a signed schedule finds a component of each.
        "kernel": Component.objects.create(name="kernel-6.1", type="kernel", topic=job.topic),
        "webhook": webhook,
        "delivery": delivery,
        "event": delivery.event,
        "user": colleague,
        # The first job event, for /jobs_events/<sequence>.
        "sequence": SimpleNamespace(pk=0),
    }
    return users, objects


def client_as(role, users):
    if role == "anonymous":
        return client_for(None)
    if role == "wrong_password":
        return client_for(users["user"], password="not-" + PASSWORD)
    if role == "wrong_signature":
        return SignedClient(users["agent"], secret="not-" + users["agent"].api_secret)
    if role == "feeder":
        return SignedClient(users[role], kind="feeder")
    if role in AGENTS:
        return SignedClient(users[role])
    return client_for(users[role])


def body_of(name, method, objects):
    template = BODIES.get((name, method))
    if template is None:
        return None
    return {
        k: v.format(**{o: row.pk for o, row in objects.items()}) if isinstance(v, str) else v
        for k, v in template.items()
    }


def etag_header(pattern, name, role, users, objects):
    """The current etag of what a write at this route changes (the caller's own row for ``/users/me``)."""
    if name == "user-me":
        target = users.get(role)
    elif name == "jobs-events-sequence":
        from jobs.services import counter_get

        target = counter_get()
    else:
        kind = pattern.removeprefix("api/v1/").split("/")[0].removesuffix("s")
        target = objects.get(PATH_OBJECTS.get(kind, "")) if "(?P<pk>" in pattern else None
    if target is None or not hasattr(target, "etag"):
        return {}
    return {"HTTP_IF_MATCH": type(target).objects.get(pk=target.pk).etag}


def call(role, method, path, body, headers, users):
    client = client_as(role, users)
    return (
        getattr(client, method.lower())(path, body, format="json", **headers)
        if body is not None
        else (getattr(client, method.lower())(path, **headers))
    )


@pytest.mark.parametrize("name,pattern,served", ROUTES, ids=[f"{name} {pattern}" for name, pattern, _ in ROUTES])
def test_the_route_answers_each_role_and_method_as_the_rules_say(cast, name, pattern, served):
    users, objects = cast
    path = concrete_path(pattern, objects)
    mismatches = []
    for method in METHODS:
        for role in ROLES:
            headers = etag_header(pattern, name, role, users, objects) if method in ("PUT", "PATCH", "DELETE") else {}
            with transaction.atomic():
                response = call(role, method, path, body_of(name, method, objects), headers, users)
                transaction.set_rollback(True)
            expected = expected_status(name, method, role, served)
            if response.status_code != expected:
                mismatches.append(f"{method} {path} as {role}: {response.status_code}, expected {expected}")
            if response.status_code >= 400 and method != "HEAD":
                body = response.json()
                assert body["status_code"] == response.status_code, (method, path, role, body)
            if response.status_code == 401:
                assert response["WWW-Authenticate"] == 'Basic realm="DCI"', (method, path, role)
    assert not mismatches, "\n".join(mismatches)


def test_every_route_has_a_rule():
    """A route added to the URL configuration without a rule here fails this test (and so does a stale rule)."""
    served = {(name, method) for name, _, methods in ROUTES for method in methods if method not in ("HEAD", "OPTIONS")}

    assert sorted(served - set(RULES)) == [], "routes without a rule"
    assert sorted(set(RULES) - served) == [], "rules without a route"
    assert all(name for name, _, _ in ROUTES), "every /api/ route has a name"
