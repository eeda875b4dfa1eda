"""Who may do what (SPEC §2), as data: one row per route and role, with the status the SPEC gives.

The lab team owns the objects in the paths; ``other_*`` roles belong to the rival team, for
whom those objects do not exist (404, whatever the method). Every allowed row has denied
twins in the same line.
"""

import re

import pytest

from conftest import PASSWORD, client_for
from dciserver.tests.resources import RESOURCES, each

pytestmark = pytest.mark.django_db

API = "/api/v1"
ROLES = ("anonymous", "wrong_password", "user", "team_admin", "other_user", "other_admin", "super_admin")

# fmt: off
MATRIX = [
    # method    path                                      anon wrong user  tadm  ouser oadm  super
    ("GET",    "/identity",                              401, 401, 200, 200, 200, 200, 200),
    ("GET",    "/teams",                                 401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/teams",                                 401, 401, 403, 403, 403, 403, 201),
    ("GET",    "/teams/{team}",                          401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/teams/{team}",                          401, 401, 403, 204, 404, 404, 204),
    ("DELETE", "/teams/{team}",                          401, 401, 403, 403, 404, 404, 204),
    ("GET",    "/teams/{team}/remotecis",                401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/teams/{team}/users",                    401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/users",                                 401, 401, 200, 200, 200, 200, 200),
    # Another team's team_id in a body is as unknown as a made-up one: 400 on that field.
    ("POST",   "/users",                                 401, 401, 403, 201, 400, 400, 201),
    ("GET",    "/users/{colleague}",                     401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/users/{colleague}",                     401, 401, 403, 204, 404, 404, 204),
    ("DELETE", "/users/{colleague}",                     401, 401, 403, 204, 404, 404, 204),
    ("GET",    "/users/me",                              401, 401, 200, 200, 200, 200, 200),
    ("PUT",    "/users/me",                              401, 401, 204, 204, 204, 204, 204),
    ("GET",    "/remotecis",                             401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/remotecis",                             401, 401, 201, 201, 400, 400, 201),
    ("GET",    "/remotecis/{remoteci}",                  401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/remotecis/{remoteci}",                  401, 401, 204, 204, 404, 404, 204),
    ("DELETE", "/remotecis/{remoteci}",                  401, 401, 204, 204, 404, 404, 204),
    ("GET",    "/remotecis/{remoteci}/data?keys=arch",   401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/remotecis/{remoteci}/api_secret",       401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/feeders",                               401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/feeders",                               401, 401, 403, 403, 400, 400, 201),
    ("GET",    "/feeders/{feeder}",                      401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/feeders/{feeder}",                      401, 401, 403, 403, 404, 404, 204),
    ("DELETE", "/feeders/{feeder}",                      401, 401, 403, 403, 404, 404, 204),
    ("PUT",    "/feeders/{feeder}/api_secret",           401, 401, 403, 200, 404, 404, 200),
    ("GET",    "/products",                              401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/products",                              401, 401, 403, 403, 403, 403, 201),
    ("GET",    "/products/{product}",                    401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/products/{product}",                    401, 401, 403, 403, 404, 404, 204),
    ("DELETE", "/products/{product}",                    401, 401, 403, 403, 404, 404, 204),
    ("GET",    "/products/{product}/teams",              401, 401, 403, 403, 404, 404, 200),
    ("POST",   "/products/{product}/teams",              401, 401, 403, 403, 404, 404, 201),
    ("DELETE", "/products/{product}/teams/{team}",       401, 401, 403, 403, 404, 404, 204),
    ("GET",    "/teams/{team}/products",                 401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/topics",                                401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/topics",                                401, 401, 403, 403, 403, 403, 201),
    ("GET",    "/topics/{topic}",                        401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/topics/{topic}",                        401, 401, 403, 403, 404, 404, 204),
    ("DELETE", "/topics/{topic}",                        401, 401, 403, 403, 404, 404, 204),
    ("GET",    "/topics/{topic}/teams",                  401, 401, 200, 200, 404, 404, 200),
    ("POST",   "/topics/{topic}/teams",                  401, 401, 403, 403, 404, 404, 201),
    ("DELETE", "/topics/{topic}/teams/{team}",           401, 401, 403, 403, 404, 404, 204),
    ("GET",    "/topics/{topic}/components",             401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/topics/{topic}/jobdefinitions",         401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/components",                            401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/components",                            401, 401, 403, 403, 400, 400, 201),
    ("GET",    "/components/{component}",                401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/components/{component}",                401, 401, 403, 403, 404, 404, 204),
    ("DELETE", "/components/{component}",                401, 401, 403, 403, 404, 404, 204),
    ("GET",    "/components/{component}/files",          401, 401, 200, 200, 404, 404, 200),
    ("POST",   "/components/{component}/files",          401, 401, 403, 403, 404, 404, 201),
    ("GET",    "/components/{component}/files/{component_file}", 401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/components/{component}/files/{component_file}/content", 401, 401, 200, 200, 404, 404, 200),
    ("DELETE", "/components/{component}/files/{component_file}", 401, 401, 403, 403, 404, 404, 204),
    ("GET",    "/jobdefinitions",                        401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/jobdefinitions",                        401, 401, 403, 403, 400, 400, 201),
    ("GET",    "/jobdefinitions/{jobdefinition}",        401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/jobdefinitions/{jobdefinition}",        401, 401, 403, 403, 404, 404, 204),
    ("DELETE", "/jobdefinitions/{jobdefinition}",        401, 401, 403, 403, 404, 404, 204),
    ("GET",    "/jobs",                                  401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/jobs",                                  401, 401, 201, 201, 400, 400, 201),
    ("GET",    "/jobs/{job}",                            401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/jobs/{job}",                            401, 401, 204, 204, 404, 404, 204),
    ("DELETE", "/jobs/{job}",                            401, 401, 403, 204, 404, 404, 204),
    ("GET",    "/jobs/{job}/jobstates",                  401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/jobs/{job}/components",                 401, 401, 200, 200, 404, 404, 200),
    ("POST",   "/jobs/{job}/recheck",                    401, 401, 201, 201, 404, 404, 201),
    ("POST",   "/jobs/recheck",                          401, 401, 201, 201, 404, 404, 201),
    ("POST",   "/jobs/schedule",                         401, 401, 201, 201, 404, 404, 201),
    ("GET",    "/jobstates",                             401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/jobstates",                             401, 401, 201, 201, 400, 400, 201),
    ("GET",    "/jobstates/{jobstate}",                  401, 401, 200, 200, 404, 404, 200),
    ("DELETE", "/jobstates/{jobstate}",                  401, 401, 403, 204, 404, 404, 204),
    ("GET",    "/jobs/{job}/files",                      401, 401, 200, 200, 404, 404, 200),
    ("POST",   "/jobs/{job}/files",                      401, 401, 201, 201, 404, 404, 201),
    ("GET",    "/jobs/{job}/results",                    401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/files",                                 401, 401, 200, 200, 200, 200, 200),
    # An unseen job_id: 404 here and in /jobs/schedule, /jobs/recheck; 400 on the field for the
    # serializer-validated bodies above (users, remotecis, jobs, jobstates). Both hide existence.
    ("POST",   "/files",                                 401, 401, 201, 201, 404, 404, 201),
    ("GET",    "/files/{file}",                          401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/files/{file}/content",                  401, 401, 200, 200, 404, 404, 200),
    ("DELETE", "/files/{file}",                          401, 401, 403, 204, 404, 404, 204),
    # The 2025 job model (SPEC §12–§13).
    ("GET",    "/pipelines",                             401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/pipelines",                             401, 401, 201, 201, 400, 400, 201),
    ("GET",    "/pipelines/{pipeline}",                  401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/pipelines/{pipeline}",                  401, 401, 204, 204, 404, 404, 204),
    ("DELETE", "/pipelines/{pipeline}",                  401, 401, 204, 204, 404, 404, 204),
    ("GET",    "/pipelines/{pipeline}/jobs",             401, 401, 200, 200, 404, 404, 200),
    ("POST",   "/jobs/{job}/kv",                         401, 401, 201, 201, 404, 404, 201),
    ("DELETE", "/jobs/{job}/kv",                         401, 401, 204, 204, 404, 404, 204),
    ("POST",   "/jobs/{job}/components",                 401, 401, 201, 201, 404, 404, 201),
    ("DELETE", "/jobs/{job}/components/{component}",     401, 401, 204, 204, 404, 404, 204),
    ("POST",   "/jobs/{job}/update",                     401, 401, 201, 201, 404, 404, 201),
    # The lab's topic has no next topic: its readers learn that (400), others nothing (404).
    ("POST",   "/jobs/upgrade",                          401, 401, 400, 400, 404, 404, 400),
    ("GET",    "/jobs_events/0",                         401, 401, 403, 403, 403, 403, 200),
    ("DELETE", "/jobs_events/0",                         401, 401, 403, 403, 403, 403, 204),
    ("GET",    "/jobs_events/sequence",                  401, 401, 403, 403, 403, 403, 200),
    ("PUT",    "/jobs_events/sequence",                  401, 401, 403, 403, 403, 403, 204),
    # Test results as data (SPEC §15).
    ("GET",    "/files/{report}/junit",                  401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/jobs/{job}/tests",                      401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/jobs/{job}/tests?baseline={job}",       401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/tests",                                 401, 401, 200, 200, 200, 200, 200),
    ("GET",    "/tests/{test}",                          401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/tests/{test}/history",                  401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/topics/{topic}/flaky_tests",            401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/remotecis/{remoteci}/flaky_tests",      401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/audits",                                401, 401, 403, 200, 403, 200, 200),
    ("GET",    "/audits/{audit}",                        401, 401, 403, 200, 403, 404, 200),
    # Events out (SPEC §17): a team's webhooks, managed by its admins (a rival admin makes one in
    # its own team), their deliveries, the events; following topics and remotecis.
    ("GET",    "/webhooks",                              401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/webhooks",                              401, 401, 403, 201, 403, 201, 201),
    ("GET",    "/webhooks/{webhook}",                    401, 401, 200, 200, 404, 404, 200),
    ("PUT",    "/webhooks/{webhook}",                    401, 401, 403, 204, 404, 404, 204),
    ("PUT",    "/webhooks/{webhook}/secret",             401, 401, 403, 200, 404, 404, 200),
    ("GET",    "/webhooks/{webhook}/deliveries",         401, 401, 200, 200, 404, 404, 200),
    ("DELETE", "/webhooks/{webhook}",                    401, 401, 403, 204, 404, 404, 204),
    ("GET",    "/deliveries",                            401, 401, 200, 200, 200, 200, 200),
    ("GET",    "/deliveries/{delivery}",                 401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/deliveries/{delivery}/attempts",        401, 401, 200, 200, 404, 404, 200),
    ("POST",   "/deliveries/{delivery}/redeliver",       401, 401, 403, 202, 404, 404, 202),
    ("GET",    "/events",                                401, 401, 200, 200, 200, 200, 200),
    ("GET",    "/events/{event}",                        401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/events/{event}/deliveries",             401, 401, 200, 200, 404, 404, 200),
    ("POST",   "/topics/{topic}/notifications",          401, 401, 201, 201, 404, 404, 201),
    ("DELETE", "/topics/{topic}/notifications",          401, 401, 204, 204, 404, 404, 204),
    ("GET",    "/topics/{topic}/notifications/users",    401, 401, 200, 200, 404, 404, 200),
    ("GET",    "/topics/notifications",                  401, 401, 200, 200, 200, 200, 200),
    ("POST",   "/remotecis/{remoteci}/users",            401, 401, 201, 201, 404, 404, 201),
    ("GET",    "/remotecis/{remoteci}/users",            401, 401, 200, 200, 404, 404, 200),
    ("DELETE", "/remotecis/{remoteci}/users/{colleague}", 401, 401, 403, 204, 404, 404, 204),
]
# fmt: on

BODIES = {
    ("POST", "/teams"): {"name": "new-lab"},
    ("PUT", "/teams/{team}"): {"name": "renamed-lab"},
    ("POST", "/users"): {"name": "new-user", "password": "pw", "team_id": "{team}"},
    ("PUT", "/users/{colleague}"): {"fullname": "Renamed Colleague"},
    ("PUT", "/users/me"): {"password": "a-new-password"},
    ("POST", "/remotecis"): {"name": "rack-new", "team_id": "{team}"},
    ("PUT", "/remotecis/{remoteci}"): {"name": "rack-renamed"},
    ("POST", "/feeders"): {"name": "new-feeder", "team_id": "{team}"},
    ("PUT", "/feeders/{feeder}"): {"name": "renamed-feeder"},
    ("POST", "/products"): {"name": "Ansible"},
    ("PUT", "/products/{product}"): {"description": "renamed"},
    ("POST", "/products/{product}/teams"): {"team_id": "{other_team}"},
    ("POST", "/topics"): {"name": "new-topic"},
    ("PUT", "/topics/{topic}"): {"name": "renamed-topic"},
    ("POST", "/topics/{topic}/teams"): {"team_id": "{other_team}"},
    ("POST", "/components"): {"name": "new-component", "type": "compose", "topic_id": "{topic}"},
    ("PUT", "/components/{component}"): {"title": "renamed"},
    ("POST", "/jobdefinitions"): {"name": "new-jobdefinition", "topic_id": "{topic}"},
    ("PUT", "/jobdefinitions/{jobdefinition}"): {"priority": 7},
    ("POST", "/jobs"): {"remoteci_id": "{remoteci}", "jobdefinition_id": "{jobdefinition}"},
    ("PUT", "/jobs/{job}"): {"comment": "renamed"},
    ("POST", "/jobs/recheck"): {"job_id": "{job}"},
    ("POST", "/jobs/schedule"): {"remoteci_id": "{remoteci}", "topic_id": "{topic}"},
    ("POST", "/jobstates"): {"job_id": "{job}", "status": "running"},
    ("POST", "/jobs/{job}/files"): {"name": "seed.log", "content": "hello", "mime": "text/plain"},
    ("POST", "/files"): {"name": "json.log", "content": "hello", "job_id": "{job}"},
    ("POST", "/pipelines"): {"name": "weekly", "team_id": "{team}"},
    ("PUT", "/pipelines/{pipeline}"): {"name": "renamed"},
    ("POST", "/jobs/{job}/kv"): {"key": "nodes", "value": 3},
    ("DELETE", "/jobs/{job}/kv"): {"key": "nodes"},
    ("POST", "/jobs/{job}/components"): {"id": "{kernel}"},
    ("POST", "/jobs/upgrade"): {"job_id": "{job}"},
    ("PUT", "/jobs_events/sequence"): {"sequence": 1},
    ("POST", "/webhooks"): {"name": "new-hook", "url": "https://ci.example.com/hook", "kinds": ["job_failed"]},
    ("PUT", "/webhooks/{webhook}"): {"name": "renamed-hook"},
}

ROWS = [
    pytest.param(method, path, role, expected, id=f"{method} {path} as {role}")
    for method, path, *statuses in MATRIX
    for role, expected in zip(ROLES, statuses, strict=True)
]


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
    remoteci,
    feeder,
    component_file,
    topic,
    product,
    component,
    jobdefinition,
    job,
    jobstate,
    file,
    pipeline,
):
    import io

    from dciserver.models import AuditLog
    from events.models import Delivery, RemoteciFollower, Webhook
    from events.tests.working import work
    from files.models import Test as LineTest
    from files.models import TestCase as Case
    from files.services import file_create
    from jobs.models import Component

    # The topic's other type, for a follow-up job on its newest components and to attach.
    kernel = Component.objects.create(name="kernel-6.1", type="kernel", topic=topic)
    # The lab's JUnit report, and its test.
    junit = b'<testsuite name="s"><testcase classname="c" name="ok"/></testsuite>'
    report = file_create(job=job, name="tests.xml", mime="application/junit", stream=io.BytesIO(junit))
    test = LineTest.objects.get(pk=Case.objects.get(job=job).test_id)

    audit = AuditLog.objects.create(
        user=user,
        user_name=user.name,
        team=team,
        action="create",
        resource="remoteci",
        method="POST",
        path="/api/v1/remotecis",
        status_code=201,
    )
    # The lab's webhook, and a failed job of the lab's: its event, dispatched and tried once; a
    # colleague following the lab's remoteci.
    from jobs.models import Job
    from jobs.services import jobstate_create

    webhook = Webhook.objects.create(team=team, name="hook", url="http://127.0.0.1:9/hook", kinds=["job_finished"])
    failed = Job.objects.create(remoteci=remoteci, topic=topic, team=team, name="failed")
    jobstate_create(job=failed, status="failure")
    work()
    delivery = Delivery.objects.get(webhook=webhook)
    RemoteciFollower.objects.create(remoteci=remoteci, user=colleague)
    """Every role's user, and the lab's objects the paths name."""
    return {
        "users": {
            "user": user,
            "team_admin": team_admin,
            "other_user": other_user,
            "other_admin": other_admin,
            "super_admin": super_admin,
        },
        "objects": {
            "team": team,
            "other_team": other_team,
            "colleague": colleague,
            "remoteci": remoteci,
            "feeder": feeder,
            "component_file": component_file,
            "product": product,
            "topic": topic,
            "component": component,
            "jobdefinition": jobdefinition,
            "job": job,
            "jobstate": jobstate,
            "file": file,
            "audit": audit,
            "pipeline": pipeline,
            "kernel": kernel,
            "report": report,
            "test": test,
            "webhook": webhook,
            "delivery": delivery,
            "event": delivery.event,
        },
    }


def client_as(role, cast):
    if role == "anonymous":
        return client_for(None)
    if role == "wrong_password":
        return client_for(cast["users"]["user"], password="not-" + PASSWORD)
    return client_for(cast["users"][role])


def fill(template, objects):
    return template.format(**{name: instance.pk for name, instance in objects.items()})


def etag_for(path, role, cast):
    """The current etag of what a PUT or DELETE at ``path`` writes (the caller for ``/users/me``)."""
    if path == "/users/me":
        target = cast["users"].get(role, cast["users"]["user"])
    elif path == "/jobs_events/sequence":
        from jobs.services import counter_get

        target = counter_get()
    else:
        names = re.findall(r"{(\w+)}", path)
        target = cast["objects"][names[-1]] if names else None
    if target is None or not hasattr(target, "etag"):
        return {}
    target.refresh_from_db(fields=["etag"])
    return {"HTTP_IF_MATCH": target.etag}


@pytest.mark.parametrize("method,path,role,expected", ROWS)
def test_the_permission_matrix(cast, method, path, role, expected):
    objects = cast["objects"]
    body = {
        key: fill(value, objects) if isinstance(value, str) else value
        for key, value in BODIES.get((method, path), {}).items()
    }
    headers = etag_for(path, role, cast) if method in ("PUT", "DELETE") else {}

    response = getattr(client_as(role, cast), method.lower())(
        API + fill(path, objects), body or None, format="json", **headers
    )

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response.json()["status_code"] == expected
    if expected == 401:
        assert response["WWW-Authenticate"] == 'Basic realm="DCI"'


def test_every_route_of_the_api_is_in_the_matrix():
    """A route added to the API without a row here fails this test."""
    from django.urls import get_resolver

    def patterns(resolver, prefix=""):
        for entry in resolver.url_patterns:
            pattern = prefix + str(entry.pattern)
            if hasattr(entry, "url_patterns"):
                yield from patterns(entry, pattern)
            else:
                yield pattern

    routes = {p for p in patterns(get_resolver()) if p.startswith("api/v1/") and "format" not in p}
    matrix = {path.split("?")[0] for _, path, *_ in MATRIX}

    def covered(route):
        regex = re.compile("^" + route.removeprefix("api/v1/").lstrip("^").rstrip("$"))
        return any(regex.match(path.lstrip("/")) for path in matrix) or route in ("api/v1/", "api/v1/^/?$")

    missing = sorted(r for r in routes if not covered(r))
    assert missing == []


# Another team's objects do not exist, whatever the method --------------------------------


def writes(methods):
    """(resource, method) pairs; PUT only where the resource is mutable (immutable ones answer 405 to all)."""
    return pytest.mark.parametrize(
        "resource,method",
        [pytest.param(r, m, id=f"{m}-{r}") for r in RESOURCES for m in methods if m != "PUT" or r.mutable],
    )


@writes(["GET", "PUT", "DELETE"])
def test_another_teams_row_is_not_found_and_left_alone(resource, row, method, other_user, other_admin):
    before = type(row).objects.get(pk=row.pk)
    headers = {"HTTP_IF_MATCH": before.etag} if hasattr(before, "etag") else {}

    for outsider in (other_user, other_admin):
        response = getattr(client_for(outsider), method.lower())(
            resource.url_of(row), resource.update_body or None, format="json", **headers
        )
        assert response.status_code == 404, (outsider, response.content)
        assert response.json()["status_code"] == 404

    after = type(row).objects.get(pk=row.pk)
    assert after.archived_at is None
    assert getattr(after, "etag", None) == getattr(before, "etag", None)


@writes(["PUT", "DELETE"])
def test_another_teams_row_is_not_found_even_without_an_etag(resource, row, method, outsider_client):
    response = getattr(outsider_client, method.lower())(resource.url_of(row), resource.update_body or None)

    assert response.status_code == 404, response.content


@each(RESOURCES)
def test_another_teams_rows_are_not_listed(resource, row, outsider_client, admin_client):
    listed = outsider_client.get(resource.url).json()[resource.plural]

    assert str(row.pk) not in {item["id"] for item in listed}
    assert str(row.pk) in {
        item["id"] for item in admin_client.get(resource.url, {"limit": 1000}).json()[resource.plural]
    }


# Finer points of who may write what ---------------------------------------------------------


def put(client, url, body, instance):
    instance.refresh_from_db(fields=["etag"])
    return client.put(url, body, format="json", HTTP_IF_MATCH=instance.etag)


def test_a_plain_user_may_change_their_own_password_but_not_their_role(user_client, user):
    assert put(user_client, f"{API}/users/{user.pk}", {"role": "admin"}, user).status_code == 403
    # A role in the body is refused (403 naming it), not silently dropped; nothing is written.
    assert put(user_client, f"{API}/users/me", {"role": "admin", "password": "other"}, user).status_code == 403
    assert put(user_client, f"{API}/users/me", {"role": "user", "password": "changed"}, user).status_code == 204

    user.refresh_from_db()
    assert user.role == "user"
    assert user.check_password("changed")


def test_a_team_admin_may_not_move_a_user_to_another_team(team_admin_client, colleague, other_team):
    response = put(team_admin_client, f"{API}/users/{colleague.pk}", {"team_id": str(other_team.pk)}, colleague)

    assert response.status_code == 400
    colleague.refresh_from_db()
    assert colleague.team_id != other_team.pk


def test_a_team_admin_may_not_create_a_user_in_another_team(team_admin_client, other_team):
    response = team_admin_client.post(
        f"{API}/users", {"name": "mole", "password": "pw", "team_id": str(other_team.pk)}, format="json"
    )

    assert response.status_code == 400
    assert "team_id" in response.json()["payload"]["errors"]


def test_a_team_admin_creates_users_in_their_own_team_by_default(team_admin_client, team):
    response = team_admin_client.post(f"{API}/users", {"name": "recruit", "password": "pw"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["user"]["team_id"] == str(team.pk)


def test_nobody_deletes_themselves(team_admin_client, team_admin):
    team_admin.refresh_from_db()

    response = team_admin_client.delete(f"{API}/users/{team_admin.pk}", HTTP_IF_MATCH=team_admin.etag)

    assert response.status_code == 403


def test_the_admin_team_can_be_neither_renamed_nor_deleted(admin_client, admin_team):
    assert put(admin_client, f"{API}/teams/{admin_team.pk}", {"name": "root"}, admin_team).status_code == 403
    admin_team.refresh_from_db()
    assert admin_client.delete(f"{API}/teams/{admin_team.pk}", HTTP_IF_MATCH=admin_team.etag).status_code == 403


def test_a_member_may_not_move_a_remoteci_to_another_team(user_client, remoteci, other_team):
    response = put(user_client, f"{API}/remotecis/{remoteci.pk}", {"team_id": str(other_team.pk)}, remoteci)

    assert response.status_code == 400
    remoteci.refresh_from_db()
    assert remoteci.team_id != other_team.pk


def test_members_do_not_see_topics_their_team_is_not_subscribed_to(user_client, other_topic):
    assert user_client.get(f"{API}/topics/{other_topic.pk}").status_code == 404
    assert str(other_topic.pk) not in {t["id"] for t in user_client.get(f"{API}/topics").json()["topics"]}


def test_members_lose_a_topics_components_when_their_team_is_unsubscribed(
    admin_client, user_client, topic, team, component
):
    assert user_client.get(f"{API}/components/{component.pk}").status_code == 200

    assert admin_client.delete(f"{API}/topics/{topic.pk}/teams/{team.pk}").status_code == 204

    assert user_client.get(f"{API}/components/{component.pk}").status_code == 404
    assert user_client.get(f"{API}/topics/{topic.pk}").status_code == 404


def test_subscribing_a_team_lets_its_members_read_the_topic(admin_client, outsider_client, topic, other_team):
    response = admin_client.post(f"{API}/topics/{topic.pk}/teams", {"team_id": str(other_team.pk)}, format="json")

    assert response.status_code == 201, response.content
    assert outsider_client.get(f"{API}/topics/{topic.pk}").status_code == 200
    teams = admin_client.get(f"{API}/topics/{topic.pk}/teams").json()["teams"]
    assert {t["id"] for t in teams} == {str(topic.teams.get(name="lab").pk), str(other_team.pk)}


def test_a_user_without_a_team_sees_only_themselves(db, user):
    from teams.models import User

    loner = User.objects.create_user("loner", PASSWORD, team=None)
    client = client_for(loner)

    assert [u["id"] for u in client.get(f"{API}/users").json()["users"]] == [str(loner.pk)]
    assert client.get(f"{API}/users/{user.pk}").status_code == 404
    assert client.get(f"{API}/remotecis").json()["_meta"]["count"] == 0
    assert client.post(f"{API}/remotecis", {"name": "orphan"}, format="json").status_code == 403
