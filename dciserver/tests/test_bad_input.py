"""Bad input answers a 4xx JSON error in the DCI shape, never a 500 and never an HTML page (SPEC §1)."""

import base64
import json

import pytest

from dciserver.tests.resources import MUTABLE, NAMED, RESOURCES, each

pytestmark = pytest.mark.django_db

API = "/api/v1"
NIL = "00000000-0000-0000-0000-000000000000"


def assert_dci_error(response, *statuses):
    assert response.status_code in statuses, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"status_code", "message", "payload"}, body
    assert body["status_code"] == response.status_code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["payload"], dict)
    return body


def send(client, method, url, raw, **headers):
    return getattr(client, method.lower())(url, data=raw, content_type="application/json", **headers)


# Bodies that are not JSON objects ------------------------------------------------------------

NOT_OBJECTS = {
    "malformed": '{"name": ',
    "array": '[{"name": "x"}]',
    "string": '"name"',
    "number": "42",
    "null": "null",
    "trailing-garbage": '{"name": "x"} {',
    "deep-array": "[" * 100_000 + "]" * 100_000,
    "deep-object": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "not-utf8": b'{"name": "\xff\xfe"}',
}


@each(RESOURCES)
@pytest.mark.parametrize("raw", NOT_OBJECTS.values(), ids=NOT_OBJECTS.keys())
def test_a_body_that_is_not_a_json_object_answers_400(admin_client, resource, row, raw):
    assert_dci_error(send(admin_client, "POST", resource.url, raw), 400)
    if resource.mutable:
        assert_dci_error(send(admin_client, "PUT", resource.url_of(row), raw, HTTP_IF_MATCH=row.etag), 400)


@each(RESOURCES)
def test_a_body_missing_required_fields_answers_400_naming_them(admin_client, resource):
    body = assert_dci_error(send(admin_client, "POST", resource.url, "{}"), 400)

    assert body["message"] == "Request malformed" or "required" in body["message"]


@each(RESOURCES)
def test_unknown_body_fields_are_ignored(admin_client, resource, world):
    body = {**resource.create_body(world), "export_control": True, "tags": ["x"], "country": "FR"}

    assert admin_client.post(resource.url, body, format="json").status_code == 201


# Wrong types and values, field by field --------------------------------------------------------

WRONG_FIELDS = [
    ("teams", "name", ["lab"]),
    ("teams", "name", {"a": 1}),
    ("teams", "name", None),
    ("teams", "name", True),
    ("teams", "name", ""),
    ("teams", "state", "zombie"),
    ("users", "role", "god"),
    ("users", "email", "not-an-email"),
    ("users", "password", ["x"]),
    ("users", "team_id", "not-a-uuid"),
    ("users", "team_id", 42),
    ("users", "team_id", NIL),
    ("remotecis", "data", "not-an-object"),
    ("remotecis", "data", [1, 2]),
    ("remotecis", "active", "maybe"),
    ("remotecis", "team_id", NIL),
    ("topics", "component_types", "compose"),
    ("topics", "component_types", [{"a": 1}]),
    ("components", "topic_id", "not-a-uuid"),
    ("components", "topic_id", NIL),
    ("components", "topic_id", ["x"]),
    ("components", "type", None),
    ("jobdefinitions", "priority", "high"),
    ("jobdefinitions", "priority", -1),
    ("jobdefinitions", "priority", 1001),
    ("jobdefinitions", "priority", 10**30),
    ("jobdefinitions", "topic_id", NIL),
    ("jobs", "remoteci_id", "not-a-uuid"),
    ("jobs", "remoteci_id", NIL),
    ("jobs", "jobdefinition_id", NIL),
    ("jobs", "components", [NIL]),
    ("jobs", "components", "not-a-list"),
    ("jobs", "status", "exploded"),
    ("jobstates", "status", "exploded"),
    ("jobstates", "job_id", NIL),
    ("files", "name", None),
    ("files", "name", "n" * 513),
    ("files", "content", ["x"]),
    ("files", "mime", {"a": 1}),
    # A number where the schema says string (DRF alone would store its text).
    ("teams", "name", 42),
    ("users", "name", 42),
    ("users", "password", 12345678),
    ("users", "email", 1.5),
    ("remotecis", "name", 42),
    ("topics", "name", 42),
    ("components", "name", 42),
    ("components", "url", 7),
    ("jobdefinitions", "name", 42),
    ("jobdefinitions", "comment", 42),
    ("jobs", "comment", 42),
    ("jobstates", "comment", 42),
    ("files", "name", 42),
    ("files", "content", 42),
    ("files", "mime", 42),
]
BY_PLURAL = {r.plural: r for r in RESOURCES}


@pytest.mark.parametrize("plural,field,value", WRONG_FIELDS, ids=[f"{p}-{f}-{v!r}"[:60] for p, f, v in WRONG_FIELDS])
def test_a_wrong_type_or_value_answers_400_naming_the_field(admin_client, world, plural, field, value):
    resource = BY_PLURAL[plural]
    before = resource.model.objects.count()

    response = admin_client.post(resource.url, {**resource.create_body(world), field: value}, format="json")

    body = assert_dci_error(response, 400)
    assert field in body["payload"].get("errors", {}), body
    assert resource.model.objects.count() == before


