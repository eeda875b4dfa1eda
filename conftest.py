"""Fixtures shared by every app's tests: a cast of teams and users, and a client per role."""

import base64
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

PASSWORD = "s3cret-password"

# Every response of the suite is searched for password hashes and the SECRET_KEY.
pytest_plugins = ["dciserver.tests.response_scan"]


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    """Uploaded bytes go to the test's temporary directory, never into the checkout's var/."""
    settings.DCI_FILES_ROOT = tmp_path / "files"
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "spool"
    settings.FILE_UPLOAD_TEMP_DIR.mkdir()


@pytest.fixture(autouse=True)
def _fast_hasher_and_fresh_cache(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


def basic(name, password=PASSWORD):
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def client_for(user, password=PASSWORD):
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=basic(user.name, password))
    return client


def signature_headers(name, secret, method, path, query="", body=b"", host="testserver", when=None):
    """The headers dciclient 4.x sends for a request signed as ``name`` (``remoteci/<id>``), made by
    dciauth as the client makes them; ``when`` (a naive UTC datetime) dates the signature."""
    from urllib.parse import parse_qsl

    from dciauth.v2.headers import DATESTAMP_FORMAT, TIMESTAMP_FORMAT, generate_headers

    request = {
        "method": method,
        "endpoint": path,
        "params": dict(parse_qsl(query)),
        "data": body,
        "host": host,
    }
    if when is not None:
        request.update(timestamp=when.strftime(TIMESTAMP_FORMAT), datestamp=when.strftime(DATESTAMP_FORMAT))
    headers = generate_headers(request, {"access_key": name, "secret_key": secret})
    return {"HTTP_AUTHORIZATION": headers["Authorization"], "HTTP_X_DCI_DATE": headers["X-DCI-Date"]}


class SignedClient(APIClient):
    """A test client signing every request as an agent (``remoteci/<id>`` and its secret), as
    dciclient 4.x does: over the method, the path, the query, the raw body and the Host header."""

    def __init__(self, row, secret=None, kind="remoteci", **kwargs):
        super().__init__(**kwargs)
        self.name, self.secret = f"{kind}/{row.pk}", row.api_secret if secret is None else secret

    def generic(self, method, path, data="", content_type="application/octet-stream", secure=False, **extra):
        from urllib.parse import urlsplit

        from django.utils.encoding import force_bytes

        parts = urlsplit(str(path))
        query = parts.query or extra.get("QUERY_STRING", "")
        extra.setdefault("HTTP_HOST", "testserver")
        signed = signature_headers(
            self.name, self.secret, method, parts.path, query, force_bytes(data), host=extra["HTTP_HOST"]
        )
        return super().generic(method, path, data, content_type, secure, **{**signed, **extra})


@pytest.fixture
def admin_team(db):
    from teams.models import Team

    # get_or_create: a transactional test flushes the tables, the data migration's row with them.
    team, _ = Team.objects.live().get_or_create(name="admin")
    return team


@pytest.fixture
def team(db):
    from teams.models import Team

    return Team.objects.create(name="lab")


@pytest.fixture
def other_team(db):
    from teams.models import Team

    return Team.objects.create(name="rival-lab")


def _user(name, team, role="user"):
    from teams.models import User

    return User.objects.create_user(name, PASSWORD, team=team, role=role)


@pytest.fixture
def super_admin(admin_team):
    return _user("root", admin_team, "admin")


@pytest.fixture
def team_admin(team):
    return _user("lab-admin", team, "admin")


@pytest.fixture
def user(team):
    return _user("lab-user", team)


@pytest.fixture
def colleague(team):
    """Another plain member of the lab: what a team admin manages and a plain user may not touch."""
    return _user("lab-colleague", team)


@pytest.fixture
def other_user(other_team):
    return _user("rival-user", other_team)


@pytest.fixture
def other_admin(other_team):
    return _user("rival-admin", other_team, "admin")


@pytest.fixture
def admin_client(super_admin):
    return client_for(super_admin)


@pytest.fixture
def team_admin_client(team_admin):
    return client_for(team_admin)


@pytest.fixture
def user_client(user):
    return client_for(user)


@pytest.fixture
def outsider_client(other_user):
    return client_for(other_user)


@pytest.fixture
def anonymous_client():
    return APIClient()


@pytest.fixture
def remoteci(team):
    from teams.models import RemoteCI

    return RemoteCI.objects.create(name="rack-1", team=team, data={"arch": "x86_64", "site": "brno"})


