"""The service around the resources: the API root, /identity, /healthz and the OpenAPI schema and docs."""

import json
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.urls import re_path

import dciserver.urls
from conftest import client_for
from teams.api import IdentityView

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1", "/api/v1/"])
def test_the_api_root_answers_anyone(anonymous_client, path):
    response = anonymous_client.get(path)

    assert response.status_code == 200
    assert response.json() == {"_status": "OK", "message": "Distributed CI."}


def test_identity_describes_a_team_member(user_client, user, team):
    response = user_client.get("/api/v1/identity")

    assert response.status_code == 200
    identity = response.json()["identity"]
    assert {key: identity[key] for key in ("id", "name", "role", "team_id", "team_name", "is_super_admin")} == {
        "id": str(user.pk),
        "name": "lab-user",
        "role": "user",
        "team_id": str(team.pk),
        "team_name": "lab",
        "is_super_admin": False,
    }
    assert identity["teams"] == {str(team.pk): {"team_name": "lab", "id": str(team.pk), "role": "user"}}
    assert "password" not in identity


def test_identity_says_who_is_a_super_admin_and_a_team_admin(admin_client, team_admin_client, admin_team):
    root = admin_client.get("/api/v1/identity/").json()["identity"]
    lab_admin = team_admin_client.get("/api/v1/identity").json()["identity"]

    assert (root["is_super_admin"], root["team_name"], list(root["teams"])) == (True, "admin", [str(admin_team.pk)])
    assert (lab_admin["is_super_admin"], lab_admin["role"]) == (False, "admin")


def test_identity_of_a_user_without_a_team(db):
    from teams.models import User

    loner = User.objects.create_user("loner", "pw", team=None)

    identity = client_for(loner, "pw").get("/api/v1/identity").json()["identity"]

    assert (identity["team_id"], identity["team_name"], identity["teams"]) == (None, None, {})


def test_healthz_answers_200_when_the_database_answers(anonymous_client):
    response = anonymous_client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["database"] == "up"


def test_healthz_answers_503_when_the_database_does_not(anonymous_client):
    with mock.patch("dciserver.views.connection") as connection:
        connection.cursor.side_effect = OperationalError("connection refused")
        response = anonymous_client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"] == "down"


def test_an_api_call_while_the_database_is_down_answers_a_json_503(admin_client):
    admin_client.get("/api/v1/teams")  # authenticated once; the failure below is the read itself
    with mock.patch("dciserver.models.ScopedQuerySet.readable_sql", side_effect=OperationalError("gone")):
        response = admin_client.get("/api/v1/teams")

    assert response.status_code == 503
    assert set(response.json()) == {"status_code", "message", "payload"}


def test_an_unexpected_crash_answers_a_json_500_without_details(admin_client):
    with mock.patch("dciserver.models.ScopedQuerySet.readable_sql", side_effect=RuntimeError("secret detail")):
        response = admin_client.get("/api/v1/teams")

    assert response.status_code == 500
    assert response.json() == {"status_code": 500, "message": "Internal server error", "payload": {}}


def test_the_openapi_schema_renders_and_is_valid(anonymous_client):
    response = anonymous_client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = json.loads(response.content)
    from drf_spectacular.validation import validate_schema

    validate_schema(schema)
    assert schema["openapi"].startswith("3.")


def test_the_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))

    assert (tmp_path / "schema.yaml").stat().st_size > 0


def test_the_schema_documents_every_resource_and_sub_route(anonymous_client):
    paths = json.loads(anonymous_client.get("/api/schema/", {"format": "json"}).content)["paths"]

    for path in [
        "/api/v1/teams",
        "/api/v1/teams/{id}",
        "/api/v1/teams/{id}/remotecis",
        "/api/v1/teams/{id}/users",
        "/api/v1/users/me",
        "/api/v1/identity",
        "/api/v1/remotecis/{id}/data",
        "/api/v1/topics/{id}/teams",
        "/api/v1/topics/{id}/teams/{team_id}",
        "/api/v1/topics/{id}/components",
        "/api/v1/topics/{id}/jobdefinitions",
        "/api/v1/components/{id}",
        "/api/v1/jobdefinitions/{id}",
    ]:
        assert path in paths, (path, sorted(paths))
    assert "put" in paths["/api/v1/teams/{id}"] and "delete" in paths["/api/v1/teams/{id}"]


def test_the_interactive_docs_render(anonymous_client):
    response = anonymous_client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.fixture
def generations():
    """Counts the schema generations (the costly part of ``/api/schema/``), starting with none kept."""
    from drf_spectacular.generators import SchemaGenerator

    from dciserver.api.schema import OncePerProcessSchemaGenerator

    OncePerProcessSchemaGenerator.forget()
    with mock.patch.object(SchemaGenerator, "get_schema", autospec=True, side_effect=SchemaGenerator.get_schema) as spy:
        yield spy
    OncePerProcessSchemaGenerator.forget()


def test_the_schema_is_generated_once_per_process(anonymous_client, admin_client, generations):
    first = anonymous_client.get("/api/schema/", {"format": "json"})
    again = anonymous_client.get("/api/schema/", {"format": "json"})
    as_yaml = admin_client.get("/api/schema/")

    assert first.status_code == again.status_code == as_yaml.status_code == 200
    assert generations.call_count == 1
    assert again.content == first.content
    assert as_yaml["Content-Type"].startswith("application/vnd.oai.openapi") and b"openapi: 3" in as_yaml.content


def test_the_kept_schema_is_the_one_a_fresh_generation_gives(anonymous_client, generations):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    anonymous_client.get("/api/schema/", {"format": "json"})
    kept = anonymous_client.get("/api/schema/", {"format": "json"})
    fresh = OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))

    assert json.loads(kept.content) == json.loads(fresh)


def test_another_url_configuration_has_its_own_schema(anonymous_client, settings, generations):
    anonymous_client.get("/api/schema/", {"format": "json"})
    settings.ROOT_URLCONF = __name__  # this module's urlpatterns: dciserver's and one more route

    paths = anonymous_client.get("/api/schema/", {"format": "json"}).json()["paths"]

    assert "/api/v1/identity-again" in paths and "/api/v1/jobs" in paths
    assert generations.call_count == 2


urlpatterns = [re_path(r"^api/v1/identity-again$", IdentityView.as_view()), *dciserver.urls.urlpatterns]
