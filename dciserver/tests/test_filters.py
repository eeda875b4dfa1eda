"""A resource's ``where`` keys are its FilterSet (``dciserver.api.filters``), and nothing else.

Generated from the URL configuration: a new resource is checked as soon as it is routed.
"""

import pytest
from django.db import models

from dciserver.api.filters import TEXT_FIELDS, DCIFilterSet, WhereFilter
from dciserver.tests.test_contract import assert_dci_error
from dciserver.urls import router

pytestmark = pytest.mark.django_db

ROUTED = [pytest.param(f"/api/v1/{prefix}", viewset, id=prefix) for prefix, viewset, _ in router.registry]


def plural(url):
    return url.rsplit("/", 1)[-1]


@pytest.fixture
def rows(admin_client, world, user, jobstate, file, events_rows):
    """A row of every resource the super admin lists, with its audit entries (and a test, of a report)."""
    import io

    from files.services import file_create

    admin_client.post("/api/v1/teams", {"name": "audited"}, format="json")
    report = b'<testsuite name="s"><testcase classname="c" name="t"/></testsuite>'
    file_create(job=jobstate.job, name="tests.xml", mime="application/junit", stream=io.BytesIO(report))


@pytest.mark.parametrize("url,viewset", ROUTED)
def test_every_routed_resource_declares_its_keys_as_one_filterset_of_its_model(url, viewset):
    filterset = viewset.filterset_class
    model_fields = {field.name for field in viewset.model._meta.get_fields()}

    assert issubclass(filterset, DCIFilterSet)
    assert filterset._meta.model is viewset.model
    assert {"id", "created_at"} <= set(filterset.base_filters)
    assert ("state" in filterset.base_filters) == ("state" in model_fields)
    assert all(isinstance(f, WhereFilter) for f in filterset.base_filters.values())
    assert not hasattr(viewset, "where_fields")


@pytest.mark.parametrize("url,viewset", ROUTED)
def test_an_unknown_key_answers_400_naming_the_filtersets_keys(admin_client, url, viewset):
    for params in ({"where": "bogus:1"}, {"where": "created_at:2016-01-01,bogus:"}):
        body = assert_dci_error(admin_client.get(url, params), 400)

        assert body["message"] == "Invalid where key: 'bogus'"
        assert body["payload"] == {
            "errors": {"where": ["Unknown key 'bogus'."]},
            "valid_keys": sorted(viewset.filterset_class.base_filters),
        }


def wire_value(item, key):
    """The value of ``key`` in a listed row, as a client would send it back in a where clause."""
    value = item.get(key)
    if isinstance(value, list):  # tags: one of them
        value = value[0] if value else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# The wire's timestamps carry no zone: a where clause's is read as UTC, which Django says aloud.
@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime:RuntimeWarning")
@pytest.mark.parametrize("url,viewset", ROUTED)
def test_where_and_a_plain_parameter_filter_identically_for_every_key(admin_client, rows, url, viewset):
    listed = admin_client.get(url, {"sort": "created_at"}).json()[plural(url)]
    assert listed, url
    item = listed[0]

    for key, where_filter in viewset.filterset_class.base_filters.items():
        exact = wire_value(item, key)
        text = isinstance(item.get(key), str) and where_filter.model_field.get_internal_type() in TEXT_FIELDS
        for value in [exact, f"{exact[:2]}*"] if text and exact else [exact]:
            by_where = admin_client.get(url, {"where": f"{key}:{value}", "sort": "created_at"})
            by_parameter = admin_client.get(url, {key: value, "sort": "created_at"})

            assert by_where.status_code == by_parameter.status_code == 200, (key, value, by_where.content)
            assert by_where.json() == by_parameter.json(), (key, value)
            # Each key reads the column its row shows: the row is found by its own value.
            assert value == "" or item["id"] in [r["id"] for r in by_where.json()[plural(url)]], (key, value)