@pytest.fixture
def other_remoteci(other_team):
    from teams.models import RemoteCI

    return RemoteCI.objects.create(name="rival-rack", team=other_team)


@pytest.fixture
def topic(team):
    from jobs.models import Topic, TopicSubscription

    topic = Topic.objects.create(name="RHEL-9", component_types=["compose", "kernel"])
    TopicSubscription.objects.create(topic=topic, team=team)
    return topic


@pytest.fixture
def component(topic):
    from jobs.models import Component

    return Component.objects.create(name="RHEL-9.4-20260101", type="compose", topic=topic)


@pytest.fixture
def jobdefinition(topic):
    from jobs.models import JobDefinition

    return JobDefinition.objects.create(name="install", topic=topic, component_types=["compose"])


@pytest.fixture
def job(remoteci, jobdefinition, component):
    from jobs.models import Job

    job = Job.objects.create(
        remoteci=remoteci, jobdefinition=jobdefinition, topic=jobdefinition.topic, team=remoteci.team
    )
    job.components.add(component)
    return job


@pytest.fixture
def jobstate(job):
    from jobs.models import JobState

    return JobState.objects.create(job=job, team=job.team, status="running", comment="booting")


@pytest.fixture
def file(job):
    """A small text log of the lab's job, stored like an upload."""
    import io

    from files.services import file_create

    return file_create(job=job, name="console.log", stream=io.BytesIO(b"booting\n"))


@pytest.fixture
def product(team, topic):
    """The product of the lab's topic, linked to the lab (SPEC §11)."""
    from jobs.models import Product, ProductTeam

    product = Product.objects.create(name="RHEL", label="RHEL", description="Red Hat Enterprise Linux")
    ProductTeam.objects.create(product=product, team=team)
    type(topic).objects.filter(pk=topic.pk).update(product=product, export_control=True)
    topic.refresh_from_db()
    return product


@pytest.fixture
def component_file(component):
    """A file of the lab topic's component, stored like an upload."""
    import io

    from files.services import component_file_create

    return component_file_create(component=component, name="manifest.txt", stream=io.BytesIO(b"ocp 4.19\n"))


@pytest.fixture
def feeder(team):
    """The lab's feeder (SPEC §10): it signs as ``feeder/<id>`` and feeds the catalogue."""
    from teams.models import Feeder

    return Feeder.objects.create(name="koji-feeder", team=team, data={"source": "koji"})


@pytest.fixture
def pipeline(team):
    """The lab's pipeline (SPEC §12)."""
    from jobs.models import Pipeline

    return Pipeline.objects.create(name="nightly", team=team)


@pytest.fixture
def world(team, other_team, topic, component, jobdefinition, remoteci, job, product, feeder, pipeline):
    """The lab team's things, for factories that need a parent row."""
    return SimpleNamespace(
        team=team,
        other_team=other_team,
        product=product,
        feeder=feeder,
        topic=topic,
        component=component,
        jobdefinition=jobdefinition,
        remoteci=remoteci,
        job=job,
        pipeline=pipeline,
    )


@pytest.fixture
def events_rows(world):
    """A webhook of the lab and a job of its that failed, its event dispatched and tried once (the
    webhook's address refuses): an event, a delivery and its attempt."""
    from events.models import Webhook
    from events.tests.working import work
    from jobs.models import Job
    from jobs.services import jobstate_create

    Webhook.objects.create(team=world.team, name="lab-hook", url="http://127.0.0.1:9/hook", kinds=["job_finished"])
    failed = Job.objects.create(remoteci=world.remoteci, topic=world.topic, team=world.team, name="failed")
    jobstate_create(job=failed, status="failure")
    work()
    return failed


@pytest.fixture
def row(request, resource, world):
    """One row of the parametrized ``resource`` that the lab team sees."""
    return request.getfixturevalue(resource.fixture)


@pytest.fixture
def other_topic(other_team):
    """A topic the rival team is subscribed to and the lab is not."""
    from jobs.models import Topic, TopicSubscription

    topic = Topic.objects.create(name="Fedora-42", component_types=["compose"])
    TopicSubscription.objects.create(topic=topic, team=other_team)
    return topic


def if_match(instance):
    """The header a client sends back to write ``instance``: its current etag."""
    instance.refresh_from_db(fields=["etag"])
    return {"HTTP_IF_MATCH": instance.etag}
