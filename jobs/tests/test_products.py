"""Products and who reaches a topic (SPEC §11): a subscription, or the topic's product linked to the
team with the topic exported or the team given pre-release access; the same rule for topic and
component reads, job creation and schedule."""

import pytest

from conftest import SignedClient, if_match

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def ocp(db):
    from jobs.models import Product

    return Product.objects.create(name="OpenShift", label="OPENSHIFT")


@pytest.fixture
def catalogue(ocp, team, remoteci):
    """The product linked to the lab, an exported topic and a pre-release one, each with a component."""
    from jobs.models import Component, ProductTeam, Topic

    ProductTeam.objects.create(product=ocp, team=team)
    exported = Topic.objects.create(name="OCP-4.19", product=ocp, export_control=True, component_types=["ocp"])
    prerelease = Topic.objects.create(name="OCP-4.20", product=ocp, component_types=["ocp"])
    components = {
        topic.name: Component.objects.create(name=f"{topic.name}-ec1", type="ocp", topic=topic)
        for topic in (exported, prerelease)
    }
    return exported, prerelease, components


def ids(response, plural):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()[plural]}


def test_a_super_admin_creates_a_product_whose_label_defaults_to_its_name_upper_cased(admin_client):
    response = admin_client.post(f"{API}/products", {"name": "OpenShift", "description": "Kubernetes"})

    assert response.status_code == 201, response.content
    product = response.json()["product"]
    assert (product["name"], product["label"], product["description"]) == ("OpenShift", "OPENSHIFT", "Kubernetes")
    assert product["topics"] == [] and response["ETag"] == product["etag"]


def test_a_label_is_upper_cased_and_unique(admin_client, ocp):
    response = admin_client.put(f"{API}/products/{ocp.id}", {"label": "ocp"}, **if_match(ocp))
    assert response.status_code == 204, response.content
    assert admin_client.get(f"{API}/products/{ocp.id}").json()["product"]["label"] == "OCP"

    duplicate = admin_client.post(f"{API}/products", {"name": "Other", "label": "Ocp"})
    assert duplicate.status_code == 422 and duplicate.json()["message"] == "conflict on product"
    assert admin_client.post(f"{API}/products", {"name": "OpenShift"}).status_code == 422


@pytest.mark.parametrize("who", ["user_client", "team_admin_client"])
def test_only_super_admins_write_products(request, who, ocp, team):
    client = request.getfixturevalue(who)

    assert client.post(f"{API}/products", {"name": "Mine"}).status_code == 403
    assert client.post(f"{API}/products/{ocp.id}/teams", {"team_id": str(team.id)}).status_code == 404  # unseen


def test_linking_a_team_to_a_product(admin_client, user_client, ocp, team, catalogue):
    from jobs.models import ProductTeam

    ProductTeam.objects.all().delete()
    assert user_client.get(f"{API}/products/{ocp.id}").status_code == 404

    linked = admin_client.post(f"{API}/products/{ocp.id}/teams", {"team_id": str(team.id)})

    assert linked.status_code == 201, linked.content
    assert linked.json() == {"product_id": str(ocp.id), "team_id": str(team.id)}
    assert admin_client.post(f"{API}/products/{ocp.id}/teams", {"team_id": str(team.id)}).status_code == 422
    assert ids(admin_client.get(f"{API}/products/{ocp.id}/teams"), "teams") == {str(team.id)}
    assert user_client.get(f"{API}/products/{ocp.id}/teams").status_code == 403
    assert ids(user_client.get(f"{API}/teams/{team.id}/products"), "products") == {str(ocp.id)}
    assert user_client.get(f"{API}/products/{ocp.id}").status_code == 200

    assert admin_client.delete(f"{API}/products/{ocp.id}/teams/{team.id}").status_code == 204
    assert admin_client.delete(f"{API}/products/{ocp.id}/teams/{team.id}").status_code == 404
    assert user_client.get(f"{API}/products/{ocp.id}").status_code == 404


def test_a_product_carries_the_topics_its_reader_reaches(admin_client, user_client, team, catalogue, ocp):
    exported, prerelease, _ = catalogue

    def topics(client):
        return [topic["name"] for topic in client.get(f"{API}/products/{ocp.id}").json()["product"]["topics"]]

    assert topics(user_client) == ["OCP-4.19"]
    assert [row["topics"] for row in user_client.get(f"{API}/products").json()["products"]] == [
        [user_client.get(f"{API}/topics/{exported.id}").json()["topic"]]
    ]
    assert topics(admin_client) == ["OCP-4.19", "OCP-4.20"]
    team.has_pre_release_access = True
    team.save()
    assert topics(user_client) == ["OCP-4.19", "OCP-4.20"]