@pytest.mark.parametrize("url,viewset", ROUTED)
def test_a_bad_value_answers_the_same_400_by_where_and_by_plain_parameter(admin_client, url, viewset):
    by_where = assert_dci_error(admin_client.get(url, {"where": "id:not-a-uuid"}), 400)
    by_parameter = assert_dci_error(admin_client.get(url, {"id": "not-a-uuid"}), 400)

    assert by_where == by_parameter
    assert by_where["message"] == "Invalid where value for 'id': 'not-a-uuid'"
    # Ids are UUIDs, but a test's (a 63-bit number) and those of sequences (events, deliveries).
    numbered = isinstance(viewset.model._meta.pk, (models.BigAutoField, models.BigIntegerField))
    wrong = "value must be an integer" if numbered else "is not a valid UUID"
    assert by_where["payload"] == {"errors": {"where": [f"id: “not-a-uuid” {wrong}."]}}


def test_the_first_wrong_clause_is_the_one_the_400_names(admin_client):
    def message(where):
        return assert_dci_error(admin_client.get("/api/v1/teams", {"where": where}), 400)["message"]

    assert message("id:bad,bogus:1") == "Invalid where value for 'id': 'bad'"
    assert message("bogus:1,id:bad") == "Invalid where key: 'bogus'"
    assert message("created_at:2016-01-01,id:bad,created_at:bad") == "Invalid where value for 'id': 'bad'"
    assert message("name:x,nocolon,id:bad") == 'Invalid where key: "nocolon"'


def test_a_key_declared_in_the_filterset_is_a_key_of_the_list(admin_client, team, monkeypatch):
    from teams.api import TeamFilter, TeamViewSet
    from teams.models import Team

    class TeamFilterWithEtag(TeamFilter):
        class Meta(TeamFilter.Meta):
            fields = [*TeamFilter.Meta.fields, "etag"]

    monkeypatch.setattr(TeamViewSet, "filterset_class", TeamFilterWithEtag)
    etag = Team.objects.get(pk=team.pk).etag

    found = admin_client.get("/api/v1/teams", {"where": f"etag:{etag}"}).json()["teams"]
    refused = assert_dci_error(admin_client.get("/api/v1/teams", {"where": "bogus:1"}), 400)

    assert [t["id"] for t in found] == [str(team.pk)]
    assert "etag" in refused["payload"]["valid_keys"]


def declare(model_label, fields, **filters):
    from django.apps import apps

    meta = type("Meta", (), {"model": apps.get_model(model_label), "fields": fields})
    return type("Declared", (DCIFilterSet,), {"Meta": meta, **filters})


@pytest.mark.parametrize(
    "model_label,fields,filters",
    [
        pytest.param("teams.User", ["password"], {}, id="a-secret-field"),
        pytest.param("teams.User", ["name"], {"secret": WhereFilter("password")}, id="a-filter-reading-a-secret"),
        pytest.param("teams.User", {"name": ["icontains"]}, {}, id="a-lookup-other-than-equality"),
        pytest.param("teams.Team", ["bogus"], {}, id="a-field-the-model-lacks"),
        pytest.param("teams.Team", ["name"], {"nowhere": WhereFilter("bogus")}, id="a-filter-reading-no-column"),
    ],
)
def test_a_filterset_refuses_at_declaration(model_label, fields, filters):
    with pytest.raises(TypeError):
        declare(model_label, fields, **filters)


def test_a_foreign_key_is_declared_by_its_wire_key_and_reads_the_column():
    team_filter = declare("teams.RemoteCI", ["team_id"]).base_filters["team_id"]

    assert (team_filter.field_name, team_filter.model_field.get_internal_type()) == ("team_id", "UUIDField")


@pytest.mark.parametrize("where", ["where=recheck:{}", "recheck={}"])
def test_a_boolean_key_takes_the_wires_true_and_false(admin_client, job, where):
    copy = admin_client.post(f"/api/v1/jobs/{job.id}/recheck").json()["job"]

    rechecks = admin_client.get("/api/v1/jobs?" + where.format("true")).json()
    firsts = admin_client.get("/api/v1/jobs?" + where.format("false")).json()

    assert [j["id"] for j in rechecks["jobs"]] == [copy["id"]]
    assert [j["id"] for j in firsts["jobs"]] == [str(job.id)]
    assert admin_client.get("/api/v1/jobs?" + where.format("maybe")).status_code == 400
