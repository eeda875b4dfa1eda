"""Components of the modern DCI (SPEC §11): display names, versions, tags, release dates, team
components and their uniqueness."""

import pytest

from conftest import SignedClient, if_match

pytestmark = pytest.mark.django_db

API = "/api/v1"
MODERN = {"HTTP_CLIENT_VERSION": "python-dciclient_4.2.0"}


def create(client, topic, **body):
    return client.post(
        f"{API}/components", {"type": "ocp", "topic_id": str(topic.id), **body}, **body.pop("headers", {})
    )


def test_a_component_named_by_its_display_name(admin_client, topic):
    response = create(
        admin_client,
        topic,
        display_name="OpenShift",
        version="4.19.3",
        uid="ocp-4.19.3",
        type="OCP",
        tags=["build:ga", " "],
        released_at="2026-10-01T12:00:00.000000",
    )

    assert response.status_code == 201, response.content
    component = response.json()["component"]
    assert (component["name"], component["display_name"], component["version"]) == ("OpenShift", "OpenShift", "4.19.3")
    assert (component["type"], component["tags"], component["team_id"]) == ("ocp", ["build:ga"], None)
    assert component["released_at"] == "2026-10-01T12:00:00.000000"
    assert create(admin_client, topic).status_code == 400  # neither name nor display name


def test_a_display_name_type_and_version_once_per_topic(admin_client, topic):
    assert create(admin_client, topic, display_name="ocp", version="4.19").status_code == 201
    assert create(admin_client, topic, display_name="ocp", version="4.20").status_code == 201
    assert create(admin_client, topic, display_name="ocp", version="4.19").status_code == 422
    assert create(admin_client, topic, display_name="ocp", version="4.19", headers=MODERN).status_code == 409


def test_a_team_component_is_its_teams(user_client, outsider_client, admin_client, topic, team, other_topic):
    from jobs.models import TopicSubscription

    TopicSubscription.objects.create(topic=topic, team=other_topic.teams.get())
    made = create(user_client, topic, name="my-build", team_id=str(team.id))
    assert made.status_code == 201, made.content
    component = made.json()["component"]

    assert user_client.get(f"{API}/components/{component['id']}").status_code == 200
    assert admin_client.get(f"{API}/components/{component['id']}").status_code == 200
    assert outsider_client.get(f"{API}/topics/{topic.id}").status_code == 200  # the topic, yes
    assert outsider_client.get(f"{API}/components/{component['id']}").status_code == 404  # its component, no
    listed = outsider_client.get(f"{API}/topics/{topic.id}/components").json()["components"]
    assert component["id"] not in [row["id"] for row in listed]
    # A global component is a super admin's (or a feeder's); another team's component is not to be made.
    assert create(user_client, topic, name="global").status_code == 403
    assert create(outsider_client, topic, name="theirs", team_id=str(team.id)).status_code == 400


def test_a_team_component_of_the_same_name_in_two_teams(user_client, outsider_client, topic, team, other_team):
    from jobs.models import TopicSubscription

    TopicSubscription.objects.create(topic=topic, team=other_team)
    body = {"display_name": "kernel", "version": "6.12"}
    assert create(user_client, topic, team_id=str(team.id), **body).status_code == 201
    assert create(outsider_client, topic, team_id=str(other_team.id), **body).status_code == 201
    assert create(user_client, topic, team_id=str(team.id), **body).status_code == 422


def test_a_signed_remoteci_makes_its_teams_components_only(remoteci, topic, team):
    client = SignedClient(remoteci)

    assert create(client, topic, name="agent-build", team_id=str(team.id)).status_code == 201
    assert create(client, topic, name="agent-global").status_code == 403


def test_a_feeder_makes_global_components_only(feeder, topic, team):
    client = SignedClient(feeder, kind="feeder")

    assert create(client, topic, name="fed").status_code == 201
    assert create(client, topic, name="fed-team", team_id=str(team.id)).status_code == 403


def test_a_topics_components_come_newest_release_first(admin_client, topic):
    older = create(admin_client, topic, name="made-first", released_at="2026-11-02T00:00:00.000000").json()
    newer = create(admin_client, topic, name="made-second", released_at="2026-11-01T00:00:00.000000").json()

    listed = admin_client.get(f"{API}/topics/{topic.id}/components?where=type:ocp").json()["components"]

    assert [row["id"] for row in listed] == [older["component"]["id"], newer["component"]["id"]]


def test_where_tags_finds_the_components_holding_a_tag(admin_client, topic):
    tagged = create(admin_client, topic, name="tagged", tags=["nightly", "x86"]).json()["component"]
    create(admin_client, topic, name="untagged")

    found = admin_client.get(f"{API}/components", {"where": "tags:nightly"}).json()["components"]
    both = admin_client.get(f"{API}/components", {"where": "tags:nightly,tags:x86"}).json()["components"]
    none = admin_client.get(f"{API}/components", {"where": "tags:nightly,tags:arm"}).json()["components"]

    assert [row["id"] for row in found] == [row["id"] for row in both] == [tagged["id"]] and none == []


def test_tags_are_updated_by_put(admin_client, component):
    response = admin_client.put(f"{API}/components/{component.id}", {"tags": ["ga"]}, **if_match(component))

    assert response.status_code == 204
    assert admin_client.get(f"{API}/components/{component.id}").json()["component"]["tags"] == ["ga"]


def test_the_schedule_takes_no_team_component(user_client, remoteci, topic, team, component):
    from jobs.models import Component

    Component.objects.create(name="lab-private", type="compose", topic=topic, team=team)
    Component.objects.create(name="kernel-1", type="kernel", topic=topic)

    job = user_client.post(f"{API}/jobs/schedule", {"remoteci_id": str(remoteci.id), "topic_id": str(topic.id)})

    assert job.status_code == 201, job.content
    names = sorted(c.name for c in Component.objects.filter(jobs__id=job.json()["job"]["id"]))
    assert names == ["RHEL-9.4-20260101", "kernel-1"]