@each(MUTABLE)
def test_a_wrong_type_in_a_put_answers_400_and_changes_nothing(admin_client, resource, row):
    field = next(iter(resource.update_body))
    before = type(row).objects.get(pk=row.pk).etag

    response = admin_client.put(resource.url_of(row), {field: {"not": "a string"}}, format="json", HTTP_IF_MATCH=before)

    assert_dci_error(response, 400)
    assert type(row).objects.get(pk=row.pk).etag == before


@each(NAMED)
@pytest.mark.parametrize("length", [256, 100_000])
def test_an_overlong_name_answers_400(admin_client, resource, world, length):
    response = admin_client.post(resource.url, {**resource.create_body(world), "name": "n" * length}, format="json")

    body = assert_dci_error(response, 400)
    assert "name" in body["payload"]["errors"]


@each(NAMED)
@pytest.mark.parametrize("escaped", ["nul\\u0000byte", "lone\\ud800surrogate"], ids=["nul", "surrogate"])
def test_a_name_postgresql_cannot_store_answers_400(admin_client, resource, world, escaped):
    raw = json.dumps({**resource.create_body(world), "name": "@"}).replace('"@"', f'"{escaped}"')

    body = assert_dci_error(send(admin_client, "POST", resource.url, raw), 400)
    assert "name" in body["payload"]["errors"]


@pytest.mark.parametrize(
    "escaped",
    ['{"key": "nul\\u0000"}', '{"nul\\u0000key": 1}', '{"key": "lone\\ud800"}', '["\\udc00"]'],
    ids=["nul-value", "nul-key", "surrogate", "low-surrogate"],
)
@pytest.mark.parametrize("plural", ["remotecis", "components"])
def test_json_data_postgresql_cannot_store_answers_400(admin_client, world, plural, escaped):
    resource = BY_PLURAL[plural]
    raw = json.dumps({**resource.create_body(world), "data": "@"}).replace('"@"', escaped)

    body = assert_dci_error(send(admin_client, "POST", resource.url, raw), 400)
    assert "data" in body["payload"]["errors"]


@pytest.mark.parametrize("depth", [10, 64, 65, 900])
def test_deeply_nested_json_data_is_stored_up_to_64_levels_and_refused_beyond(admin_client, team, depth):
    nested = "x"
    for _ in range(depth):
        nested = {"a": nested}

    response = admin_client.post(f"{API}/remotecis", {"name": "deep", "team_id": str(team.pk), "data": nested})

    if depth <= 64:
        assert response.status_code == 201, response.content[:300]
        assert admin_client.get(f"{API}/remotecis/deep").json()["remoteci"]["data"] == nested
    else:
        assert "data" in assert_dci_error(response, 400)["payload"]["errors"]


def test_a_duplicate_remoteci_name_conflicts_within_a_team_only(admin_client, team, other_team, remoteci):
    same_team = admin_client.post(f"{API}/remotecis", {"name": remoteci.name, "team_id": str(team.pk)})
    other = admin_client.post(f"{API}/remotecis", {"name": remoteci.name, "team_id": str(other_team.pk)})

    assert same_team.status_code == 422
    assert same_team.json() == {
        "status_code": 422,
        "message": "conflict on remoteci",
        "payload": {"error": {"name": "already_exists"}},
    }
    assert other.status_code == 201


def test_a_duplicate_component_name_conflicts_within_a_topic_only(admin_client, topic, other_topic, component):
    same = admin_client.post(f"{API}/components", {"name": component.name, "type": "x", "topic_id": str(topic.pk)})
    other = admin_client.post(
        f"{API}/components", {"name": component.name, "type": "x", "topic_id": str(other_topic.pk)}
    )

    assert (same.status_code, other.status_code) == (422, 201)
    assert same.json()["payload"] == {"error": {"name": "already_exists"}}


# Bad ids and bad URLs -----------------------------------------------------------------------------

BAD_IDS = ["not-a-uuid", NIL, "0" * 2000, "%00", "%E2%80%AE", "..", "1 OR 1=1", "%FF"]


@each(RESOURCES)
@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_bad_or_unknown_id_in_the_url_answers_404(admin_client, resource, bad, method):
    response = getattr(admin_client, method.lower())(f"{resource.url}/{bad}", HTTP_IF_MATCH="x")

    if bad == "%00":
        assert_dci_error(response, 400)  # a NUL is no id at all: the request is malformed
    elif method == "PUT" and not resource.mutable:
        assert_dci_error(response, 405)
    else:
        assert_dci_error(response, 404)


