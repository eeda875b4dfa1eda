"""The Django admin (SPEC §8): every registered model opens and searches for super admins, and only for them."""

import pytest
from django.contrib import admin
from django.urls import reverse

from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _auditlog(cast):
    from dciserver.models import AuditLog

    return AuditLog.objects.create(
        user=cast["user"],
        user_name="auditor-trail",
        team=cast["team"],
        action="create",
        resource="remoteci",
        object_id=str(cast["remoteci"].pk),
        method="POST",
        path="/api/v1/remotecis",
        status_code=201,
    )


def _file(cast):
    from files.models import File

    return File.objects.create(name="console.log", job=cast["job"], team=cast["team"], size=3, md5="abc")


def _junit(cast):
    from files.models import File, JUnitResult

    junit = File.objects.create(name="junit.xml", mime="application/junit", job=cast["job"], team=cast["team"])
    return JUnitResult.objects.create(file=junit, job=cast["job"], name="pytest-suite", total=3)


def _junit_upload(cast):
    import io

    from files.services import file_create

    xml = b'<testsuite name="boot"><testcase classname="smoke" name="test_boot"/></testsuite>'
    return file_create(job=cast["job"], name="t.xml", mime="application/junit", stream=io.BytesIO(xml))


def _test_case(cast):
    from files.models import TestCase

    _junit_upload(cast)
    return TestCase.objects.get(name="test_boot")


def _test(cast):
    from files.models import Test

    _junit_upload(cast)
    return Test.objects.get(name="test_boot")


def _feeder(cast):
    from teams.models import Feeder

    return Feeder.objects.create(name="koji-feeder", team=cast["team"])


def _product(cast):
    from jobs.models import Product, ProductTeam

    product = Product.objects.create(name="OpenShift", label="OPENSHIFT")
    ProductTeam.objects.create(product=product, team=cast["team"])
    return product


def _pipeline(cast):
    from jobs.models import Pipeline

    return Pipeline.objects.create(name="nightly-ocp", team=cast["team"])


def _job_event(cast):
    from jobs.models import JobEvent
    from jobs.services import jobstate_create

    jobstate_create(job=cast["job"], status="success")
    return JobEvent.objects.get(job=cast["job"])


def _task(cast):
    from django_tasks_db.models import DBTaskResult

    from jobs.services import jobstate_create

    jobstate_create(job=cast["job"], status="failure")  # its event, and the task dispatching it
    return DBTaskResult.objects.get(task_path="events.tasks.event_dispatch")


def _event(cast):
    from events.models import Event
    from jobs.services import jobstate_create

    jobstate_create(job=cast["job"], status="failure")
    return Event.objects.get(job=cast["job"])


def _webhook(cast):
    from events.models import Webhook

    return Webhook.objects.create(
        team=cast["team"], name="ci-bot", url="https://ci.example.com/hook", kinds=["job_failed"]
    )


def _delivery(cast):
    import uuid

    from events.models import Delivery

    return Delivery.objects.create(
        event=_event(cast),
        channel="webhook",
        webhook=_webhook(cast),
        team=cast["team"],
        idempotency_key=uuid.uuid4(),
        max_attempts=10,
    )


def _topic_follower(cast):
    from events.models import TopicFollower

    return TopicFollower.objects.create(topic=cast["topic"], user=cast["user"])


def _remoteci_follower(cast):
    from events.models import RemoteciFollower

    return RemoteciFollower.objects.create(remoteci=cast["remoteci"], user=cast["user"])


# For each registered model: how to get a row, and a text its search finds (besides its id).
ROWS = {
    "dciserver.AuditLog": (_auditlog, "auditor-trail"),
    "teams.Team": (lambda c: c["team"], "lab"),
    "teams.User": (lambda c: c["user"], "lab-user"),
    "teams.RemoteCI": (lambda c: c["remoteci"], "rack-1"),
    "teams.Feeder": (_feeder, "koji-feeder"),
    "jobs.Product": (_product, "OpenShift"),
    "jobs.Topic": (lambda c: c["topic"], "RHEL-9"),
    "jobs.Component": (lambda c: c["component"], "RHEL-9.4-20260101"),
    "jobs.JobDefinition": (lambda c: c["jobdefinition"], "install"),
    "jobs.Job": (lambda c: c["job"], "rack-1"),
    "jobs.JobState": (lambda c: c["jobstate"], "booting"),
    "jobs.Pipeline": (_pipeline, "nightly-ocp"),
    "jobs.JobEvent": (_job_event, "success"),
    "files.File": (_file, "console.log"),
    "files.JUnitResult": (_junit, "pytest-suite"),
    "files.TestCase": (_test_case, "test_boot"),
    "files.Test": (_test, "test_boot"),
    "django_tasks_database.DBTaskResult": (_task, "event_dispatch"),
    "events.Webhook": (_webhook, "ci-bot"),
    "events.Event": (_event, "job_finished"),
    "events.Delivery": (_delivery, "ci-bot"),
    "events.TopicFollower": (_topic_follower, "lab-user"),
    "events.RemoteciFollower": (_remoteci_follower, "lab-user"),
}
REGISTERED = sorted(model._meta.label for model in admin.site._registry)