def test_another_team_does_not_see_the_product_or_its_topics(outsider_client, catalogue, ocp, team):
    exported, _, components = catalogue

    assert outsider_client.get(f"{API}/products/{ocp.id}").status_code == 404
    assert outsider_client.get(f"{API}/teams/{team.id}/products").status_code == 404
    assert outsider_client.get(f"{API}/topics/{exported.id}").status_code == 404
    assert outsider_client.get(f"{API}/components/{components['OCP-4.19'].id}").status_code == 404


def test_the_topic_rule_scopes_topics_and_components(user_client, team, catalogue, topic):
    exported, prerelease, components = catalogue

    assert ids(user_client.get(f"{API}/topics"), "topics") == {str(exported.id), str(topic.id)}  # + a subscription
    assert user_client.get(f"{API}/topics/{prerelease.id}").status_code == 404
    listed = ids(user_client.get(f"{API}/components?where=type:ocp"), "components")
    assert listed == {str(components["OCP-4.19"].id)}
    assert ids(user_client.get(f"{API}/topics/{exported.id}/components"), "components") == listed

    team.has_pre_release_access = True
    team.save()
    assert user_client.get(f"{API}/topics/{prerelease.id}").status_code == 200
    assert len(ids(user_client.get(f"{API}/components?where=type:ocp"), "components")) == 2


def test_the_topic_rule_decides_schedule_and_job_creation(user_client, admin_client, team, remoteci, catalogue):
    exported, prerelease, components = catalogue

    def schedule(client, topic):
        body = {"remoteci_id": str(remoteci.id), "topic_id": str(topic.id)}
        return client.post(f"{API}/jobs/schedule", body)

    assert schedule(user_client, exported).status_code == 201
    refused = schedule(user_client, prerelease)
    assert refused.status_code == 412 and "not subscribed" in refused.json()["message"]
    # A super admin schedules for the remoteci: its team's reach decides, not the super admin's.
    assert schedule(admin_client, prerelease).status_code == 412
    created = user_client.post(f"{API}/jobs", {"remoteci_id": str(remoteci.id), "topic_id": str(prerelease.id)})
    assert created.status_code == 400 and "topic_id" in created.json()["payload"]["errors"]

    team.has_pre_release_access = True
    team.save()
    assert schedule(admin_client, prerelease).status_code == 201
    # Reached now: what refuses the user is that the remoteci already has this component set.
    again = schedule(user_client, prerelease)
    assert again.status_code == 412 and again.json()["message"] == "No jobs available for run."
    created = user_client.post(f"{API}/jobs", {"remoteci_id": str(remoteci.id), "topic_id": str(prerelease.id)})
    assert created.status_code == 201, created.content


def test_an_unlinked_or_archived_product_reaches_nothing(user_client, admin_client, ocp, team, catalogue):
    exported, _, _ = catalogue
    assert admin_client.delete(f"{API}/products/{ocp.id}", **if_match(ocp)).status_code == 204

    assert user_client.get(f"{API}/topics/{exported.id}").status_code == 404


def test_a_signed_remoteci_reaches_what_its_team_reaches(remoteci, catalogue):
    exported, prerelease, components = catalogue
    client = SignedClient(remoteci)

    assert client.get(f"{API}/topics/{exported.id}").status_code == 200
    assert client.get(f"{API}/topics/{prerelease.id}").status_code == 404
    listed = ids(client.get(f"{API}/topics/{exported.id}/components"), "components")
    assert listed == {str(components["OCP-4.19"].id)}


def test_topics_keep_their_modern_fields(admin_client, ocp):
    from jobs.models import Topic

    previous = Topic.objects.create(name="OCP-4.18", product=ocp)
    body = {
        "name": "OCP-4.21",
        "product_id": str(ocp.id),
        "export_control": True,
        "component_types": ["OCP", "Operators"],
        "component_types_optional": ["Extra"],
        "data": {"pull_secret": {"auths": {}}},
    }
    created = admin_client.post(f"{API}/topics", body)
    assert created.status_code == 201, created.content
    topic = created.json()["topic"]
    assert topic["component_types"] == ["ocp", "operators"] and topic["component_types_optional"] == ["extra"]
    assert (topic["product_id"], topic["export_control"], topic["data"]) == (str(ocp.id), True, body["data"])

    row = Topic.objects.get(pk=previous.pk)
    assert (
        admin_client.put(f"{API}/topics/{row.id}", {"next_topic_id": topic["id"]}, **if_match(row)).status_code == 204
    )
    assert admin_client.get(f"{API}/topics?where=next_topic_id:{topic['id']}").json()["_meta"]["count"] == 1
    assert admin_client.get(f"{API}/topics?where=product_id:{ocp.id}").json()["_meta"]["count"] == 2
