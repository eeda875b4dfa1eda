"""Every DCI resource described once, for the generic contract tests.

A new resource in the API is one more row in ``RESOURCES``: how to make a row the lab
team can see, a POST body, a PUT body and the embeds the SPEC lists for it.
"""

from dataclasses import dataclass

import pytest
from django.apps import apps

from conftest import PASSWORD

API = "/api/v1"


@dataclass(frozen=True)
class Resource:
    plural: str
    singular: str
    model_label: str
    # The fixture giving one row the lab team sees (and owns, when the resource is owned).
    fixture: str
    # make(world, label) → a new row the lab team sees, carrying ``label`` in ``label_field``.
    make: object
    # create_body(world) → a valid POST body.
    create_body: object
    # A valid PUT body and the field it changes.
    update_body: dict
    label_field: str = "name"
    embeds: tuple = ()
    by_name: bool = True
    mutable: bool = True
    # The 2016 client deletes catalogue rows without an etag; the others must send one.
    delete_needs_etag: bool = True

    def __str__(self):
        return self.plural

    @property
    def model(self):
        return apps.get_model(self.model_label)

    @property
    def url(self):
        return f"{API}/{self.plural}"

    def url_of(self, instance):
        return f"{self.url}/{instance.pk}"


def _team(world, label):
    from teams.models import Team

    return Team.objects.create(name=label)


def _user(world, label):
    from teams.models import User

    return User.objects.create_user(label, PASSWORD, team=world.team)


def _remoteci(world, label):
    from teams.models import RemoteCI

    return RemoteCI.objects.create(name=label, team=world.team)


def _feeder(world, label):
    from teams.models import Feeder

    return Feeder.objects.create(name=label, team=world.team)


def _product(world, label):
    from jobs.models import Product, ProductTeam

    product = Product.objects.create(name=label, label=label.upper())
    ProductTeam.objects.create(product=product, team=world.team)
    return product


def _topic(world, label):
    from jobs.models import Topic, TopicSubscription

    topic = Topic.objects.create(name=label)
    TopicSubscription.objects.create(topic=topic, team=world.team)
    return topic


def _component(world, label):
    from jobs.models import Component

    return Component.objects.create(name=label, type="compose", topic=world.topic)


def _jobdefinition(world, label):
    from jobs.models import JobDefinition

    return JobDefinition.objects.create(name=label, topic=world.topic, component_types=["compose"])


def _job(world, label):
    from jobs.models import Job

    return Job.objects.create(
        remoteci=world.remoteci,
        jobdefinition=world.jobdefinition,
        topic=world.topic,
        team=world.team,
        comment=label,
    )


def _pipeline(world, label):
    from jobs.models import Pipeline

    return Pipeline.objects.create(name=label, team=world.team)


def _jobstate(world, label):
    from jobs.models import JobState

    return JobState.objects.create(job=world.job, team=world.team, status="running", comment=label)


def _file(world, label):
    import io

    from files.services import file_create

    return file_create(job=world.job, name=label, stream=io.BytesIO(b"log line\n"))


RESOURCES = [
    Resource(
        "teams",
        "team",
        "teams.Team",
        fixture="team",
        make=_team,
        create_body=lambda w: {"name": "created"},
        update_body={"name": "renamed"},
    ),
    Resource(
        "users",
        "user",
        "teams.User",
        fixture="user",
        make=_user,
        create_body=lambda w: {"name": "created", "password": "pw", "team_id": str(w.team.id)},
        update_body={"fullname": "Renamed Person"},
        embeds=("team",),
    ),
    Resource(
        "remotecis",
        "remoteci",
        "teams.RemoteCI",
        fixture="remoteci",
        make=_remoteci,
        create_body=lambda w: {"name": "created", "team_id": str(w.team.id), "data": {"arch": "aarch64"}},
        update_body={"name": "renamed"},
        embeds=("team",),
    ),
    Resource(
        "feeders",
        "feeder",
        "teams.Feeder",
        fixture="feeder",
        make=_feeder,
        create_body=lambda w: {"name": "created", "team_id": str(w.team.id)},
        update_body={"name": "renamed"},
        embeds=("team",),
    ),
    Resource(
        "products",
        "product",
        "jobs.Product",
        fixture="product",
        make=_product,
        create_body=lambda w: {"name": "created", "description": "made by the contract tests"},
        update_body={"name": "renamed"},
        embeds=("topics",),
    ),
    Resource(
        "topics",
        "topic",
        "jobs.Topic",
        fixture="topic",
        make=_topic,
        create_body=lambda w: {"name": "created", "component_types": ["compose"]},
        update_body={"name": "renamed"},
        delete_needs_etag=False,
    ),
    Resource(
        "components",
        "component",
        "jobs.Component",
        fixture="component",
        make=_component,
        create_body=lambda w: {"name": "created", "type": "compose", "topic_id": str(w.topic.id)},
        update_body={"title": "renamed"},
        embeds=("topic", "team"),
        delete_needs_etag=False,
    ),
    Resource(
        "jobdefinitions",
        "jobdefinition",
        "jobs.JobDefinition",
        fixture="jobdefinition",
        make=_jobdefinition,
        create_body=lambda w: {"name": "created", "topic_id": str(w.topic.id), "component_types": ["compose"]},
        update_body={"comment": "renamed"},
        embeds=("topic",),
        delete_needs_etag=False,
    ),
    Resource(
        "jobs",
        "job",
        "jobs.Job",
        fixture="job",
        make=_job,
        create_body=lambda w: {
            "remoteci_id": str(w.remoteci.id),
            "jobdefinition_id": str(w.jobdefinition.id),
            "components": [str(w.component.id)],
        },
        update_body={"comment": "renamed"},
        label_field="comment",
        embeds=(
            "team",
            "remoteci",
            "jobdefinition",
            "jobdefinition.topic",
            "topic",
            "components",
            "jobstates",
            "files",
            "results",
            "pipeline",
            "keys_values",
        ),
        by_name=False,
    ),
    Resource(
        "pipelines",
        "pipeline",
        "jobs.Pipeline",
        fixture="pipeline",
        make=_pipeline,
        create_body=lambda w: {"name": "created", "team_id": str(w.team.id)},
        update_body={"name": "renamed"},
        embeds=("team",),
        by_name=False,
    ),
    Resource(
        "jobstates",
        "jobstate",
        "jobs.JobState",
        fixture="jobstate",
        make=_jobstate,
        create_body=lambda w: {"job_id": str(w.job.id), "status": "running"},
        update_body={},
        label_field="comment",
        embeds=("job", "team"),
        by_name=False,
        mutable=False,
    ),
    Resource(
        "files",
        "file",
        "files.File",
        fixture="file",
        make=_file,
        create_body=lambda w: {"name": "created.log", "content": "hello\n", "job_id": str(w.job.id)},
        update_body={},
        embeds=("job", "jobstate", "team"),
        by_name=False,
        mutable=False,
    ),
]

MUTABLE = [r for r in RESOURCES if r.mutable]
NAMED = [r for r in RESOURCES if r.by_name]
WITH_EMBEDS = [r for r in RESOURCES if r.embeds]


def each(resources):
    """Parametrize a test over ``resources``, each test id being the resource's plural."""
    return pytest.mark.parametrize("resource", resources, ids=str)