@pytest.fixture
def cast(team, user, remoteci, topic, component, jobdefinition, job, jobstate):
    return {
        "team": team,
        "user": user,
        "remoteci": remoteci,
        "topic": topic,
        "component": component,
        "jobdefinition": jobdefinition,
        "job": job,
        "jobstate": jobstate,
    }


@pytest.fixture
def super_admin_browser(client, super_admin):
    client.force_login(super_admin)
    return client


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def model_of(label):
    return next(model for model in admin.site._registry if model._meta.label == label)


def test_every_registered_model_has_a_row_recipe_here():
    assert sorted(ROWS) == REGISTERED


@pytest.mark.parametrize("label", REGISTERED)
def test_a_super_admin_opens_the_changelist_and_the_change_page(super_admin_browser, cast, label):
    model = model_of(label)
    make, _ = ROWS[label]
    row = make(cast)

    changelist = super_admin_browser.get(admin_url(model, "changelist"))
    change = super_admin_browser.get(admin_url(model, "change", row.pk))

    assert changelist.status_code == 200
    assert change.status_code == 200, change.content[:500]
    assert str(row.pk) in change.content.decode() or admin_url(model, "change", row.pk) in change.content.decode()


@pytest.mark.parametrize("label", REGISTERED)
def test_a_super_admin_finds_a_row_by_id_and_by_name(super_admin_browser, cast, label):
    model = model_of(label)
    make, text = ROWS[label]
    row = make(cast)
    link = admin_url(model, "change", row.pk)

    for term in (str(row.pk), text):
        response = super_admin_browser.get(admin_url(model, "changelist"), {"q": term})
        assert response.status_code == 200, (term, response.content[:300])
        assert link in response.content.decode(), term

    nothing = super_admin_browser.get(admin_url(model, "changelist"), {"q": "no-such-thing-anywhere"})
    assert link not in nothing.content.decode()


@pytest.mark.parametrize("label", REGISTERED)
def test_a_super_admin_opens_the_add_page_where_adding_is_allowed(super_admin_browser, label):
    model = model_of(label)

    response = super_admin_browser.get(admin_url(model, "add"))

    assert response.status_code == (200 if admin.site._registry[model].has_add_permission(_request()) else 403)


def _request():
    from django.test import RequestFactory

    from teams.models import User

    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(name="root")
    return request


@pytest.mark.parametrize("label", REGISTERED)
@pytest.mark.parametrize("who", ["team_admin", "user", "anonymous"])
def test_anyone_but_a_super_admin_is_sent_to_the_login_page(client, cast, team_admin, label, who):
    model = model_of(label)
    row = ROWS[label][0](cast)
    if who != "anonymous":
        client.force_login(team_admin if who == "team_admin" else cast["user"])

    for url in (reverse("admin:index"), admin_url(model, "changelist"), admin_url(model, "change", row.pk)):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login"))


def test_a_super_admin_logs_in_with_name_and_password(client, super_admin):
    response = client.post(
        reverse("admin:login"), {"username": super_admin.name, "password": PASSWORD, "next": "/admin/"}
    )

    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_team_admin_cannot_log_in_to_the_admin(client, team_admin):
    response = client.post(reverse("admin:login"), {"username": team_admin.name, "password": PASSWORD})

    assert response.status_code == 200  # the form again, with an error
    assert client.get(reverse("admin:index")).status_code == 302


def test_an_archived_row_is_restored_from_the_admin(super_admin_browser, remoteci, admin_client):
    remoteci.refresh_from_db()
    admin_client.delete(f"/api/v1/remotecis/{remoteci.pk}", HTTP_IF_MATCH=remoteci.etag)
    assert admin_client.get(f"/api/v1/remotecis/{remoteci.pk}").status_code == 404

    response = super_admin_browser.post(
        admin_url(type(remoteci), "changelist"),
        {"action": "restore", "_selected_action": [str(remoteci.pk)]},
    )

    assert response.status_code == 302
    assert admin_client.get(f"/api/v1/remotecis/{remoteci.pk}").status_code == 200


def test_a_remotecis_secret_is_rotated_from_the_admin_and_shown_once(super_admin_browser, remoteci):
    old = remoteci.api_secret
    changelist = admin_url(type(remoteci), "changelist")
    assert old.encode() not in super_admin_browser.get(changelist).content
    assert old.encode() not in super_admin_browser.get(admin_url(type(remoteci), "change", remoteci.pk)).content

    response = super_admin_browser.post(
        changelist, {"action": "rotate_secret", "_selected_action": [str(remoteci.pk)]}, follow=True
    )

    remoteci.refresh_from_db()
    assert remoteci.api_secret != old
    assert remoteci.api_secret.encode() in response.content  # shown this once, in the message
    assert remoteci.api_secret.encode() not in super_admin_browser.get(changelist).content
