"""The cross-cutting contract (SPEC §1, §3, §4), proven once for every resource.

Reads and writes go through a super admin, who may do everything: what is tested here is the
shared mechanism (envelopes, ETags, archiving, the list language), not who may do it
(that is ``test_permissions.py``).
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dciserver.tests.resources import MUTABLE, NAMED, RESOURCES, WITH_EMBEDS, each

pytestmark = pytest.mark.django_db


def fresh(instance):
    return type(instance).objects.get(pk=instance.pk)


def labelled(resource, world, *labels):
    return [resource.make(world, label) for label in labels]


def ids(response, resource):
    return [item["id"] for item in response.json()[resource.plural]]


def live_rows(resource):
    return resource.model.objects.live()


def assert_dci_error(response, status_code):
    assert response.status_code == status_code, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status_code", "message", "payload"}
    assert body["status_code"] == status_code
    return body


# Create, get, list ----------------------------------------------------------------


@each(RESOURCES)
def test_it_creates_a_row_and_answers_it_in_the_singular_envelope(admin_client, resource, world):
    response = admin_client.post(resource.url, resource.create_body(world), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert list(body) == [resource.singular]
    created = resource.model.objects.get(pk=body[resource.singular]["id"])
    if resource.mutable:
        assert response["ETag"] == body[resource.singular]["etag"] == created.etag


@each(RESOURCES)
def test_it_gets_a_row_with_its_etag(admin_client, resource, row):
    response = admin_client.get(resource.url_of(row))

    assert response.status_code == 200, response.content
    body = response.json()
    assert list(body) == [resource.singular]
    assert body[resource.singular]["id"] == str(row.pk)
    assert body[resource.singular]["state"] == "active"
    # ISO-8601 UTC as the 2016 server wrote it: 2016-02-25T13:32:41.706080
    for key in ("created_at", "updated_at") if resource.mutable else ("created_at",):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", body[resource.singular][key]), key
    if resource.mutable:
        assert response["ETag"] == body[resource.singular]["etag"] == fresh(row).etag


@each(RESOURCES)
def test_it_lists_rows_in_the_plural_envelope_with_their_count(admin_client, resource, world):
    labelled(resource, world, "listed-1", "listed-2")

    response = admin_client.get(resource.url)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {resource.plural, "_meta"}
    assert body["_meta"] == {"count": live_rows(resource).count()}
    assert sorted(ids(response, resource)) == sorted(str(pk) for pk in live_rows(resource).values_list("pk", flat=True))


@each(NAMED)
def test_it_finds_a_row_by_its_name(admin_client, resource, row):
    response = admin_client.get(f"{resource.url}/{row.name}")

    assert response.status_code == 200, response.content
    assert response.json()[resource.singular]["id"] == str(row.pk)


@each(RESOURCES)
def test_an_unknown_id_or_name_is_not_found(admin_client, resource, world):
    for missing in ("00000000-0000-0000-0000-000000000000", "no-such-name"):
        assert_dci_error(admin_client.get(f"{resource.url}/{missing}"), 404)


@each(RESOURCES)
def test_the_trailing_slash_is_optional(admin_client, resource, row, world):
    for url in (resource.url, resource.url + "/", resource.url_of(row), resource.url_of(row) + "/"):
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.post(resource.url + "/", resource.create_body(world), format="json").status_code == 201
    if resource.mutable:
        response = admin_client.put(
            resource.url_of(row) + "/", resource.update_body, format="json", HTTP_IF_MATCH=fresh(row).etag
        )
        assert response.status_code == 204, response.content


@each(MUTABLE)
def test_if_none_match_with_the_current_etag_answers_304(admin_client, resource, row):
    etag = fresh(row).etag

    for sent in (etag, f'"{etag}"', f'W/"{etag}"'):
        response = admin_client.get(resource.url_of(row), HTTP_IF_NONE_MATCH=sent)
        assert response.status_code == 304, sent
        assert response["ETag"] == etag
    assert admin_client.get(resource.url_of(row), HTTP_IF_NONE_MATCH="stale").status_code == 200


# PUT and DELETE with etags ----------------------------------------------------------


def field_of(instance, resource):
    name = next(iter(resource.update_body))
    return getattr(fresh(instance), name)


@each(MUTABLE)
@pytest.mark.parametrize(
    "header,quote",
    [
        ("HTTP_IF_MATCH", "{}"),
        ("HTTP_ETAG", "{}"),
        ("HTTP_IF_MATCH", '"{}"'),
        ("HTTP_IF_MATCH", 'W/"{}"'),
    ],
    ids=["if-match", "etag", "quoted", "weak"],
)
def test_a_put_with_the_current_etag_answers_204_with_the_new_etag(admin_client, resource, row, header, quote):
    before = fresh(row).etag

    response = admin_client.put(
        resource.url_of(row), resource.update_body, format="json", **{header: quote.format(before)}
    )

    assert response.status_code == 204, response.content
    after = fresh(row)
    assert response["ETag"] == after.etag != before
    (name, value), *_ = resource.update_body.items()
    assert getattr(after, name) == value
    assert admin_client.get(resource.url_of(row)).json()[resource.singular][name] == value


@each(MUTABLE)
@pytest.mark.parametrize(
    "headers", [{}, {"HTTP_IF_MATCH": "stale"}, {"HTTP_ETAG": "stale"}], ids=["missing", "stale", "stale-etag-header"]
)
def test_a_put_without_the_current_etag_answers_412_and_changes_nothing(admin_client, resource, row, headers):
    before = fresh(row)

    response = admin_client.put(resource.url_of(row), resource.update_body, format="json", **headers)

    body = assert_dci_error(response, 412)
    assert body["message"] == ("etag mismatch" if headers else "'If-match' header must be provided")
    after = fresh(row)
    assert (after.etag, after.updated_at) == (before.etag, before.updated_at)
    assert field_of(row, resource) == getattr(before, next(iter(resource.update_body)))


@each(RESOURCES)
def test_a_delete_answers_204_then_the_row_is_gone_from_the_api_but_kept(admin_client, resource, row):
    headers = {"HTTP_IF_MATCH": fresh(row).etag} if resource.mutable else {}

    response = admin_client.delete(resource.url_of(row), **headers)

    assert response.status_code == 204, response.content
    assert_dci_error(admin_client.get(resource.url_of(row)), 404)
    assert str(row.pk) not in ids(admin_client.get(resource.url), resource)
    assert fresh(row).archived_at is not None
    assert_dci_error(admin_client.delete(resource.url_of(row), **headers), 404)


@each(MUTABLE)
def test_a_delete_with_a_stale_etag_answers_412_and_keeps_the_row(admin_client, resource, row):
    response = admin_client.delete(resource.url_of(row), HTTP_IF_MATCH="stale")

    assert_dci_error(response, 412)
    assert fresh(row).archived_at is None
    assert admin_client.get(resource.url_of(row)).status_code == 200


@each([r for r in MUTABLE if r.delete_needs_etag])
def test_a_delete_without_an_etag_answers_412_and_keeps_the_row(admin_client, resource, row):
    response = admin_client.delete(resource.url_of(row))

    assert_dci_error(response, 412)
    assert fresh(row).archived_at is None


@each([r for r in MUTABLE if not r.delete_needs_etag])
def test_a_catalogue_row_is_deleted_without_an_etag_as_the_2016_client_does(admin_client, resource, row):
    assert admin_client.delete(resource.url_of(row)).status_code == 204
    assert fresh(row).archived_at is not None


@each([r for r in RESOURCES if not r.mutable])
def test_an_immutable_row_cannot_be_put(admin_client, resource, row):
    response = admin_client.put(resource.url_of(row), {"comment": "changed"}, format="json", HTTP_IF_MATCH="x")

    assert_dci_error(response, 405)


@each(NAMED)
def test_a_duplicate_name_answers_422_conflict(admin_client, resource, world):
    body = resource.create_body(world)
    assert admin_client.post(resource.url, body, format="json").status_code == 201

    response = admin_client.post(resource.url, body, format="json")

    if resource.plural == "jobdefinitions":
        # The SPEC gives job definitions no unique name (several may share a name across priorities).
        assert response.status_code == 201
        return
    assert response.status_code == 422, response.content
    assert response.json() == {
        "status_code": 422,
        "message": f"conflict on {resource.singular}",
        "payload": {"error": {"name": "already_exists"}},
    }


@each([r for r in NAMED if r.plural != "jobdefinitions"])
def test_renaming_onto_a_taken_name_answers_422_and_changes_nothing(admin_client, resource, world):
    taken, renamed = labelled(resource, world, "taken", "renamed")
    before = fresh(renamed).etag

    response = admin_client.put(resource.url_of(renamed), {"name": "taken"}, format="json", HTTP_IF_MATCH=before)

    assert response.status_code == 422, response.content
    assert response.json()["payload"] == {"error": {"name": "already_exists"}}
    assert (fresh(renamed).name, fresh(renamed).etag) == ("renamed", before)


@each([r for r in NAMED if r.plural != "jobdefinitions"])
def test_an_archived_rows_name_can_be_taken_again(admin_client, resource, world):
    (old,) = labelled(resource, world, "recycled")
    admin_client.delete(resource.url_of(old), HTTP_IF_MATCH=fresh(old).etag)
    body = {**resource.create_body(world), "name": "recycled"}

    response = admin_client.post(resource.url, body, format="json")

    assert response.status_code == 201, response.content
    assert admin_client.get(f"{resource.url}/recycled").json()[resource.singular]["id"] != str(old.pk)


# The list language: limit and offset -------------------------------------------------


@each(RESOURCES)
def test_the_count_is_of_matching_rows_before_limit_and_offset(admin_client, resource, world):
    labelled(resource, world, *(f"counted-{i}" for i in range(5)))
    total = live_rows(resource).count()

    response = admin_client.get(resource.url, {"limit": 2, "offset": 1})

    assert response.status_code == 200
    assert len(ids(response, resource)) == 2
    assert response.json()["_meta"]["count"] == total


@each(RESOURCES)
def test_an_offset_past_the_end_answers_an_empty_page_with_the_true_count(admin_client, resource, world):
    labelled(resource, world, "a", "b")
    total = live_rows(resource).count()

    response = admin_client.get(resource.url, {"offset": total + 10})

    assert response.status_code == 200
    assert response.json() == {resource.plural: [], "_meta": {"count": total}}


@each(RESOURCES)
def test_pages_walk_every_row_exactly_once(admin_client, resource, world):
    labelled(resource, world, *(f"paged-{i}" for i in range(7)))
    total = live_rows(resource).count()

    seen = []
    for offset in range(0, total, 3):
        seen += ids(admin_client.get(resource.url, {"limit": 3, "offset": offset}), resource)

    assert sorted(seen) == sorted(str(pk) for pk in live_rows(resource).values_list("pk", flat=True))
    assert len(seen) == total


@each(RESOURCES)
def test_the_limit_defaults_to_100_and_0_means_the_default(admin_client, resource, world):
    labelled(resource, world, *(f"many-{i:03d}" for i in range(101)))

    for params in ({}, {"limit": 0}, {"limit": ""}):
        response = admin_client.get(resource.url, params)
        assert len(ids(response, resource)) == 100, params
        assert response.json()["_meta"]["count"] == live_rows(resource).count()


def test_the_limit_is_capped_at_1000(admin_client):
    from teams.models import Team

    Team.objects.bulk_create([Team(name=f"bulk-{i:04d}") for i in range(1001)])

    response = admin_client.get("/api/v1/teams", {"limit": 5000})

    assert response.status_code == 200
    assert len(response.json()["teams"]) == 1000
    assert response.json()["_meta"]["count"] == Team.objects.live().count() > 1000


@each(RESOURCES)
@pytest.mark.parametrize(
    "params",
    [{"limit": "-1"}, {"limit": "ten"}, {"limit": "1.5"}, {"offset": "-5"}, {"offset": "x"}],
    ids=["negative-limit", "word-limit", "float-limit", "negative-offset", "word-offset"],
)
def test_a_negative_or_non_integer_limit_or_offset_answers_400(admin_client, resource, params):
    body = assert_dci_error(admin_client.get(resource.url, params), 400)

    (name,) = params
    assert name in body["message"]


# The list language: sort ---------------------------------------------------------------


@each(RESOURCES)
def test_it_sorts_newest_first_by_default_and_either_way_on_request(admin_client, resource, world):
    labelled(resource, world, "first", "second", "third")
    ascending = [str(pk) for pk in live_rows(resource).order_by("created_at", "id").values_list("pk", flat=True)]

    assert ids(admin_client.get(resource.url, {"sort": "created_at"}), resource) == ascending
    assert ids(admin_client.get(resource.url, {"sort": "-created_at"}), resource) == ascending[::-1]
    assert ids(admin_client.get(resource.url), resource) == ascending[::-1]


@each(RESOURCES)
def test_an_unknown_sort_key_answers_400_naming_the_valid_keys(admin_client, resource):
    body = assert_dci_error(admin_client.get(resource.url, {"sort": "-bogus"}), 400)

    assert "bogus" in body["message"]
    assert "created_at" in body["payload"]["valid_keys"]


def test_it_sorts_on_several_keys(admin_client, world):
    from jobs.models import JobDefinition

    for name, priority in [("b", 5), ("a", 1), ("c", 5), ("d", 1)]:
        JobDefinition.objects.create(name=name, topic=world.topic, priority=priority)
    JobDefinition.objects.filter(pk=world.jobdefinition.pk).update(priority=9)

    response = admin_client.get("/api/v1/jobdefinitions", {"sort": "priority,-name"})

    assert [j["name"] for j in response.json()["jobdefinitions"]] == ["d", "a", "c", "b", "install"]


def test_a_sort_on_equal_values_is_stable_across_pages(admin_client, team):
    from django.utils import timezone

    from teams.models import Team

    same_time = timezone.now()
    Team.objects.bulk_create([Team(name=f"tie-{i}", created_at=same_time) for i in range(10)])

    pages = [
        admin_client.get("/api/v1/teams", {"limit": 3, "offset": o, "sort": "created_at"}) for o in range(0, 12, 3)
    ]

    seen = [t["id"] for page in pages for t in page.json()["teams"]]
    assert len(seen) == len(set(seen)) == Team.objects.live().count()


# The list language: where ---------------------------------------------------------------


@each(RESOURCES)
def test_where_matches_an_exact_value(admin_client, resource, world):
    wanted, _ = labelled(resource, world, "exact", "exactly-not")

    by_label = admin_client.get(resource.url, {"where": f"{resource.label_field}:exact"})
    by_id = admin_client.get(resource.url, {"where": f"id:{wanted.pk}"})

    assert ids(by_label, resource) == ids(by_id, resource) == [str(wanted.pk)]
    assert by_label.json()["_meta"]["count"] == 1


@each(RESOURCES)
def test_where_matches_a_prefix_when_the_value_ends_with_a_star(admin_client, resource, world):
    alpha_1, alpha_2, _ = labelled(resource, world, "alpha-1", "alpha-2", "beta-1")

    response = admin_client.get(resource.url, {"where": f"{resource.label_field}:alpha-*", "sort": "created_at"})

    assert ids(response, resource) == [str(alpha_1.pk), str(alpha_2.pk)]


@each(RESOURCES)
def test_where_ands_its_clauses(admin_client, resource, world):
    wanted, other = labelled(resource, world, "anded", "anded-other")
    type(other).objects.filter(pk=other.pk).update(state="inactive")

    response = admin_client.get(resource.url, {"where": f"{resource.label_field}:anded*,state:active"})

    assert ids(response, resource) == [str(wanted.pk)]


@each(RESOURCES)
def test_an_unknown_where_key_answers_400_with_the_valid_keys(admin_client, resource):
    body = assert_dci_error(admin_client.get(resource.url, {"where": "bogus:1"}), 400)

    assert "bogus" in body["message"]
    assert "id" in body["payload"]["valid_keys"]


@each(RESOURCES)
def test_a_where_clause_without_a_colon_answers_400(admin_client, resource):
    body = assert_dci_error(admin_client.get(resource.url, {"where": "state"}), 400)

    assert body["message"] == 'Invalid where key: "state"'


@each(RESOURCES)
def test_a_where_value_of_the_wrong_type_answers_400(admin_client, resource):
    assert_dci_error(admin_client.get(resource.url, {"where": "id:not-a-uuid"}), 400)
    assert_dci_error(admin_client.get(resource.url, {"where": "created_at:yesterday"}), 400)


def test_an_empty_where_value_matches_null(admin_client, team, user):
    from teams.models import User

    loner = User.objects.create_user("loner", "pw", team=None)

    response = admin_client.get("/api/v1/users", {"where": "team_id:"})

    assert [u["id"] for u in response.json()["users"]] == [str(loner.pk)]


def test_secrets_can_never_be_filtered_on(admin_client, user):
    for key in ("password", "password_hash"):
        assert_dci_error(admin_client.get("/api/v1/users", {"where": f"{key}:x*"}), 400)


@pytest.mark.parametrize("plural", ["remotecis", "jobdefinitions"])
def test_active_and_state_are_one_fact(admin_client, world, plural):
    row = world.remoteci if plural == "remotecis" else world.jobdefinition
    url = f"/api/v1/{plural}/{row.pk}"

    response = admin_client.put(url, {"active": False}, format="json", HTTP_IF_MATCH=fresh(row).etag)

    assert response.status_code == 204, response.content
    body = admin_client.get(url).json()[plural[:-1]]
    assert (body["active"], body["state"]) == (False, "inactive")
    for where in ("active:false", "state:inactive"):
        listed = admin_client.get(f"/api/v1/{plural}", {"where": where}).json()[plural]
        assert [r["id"] for r in listed] == [str(row.pk)], where
    admin_client.put(url, {"state": "active"}, format="json", HTTP_IF_MATCH=fresh(row).etag)
    assert admin_client.get(url).json()[plural[:-1]]["active"] is True
    assert admin_client.get(f"/api/v1/{plural}", {"where": "active:true"}).json()["_meta"]["count"] == 1


# The list language: embed ---------------------------------------------------------------


def assert_embedded(item, name):
    """A to-one embed sits beside its ``<name>_id`` and is that row; a to-many embed is a list."""
    if f"{name}_id" in item:
        assert (item[name] or {}).get("id") == item[f"{name}_id"], name
    else:
        assert isinstance(item[name], list), name


@each(WITH_EMBEDS)
def test_each_embed_sits_next_to_its_id_in_lists_and_in_one_row(admin_client, resource, row):
    top = [name for name in resource.embeds if "." not in name]

    listed = admin_client.get(resource.url, {"embed": ",".join(resource.embeds)})
    one = admin_client.get(resource.url_of(row), {"embed": ",".join(resource.embeds)})

    assert listed.status_code == one.status_code == 200, listed.content
    item = next(i for i in listed.json()[resource.plural] if i["id"] == str(row.pk))
    for body in (item, one.json()[resource.singular]):
        for name in top:
            assert_embedded(body, name)
        for name in [n for n in resource.embeds if "." in n]:
            parent, child = name.split(".")
            assert body[parent][child]["id"] == body[parent][f"{child}_id"]


@each(RESOURCES)
def test_an_unknown_embed_answers_400_with_the_valid_ones(admin_client, resource, row):
    for embed in ("bogus", "team.bogus", "topic.team.bogus"):
        for url in (resource.url, resource.url_of(row)):
            body = assert_dci_error(admin_client.get(url, {"embed": embed}), 400)
            assert sorted(body["payload"]["valid_embeds"]) == sorted(resource.embeds)


@pytest.mark.parametrize(
    "resource,role",
    [pytest.param(r, "admin_client", id=f"{r}-super-admin") for r in RESOURCES]
    # A team member sees one team only: a page of 100 teams cannot be theirs.
    + [pytest.param(r, "user_client", id=f"{r}-member") for r in RESOURCES if r.plural != "teams"],
)
def test_a_list_with_every_embed_costs_the_same_queries_for_10_and_100_rows(request, resource, world, role):
    client = request.getfixturevalue(role)
    labelled(resource, world, *(f"page-{i:03d}" for i in range(100)))
    params = {"embed": ",".join(resource.embeds)} if resource.embeds else {}
    client.get(resource.url, {**params, "limit": 1})  # authenticate once: the cache is warm after

    counts = {}
    for limit in (10, 100):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(resource.url, {**params, "limit": limit})
        assert len(ids(response, resource)) == limit
        counts[limit] = len(queries)

    assert counts[10] == counts[100], counts


def test_a_prefix_match_treats_like_wildcards_literally(admin_client, world):
    from teams.models import Team

    literal, _, _ = Team.objects.create(name="a_%1"), Team.objects.create(name="ab%1"), Team.objects.create(name="a_x")

    response = admin_client.get("/api/v1/teams", {"where": "name:a_%*"})

    assert [t["id"] for t in response.json()["teams"]] == [str(literal.pk)]


@each(MUTABLE)
def test_read_only_fields_in_a_put_body_are_ignored_when_unchanged(admin_client, resource, row):
    # A read-only field with another value is refused (test_unchangeable_fields.py); the current
    # value, as a client echoes its copy back, passes, and a body's etag is never written.
    before = fresh(row)
    current = admin_client.get(resource.url_of(row)).json()[resource.singular]
    body = {**resource.update_body, "id": current["id"], "created_at": current["created_at"], "etag": "forged"}

    response = admin_client.put(resource.url_of(row), body, format="json", HTTP_IF_MATCH=before.etag)

    assert response.status_code == 204, response.content
    after = fresh(row)
    assert (after.created_at, after.etag) == (before.created_at, response["ETag"])
    assert after.etag != "forged"


# Sub-routes speak the list language of the resource they list ----------------------------------

SUB_ROUTES = [
    ("/teams/{team}/users", "users", "teams.User", {"team": "team"}),
    ("/teams/{team}/remotecis", "remotecis", "teams.RemoteCI", {"team": "team"}),
    ("/topics/{topic}/components", "components", "jobs.Component", {"topic": "topic"}),
    ("/topics/{topic}/jobdefinitions", "jobdefinitions", "jobs.JobDefinition", {"topic": "topic"}),
    ("/jobs/{job}/jobstates", "jobstates", "jobs.JobState", {"job": "job"}),
]


@pytest.mark.parametrize("path,plural,model_label,parents", SUB_ROUTES, ids=[s[0] for s in SUB_ROUTES])
def test_a_sub_route_lists_its_children_with_limit_sort_where_and_embed(
    admin_client, world, path, plural, model_label, parents
):
    from django.apps import apps

    from dciserver.tests.resources import RESOURCES

    resource = next(r for r in RESOURCES if r.plural == plural)
    labelled(resource, world, "sub-1", "sub-2", "sub-3")
    model = apps.get_model(model_label)
    children = model.objects.live().filter(**{k: getattr(world, v) for k, v in parents.items()})
    url = "/api/v1" + path.format(**{k: getattr(world, k).pk for k in ("team", "topic", "job")})
    ascending = [str(pk) for pk in children.order_by("created_at", "id").values_list("pk", flat=True)]

    page = admin_client.get(url, {"limit": 2, "sort": "created_at"})
    filtered = admin_client.get(url, {"where": f"{resource.label_field}:sub-*", "sort": "-created_at"})

    assert page.status_code == 200, page.content
    assert page.json()["_meta"]["count"] == len(ascending) >= 3
    assert [r["id"] for r in page.json()[plural]] == ascending[:2]
    assert [r[resource.label_field] for r in filtered.json()[plural]] == ["sub-3", "sub-2", "sub-1"]
    assert admin_client.get(url, {"sort": "bogus"}).status_code == 400
    if resource.embeds:
        embed = resource.embeds[0]
        assert all(embed in r for r in admin_client.get(url, {"embed": embed}).json()[plural])


def test_a_where_key_given_twice_ands_both_values(admin_client, team, other_team):
    assert admin_client.get("/api/v1/teams", {"where": "name:lab,name:rival-lab"}).json()["_meta"]["count"] == 0
    assert admin_client.get("/api/v1/teams?name=lab&where=name:rival-lab").json()["_meta"]["count"] == 0
    assert [t["name"] for t in admin_client.get("/api/v1/teams?name=lab&where=name:l*").json()["teams"]] == ["lab"]


def test_users_me_is_served_like_one_user_with_embeds_and_etags(user_client, user, team):
    response = user_client.get("/api/v1/users/me", {"embed": "team"})

    assert response.status_code == 200
    body = response.json()["user"]
    assert (body["id"], body["team"]["id"]) == (str(user.pk), str(team.pk))
    assert user_client.get("/api/v1/users/me", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    assert user_client.get("/api/v1/users/me", {"embed": "bogus"}).status_code == 400