@pytest.mark.parametrize(
    "path",
    [
        "/teams/{bad}/remotecis",
        "/teams/{bad}/users",
        "/remotecis/{bad}/data",
        "/topics/{bad}/teams",
        "/topics/{bad}/components",
        "/topics/{bad}/jobdefinitions",
        "/jobs/{bad}/jobstates",
        "/jobs/{bad}/components",
        "/jobs/{bad}/files",
        "/jobs/{bad}/results",
        "/files/{bad}/content",
    ],
)
@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_bad_or_unknown_id_in_a_sub_route_answers_404(admin_client, path, bad):
    assert_dci_error(admin_client.get(API + path.format(bad=bad)), 400 if bad == "%00" else 404)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_unsubscribing_a_bad_or_unknown_team_answers_404(admin_client, topic, bad):
    assert_dci_error(admin_client.delete(f"{API}/topics/{topic.pk}/teams/{bad}"), 400 if bad == "%00" else 404)


@pytest.mark.parametrize("bad", ["not-a-uuid", NIL, 42, None, ["x"]])
def test_subscribing_a_bad_or_unknown_team_answers_400(admin_client, topic, bad):
    response = admin_client.post(f"{API}/topics/{topic.pk}/teams", {"team_id": bad}, format="json")

    assert_dci_error(response, 400)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope", "/api/v1/teams/x/nope", "/api/nope", "/api/v1/teams/x/y/z", "/api/v2/teams", "/api/v1//teams"],
)
def test_an_unknown_route_answers_a_json_404(admin_client, path):
    assert_dci_error(admin_client.get(path), 404)
    assert_dci_error(admin_client.post(path, {}, format="json"), 404, 405)


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/teams/{team}"),
        ("DELETE", "/teams"),
        ("PUT", "/teams"),
        ("POST", "/identity"),
        ("DELETE", "/users/me"),
        ("PUT", "/teams/{team}/remotecis"),
        ("POST", "/remotecis/{team}/data"),
        ("PUT", "/topics/{team}/components"),
        ("POST", "/audits"),
    ],
)
def test_a_method_a_route_does_not_allow_answers_a_json_405(admin_client, team, method, path):
    response = getattr(admin_client, method.lower())(API + path.format(team=team.pk), {}, format="json")

    assert_dci_error(response, 405)


def test_a_body_over_the_size_limit_answers_a_json_413(admin_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = admin_client.post(f"{API}/teams", {"name": "x" * 4096}, format="json")

    assert_dci_error(response, 413)


# Bad list parameters --------------------------------------------------------------------------------

BAD_PARAMS = [
    {"offset": str(10**30)},
    {"limit": str(10**30)},
    {"offset": "9223372036854775808"},
    {"where": "name:nul\u0000"},
    {"where": "id:" + "0" * 1000},
    {"where": "created_at:2016-13-45"},
    {"where": ":"},
    {"where": ",,,"},
    {"sort": "-"},
    {"sort": "name;drop table"},
    {"embed": ".,..,team..topic"},
]


@each(RESOURCES)
@pytest.mark.parametrize("params", BAD_PARAMS, ids=[repr(p)[:40] for p in BAD_PARAMS])
def test_odd_list_parameters_never_answer_a_500(admin_client, resource, params):
    response = admin_client.get(resource.url, params)

    if response.status_code == 200:
        assert set(response.json()) == {resource.plural, "_meta"}
    else:
        assert_dci_error(response, 400)


@pytest.mark.parametrize("query", ["where=name:%ED%A0%80", "where=name:%FF", "sort=%00", "embed=%00", "limit=%00"])
def test_undecodable_or_nul_query_strings_never_answer_a_500(admin_client, query):
    response = admin_client.get(f"{API}/teams?{query}")

    if response.status_code != 200:
        assert_dci_error(response, 400)


@pytest.mark.parametrize("where", ["priority:99999999999999999999", "priority:-5", "priority:1e3"])
def test_an_out_of_range_number_in_where_never_answers_a_500(admin_client, jobdefinition, where):
    response = admin_client.get(f"{API}/jobdefinitions", {"where": where})

    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert_dci_error(response, 400)


# Bad credentials ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "credentials",
    # "huge": as long as the API takes a header (dciserver.api.middleware.MAX_HEADER_FIELD_SIZE).
    [b"nul\x00name:pw", b"name:nul\x00pw", b"\xff\xfe:pw", b"x" * 6_000 + b":pw", b":", b"name"],
    ids=["nul-name", "nul-password", "latin1", "huge", "empty", "no-colon"],
)
def test_odd_basic_credentials_answer_401(client, user, credentials):
    authorization = "Basic " + base64.b64encode(credentials).decode()

    response = client.get(f"{API}/identity", HTTP_AUTHORIZATION=authorization)

    assert_dci_error(response, 401)


@pytest.mark.parametrize("header", ["HTTP_IF_MATCH", "HTTP_ETAG", "HTTP_IF_NONE_MATCH", "HTTP_DCI_NAME"])
def test_a_nul_in_a_header_answers_400(admin_client, team, header):
    team.refresh_from_db()

    response = admin_client.put(f"{API}/teams/{team.pk}", {"name": "x"}, format="json", **{header: "a\x00b"})

    assert_dci_error(response, 400)
    team.refresh_from_db()
    assert team.name == "lab"


def test_the_error_body_is_json_even_when_the_client_asks_for_html(admin_client):
    response = admin_client.get(f"{API}/teams/{NIL}", HTTP_ACCEPT="text/html")

    assert response.status_code == 404
    assert json.loads(response.content)["status_code"] == 404
