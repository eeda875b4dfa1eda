"""``query=`` on every list (SPEC §14; ``dciserver.api.query_language``): the 2025 server's language,
a top-level comma list as AND, the whole input parsed, and any problem a 400 naming it.
"""

import string
import uuid
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dciserver.api.query_language import BINARY, LOGIC, MAX_CONDITIONS, MAX_DEPTH
from dciserver.tests.test_contract import assert_dci_error

pytestmark = pytest.mark.django_db

MODERN = {"HTTP_CLIENT_VERSION": "python-dciclient_4.2.0"}


def names(response, plural):
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()[plural])


@pytest.fixture
def components(topic, team):
    """Three components of the lab's topic: a nightly and a milestone compose (global) and a kernel
    of the lab's own, with tags, blank and non-blank titles, and a NULL and a non-NULL team."""
    from jobs.models import Component

    rows = [
        dict(name="RHEL-9.4-nightly", type="compose", version="9.4", tags=["nightly", "x86_64"], title=""),
        dict(name="RHEL-9.5-milestone", type="compose", version="9.5", tags=["milestone"], title="Beta Two"),
        dict(name="kernel-5.14", type="kernel", version="5.14", tags=[], title="Kernel build", team=team),
    ]
    return [Component.objects.create(topic=topic, **row) for row in rows]


NIGHTLY, MILESTONE, KERNEL = "RHEL-9.4-nightly", "RHEL-9.5-milestone", "kernel-5.14"


@pytest.mark.parametrize(
    "query,expected",
    [
        # Plain comparisons, case-sensitive.
        (f"eq(name,{NIGHTLY})", [NIGHTLY]),
        ("eq(name,rhel-9.4-nightly)", []),
        ("ne(type,compose)", [KERNEL]),
        ("lt(version,9.5)", [NIGHTLY, KERNEL]),
        ("le(version,9.5)", [NIGHTLY, MILESTONE, KERNEL]),
        ("gt(version,9.4)", [MILESTONE]),
        ("ge(version,9.4)", [NIGHTLY, MILESTONE]),
        # SQL patterns: % and _ are wildcards; like minds case, ilike does not.
        ("like(name,RHEL-9.%)", [NIGHTLY, MILESTONE]),
        ("like(name,rhel%)", []),
        ("ilike(name,rhel%)", [NIGHTLY, MILESTONE]),
        ("like(version,9._)", [NIGHTLY, MILESTONE]),
        ("ilike(name,%NIGHTLY)", [NIGHTLY]),
        # A value with spaces inside.
        ("eq(title,Beta Two)", [MILESTONE]),
        # contains on the tags array: the array holds the value.
        ("contains(tags,nightly)", [NIGHTLY]),
        ("contains(tags,night)", []),
        ("not_contains(tags,nightly)", [MILESTONE, KERNEL]),
        # contains on a text: a substring, case-sensitive.
        ("contains(title,Two)", [MILESTONE]),
        ("contains(title,two)", []),
        ("not_contains(title,Kernel)", [NIGHTLY, MILESTONE]),
        # null: NULL, a blank text, an empty array.
        ("null(title)", [NIGHTLY]),
        ("not(null(title))", [MILESTONE, KERNEL]),
        ("null(team_id)", [NIGHTLY, MILESTONE]),
        ("not(null(team_id))", [KERNEL]),
        ("null(tags)", [KERNEL]),
        # Nesting.
        ("and(eq(type,compose),or(contains(tags,nightly),eq(title,Beta Two)))", [NIGHTLY, MILESTONE]),
        (f"or(and(eq(type,kernel),not(null(title))),eq(name,{NIGHTLY}))", [NIGHTLY, KERNEL]),
        ("not(or(eq(type,kernel),contains(tags,milestone)))", [NIGHTLY]),
        ("not(not(eq(type,kernel)))", [KERNEL]),
        ("and(or(eq(version,9.4),eq(version,5.14)),not(and(eq(type,kernel),null(tags))))", [NIGHTLY]),
        # The top-level comma list: every term applies, not only the first.
        ("eq(type,compose),contains(tags,milestone)", [MILESTONE]),
        ("eq(type,compose),not(null(title)),contains(title,Beta)", [MILESTONE]),
        # Spaces between the tokens are not part of them.
        (" and( eq(type, compose) , contains( tags ,nightly ) ) ", [NIGHTLY]),
    ],
)
def test_each_operator_and_combination_selects_the_rows_it_names(admin_client, components, query, expected):
    response = admin_client.get("/api/v1/components", {"query": query})

    assert names(response, "components") == sorted(expected)
    assert response.json()["_meta"]["count"] == len(expected)


def test_an_empty_query_filters_nothing(admin_client, components):
    everything = names(admin_client.get("/api/v1/components"), "components")

    assert names(admin_client.get("/api/v1/components", {"query": ""}), "components") == everything
    assert names(admin_client.get("/api/v1/components", {"query": "  "}), "components") == everything
    assert len(everything) == 3


def test_a_sub_route_list_takes_the_query_too(admin_client, topic, components):
    response = admin_client.get(f"/api/v1/topics/{topic.id}/components", {"query": "contains(tags,milestone)"})

    assert names(response, "components") == [MILESTONE]


@pytest.fixture
def jobdefinitions(topic):
    from jobs.models import JobDefinition

    return [JobDefinition.objects.create(name=f"p{p}", topic=topic, priority=p) for p in (0, 5, 10)]


@pytest.mark.parametrize(
    "query,expected",
    [
        # Compared as numbers: as text, "10" < "5".
        ("gt(priority,5)", ["p10"]),
        ("ge(priority,5)", ["p10", "p5"]),
        ("lt(priority,5)", ["p0"]),
        ("le(priority,5)", ["p0", "p5"]),
        ("ne(priority,5)", ["p0", "p10"]),
        ("eq(priority,10)", ["p10"]),
        ("gt(priority,99999999999999999999)", []),
        ("lt(priority,99999999999999999999)", ["p0", "p10", "p5"]),
        # active (the 2016 boolean) reads the state column, as it does in where.
        ("eq(active,true)", ["p0", "p10", "p5"]),
        ("eq(active,false)", []),
    ],
)
def test_a_value_compares_as_its_columns_type(admin_client, jobdefinitions, query, expected):
    response = admin_client.get("/api/v1/jobdefinitions", {"query": query})

    assert names(response, "jobdefinitions") == expected


def test_a_time_is_compared_as_a_utc_time(admin_client, components):
    with warnings.catch_warnings():
        # Django warns of a naive datetime compared with an aware column: the query's are UTC.
        warnings.simplefilter("error", RuntimeWarning)
        after = admin_client.get("/api/v1/components", {"query": "gt(created_at,2020-01-01)"})
        before = admin_client.get("/api/v1/components", {"query": "lt(created_at,2020-01-01 10:00:00)"})

    assert len(names(after, "components")) == 3
    assert names(before, "components") == []


def test_a_boolean_is_true_or_false(admin_client, topic, other_topic):
    type(topic).objects.filter(pk=topic.pk).update(export_control=True)

    exported = admin_client.get("/api/v1/topics", {"query": "eq(export_control,true)"})
    not_exported = admin_client.get("/api/v1/topics", {"query": "eq(export_control,false)"})

    assert names(exported, "topics") == [topic.name]
    assert names(not_exported, "topics") == [other_topic.name]


@pytest.fixture
def jobs(remoteci, jobdefinition):
    from jobs.models import Job

    def job(comment, status):
        return Job.objects.create(
            remoteci=remoteci,
            jobdefinition=jobdefinition,
            topic=jobdefinition.topic,
            team=remoteci.team,
            comment=comment,
            status=status,
        )

    return [job("a", "success"), job("a", "failure"), job("b", "success")]


def job_ids(response):
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["jobs"])


def test_every_term_of_a_top_level_list_applies(admin_client, jobs):
    both = admin_client.get("/api/v1/jobs", {"query": "eq(comment,a),eq(status,success)"})
    first = admin_client.get("/api/v1/jobs", {"query": "eq(comment,a)"})

    assert job_ids(both) == [str(jobs[0].id)]
    assert job_ids(first) == sorted(str(j.id) for j in jobs[:2])


def test_where_and_query_both_apply(admin_client, jobs):
    response = admin_client.get("/api/v1/jobs", {"where": "status:success", "query": "eq(comment,a)"})

    assert job_ids(response) == [str(jobs[0].id)]
    assert response.json()["_meta"]["count"] == 1


@pytest.mark.parametrize("where", ["", "state:active"])
def test_the_count_is_of_the_rows_the_query_selects_not_the_kept_count(admin_client, jobs, where):
    # A bare list and where=state:x read the kept per-team count: never with a query.
    response = admin_client.get("/api/v1/jobs", {"where": where, "query": "eq(status,success)", "limit": 1})

    assert response.json()["_meta"]["count"] == 2
    assert len(response.json()["jobs"]) == 1
    assert admin_client.get("/api/v1/jobs", {"where": where}).json()["_meta"]["count"] == 3


def test_a_query_compares_case_sensitively_on_both_wires(admin_client, jobs):
    # where= on the modern wire compares text regardless of case (SPEC §9); the query language does not.
    seed = admin_client.get("/api/v1/jobs", {"query": "eq(comment,A)"})
    modern = admin_client.get("/api/v1/jobs", {"query": "eq(comment,A)"}, **MODERN)
    modern_where = admin_client.get("/api/v1/jobs", {"where": "comment:A"}, **MODERN)

    assert job_ids(seed) == job_ids(modern) == []
    assert len(job_ids(modern_where)) == 2


# Scope ---------------------------------------------------------------------------------------


@pytest.fixture
def rival_job(other_remoteci, other_topic):
    from jobs.models import Job, JobDefinition

    jobdefinition = JobDefinition.objects.create(name="rival-install", topic=other_topic)
    return Job.objects.create(
        remoteci=other_remoteci, jobdefinition=jobdefinition, topic=other_topic, team=other_remoteci.team
    )


@pytest.mark.parametrize(
    "query",
    [
        "eq(team_id,{rival})",
        "eq(id,{job})",
        "or(eq(team_id,{rival}),not(null(id)))",
        "not(eq(team_id,{own}))",
        "not(and(eq(team_id,{own}),eq(team_id,{rival})))",
    ],
)
def test_a_query_never_shows_a_row_the_caller_could_not_list_without_it(
    user_client, admin_client, jobs, rival_job, team, other_team, query
):
    query = query.format(rival=other_team.id, own=team.id, job=rival_job.id)

    scoped = user_client.get("/api/v1/jobs", {"query": query})
    unscoped = admin_client.get("/api/v1/jobs", {"query": query})

    assert str(rival_job.id) not in job_ids(scoped)
    assert set(job_ids(scoped)) <= set(job_ids(user_client.get("/api/v1/jobs")))
    assert scoped.json()["_meta"]["count"] == len(scoped.json()["jobs"])
    # The query does select the rival's job for a caller who may see it.
    assert str(rival_job.id) in job_ids(unscoped)


def test_another_teams_component_stays_hidden_whatever_the_query(outsider_client, components, team):
    response = outsider_client.get("/api/v1/components", {"query": f"eq(team_id,{team.id})"})

    assert names(response, "components") == []
    assert response.json()["_meta"]["count"] == 0


# Refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,query,message,detail",
    [
        (
            "/api/v1/components",
            "eq(created_at,yesterday)",
            "Invalid query value for 'created_at': 'yesterday'",
            "created_at: “yesterday” value has an invalid format. "
            "It must be in YYYY-MM-DD HH:MM[:ss[.uuuuuu]][TZ] format.",
        ),
        (
            "/api/v1/components",
            "and(eq(type,compose),eq(id,not-a-uuid))",
            "Invalid query value for 'id': 'not-a-uuid'",
            "id: “not-a-uuid” is not a valid UUID.",
        ),
        (
            "/api/v1/jobs",
            "eq(recheck,maybe)",
            "Invalid query value for 'recheck': 'maybe'",
            "recheck: “maybe” value must be either True or False.",
        ),
        (
            "/api/v1/jobdefinitions",
            "gt(priority,high)",
            "Invalid query value for 'priority': 'high'",
            "priority: “high” value must be an integer.",
        ),
    ],
)
def test_a_value_of_the_wrong_type_answers_400_naming_field_and_value(admin_client, url, query, message, detail):
    body = assert_dci_error(admin_client.get(url, {"query": query}), 400)

    assert body["message"] == message
    assert body["payload"] == {"errors": {"query": [detail]}}


@pytest.mark.parametrize(
    "url,viewset_path,field",
    [
        ("/api/v1/components", "jobs.api.catalogue.ComponentViewSet", "bogus"),
        ("/api/v1/jobs", "jobs.api.jobs.JobViewSet", "email"),
        # Secrets are never keys: no query reads them either.
        ("/api/v1/users", "teams.api.UserViewSet", "password"),
        ("/api/v1/remotecis", "teams.api.RemoteCIViewSet", "api_secret"),
    ],
)
def test_an_unknown_field_answers_400_naming_it_and_the_valid_keys(admin_client, url, viewset_path, field):
    from django.utils.module_loading import import_string

    keys = import_string(viewset_path).filterset_class.base_filters

    body = assert_dci_error(admin_client.get(url, {"query": f"or(eq(id,{uuid.uuid4()}),eq({field},x))"}), 400)

    assert body["message"] == f"Invalid field: {field}"
    assert body["payload"] == {"errors": {"query": [f"Unknown field {field!r}."]}, "valid_keys": sorted(keys)}


@pytest.mark.parametrize(
    "query,message",
    [
        # Unknown operators, the 2025 server's missing ones among them.
        ("foo(name,x)", "Invalid query at position 0: unknown operator 'foo'"),
        ("EQ(name,x)", "Invalid query at position 0: unknown operator 'EQ'"),
        ("and(gte(name,x))", "Invalid query at position 4: unknown operator 'gte'"),
        ("not_null(name)", "Invalid query at position 0: unknown operator 'not_null'"),
        ("in(name,x)", "Invalid query at position 0: unknown operator 'in'"),
        # Unbalanced parentheses.
        ("eq(name,x", "Invalid query at position 9: expected ')', found the end"),
        ("and(eq(name,x),eq(type,y)", "Invalid query at position 25: expected ')', found the end"),
        ("eq(name,x))", "Invalid query at position 10: expected ',' or the end, found ')'"),
        ("(eq(name,x))", "Invalid query at position 0: expected an operator, found '(eq(name,x))'"),
        # Trailing garbage: the whole input must parse.
        ("eq(name,x)garbage", "Invalid query at position 10: expected ',' or the end, found 'garbage'"),
        ("eq(name,x) eq(type,y)", "Invalid query at position 11: expected ',' or the end, found 'eq(type,y)'"),
        ("eq(name,x),", "Invalid query at position 11: expected an operator, found the end"),
        # not() takes one operand.
        (
            "not(eq(name,a),eq(name,b))",
            "Invalid query at position 14: expected ')', found ',eq(name,b))' (not takes one operand)",
        ),
        # Malformed terms.
        ("eq(name)", "Invalid query at position 7: expected ',', found ')'"),
        ("eq(name,)", "Invalid query at position 8: expected a value, found ')'"),
        ("eq(status:success)", "Invalid query at position 9: expected ',', found ':success)'"),
        ("eq(name,x*)", "Invalid query at position 9: expected ')', found '*)'"),
        ("eq(name,'x')", "Invalid query at position 8: expected a value, found \"'x')\""),
        ("eq(,x)", "Invalid query at position 3: expected a field, found ',x)'"),
        ("and()", "Invalid query at position 4: expected an operator, found ')'"),
        ("null(name,x)", "Invalid query at position 9: expected ')', found ',x)'"),
        ("eq(näme,x)", "Invalid query at position 4: expected ',', found 'äme,x)'"),
        # An operator that does not apply to the column's kind.
        ("lt(tags,x)", "Invalid query: lt does not apply to 'tags'"),
        ("eq(tags,nightly)", "Invalid query: eq does not apply to 'tags'"),
        ("like(created_at,2020%)", "Invalid query: like does not apply to 'created_at'"),
        ("contains(topic_id,x)", "Invalid query: contains does not apply to 'topic_id'"),
    ],
)
def test_a_malformed_query_answers_400_naming_where_and_what(admin_client, components, query, message):
    body = assert_dci_error(admin_client.get("/api/v1/components", {"query": query}), 400)

    assert body["message"] == message
    assert list(body["payload"]) == ["errors"]
    assert len(body["payload"]["errors"]["query"]) == 1


def nested(depth):
    return "not(" * depth + "eq(name,x)" + ")" * depth


def test_nesting_is_capped_with_a_400(admin_client, components):
    deepest = admin_client.get("/api/v1/components", {"query": nested(MAX_DEPTH)})
    too_deep = assert_dci_error(admin_client.get("/api/v1/components", {"query": nested(MAX_DEPTH + 1)}), 400)
    # As deep as a request line allows (8000 characters, the parentheses sent as %28 and %29).
    absurd = assert_dci_error(admin_client.get("/api/v1/components", {"query": nested(800)}), 400)

    # An even number of nots: the name x, which no component has.
    assert names(deepest, "components") == []
    assert too_deep["message"] == f"Invalid query at position {4 * MAX_DEPTH}: nested deeper than {MAX_DEPTH}"
    assert absurd == too_deep


def test_the_number_of_conditions_is_capped_with_a_400(admin_client, components):
    most = ",".join(["not(null(id))"] * (MAX_CONDITIONS - 1) + ["eq(type,compose)"])
    too_many = most + ",null(name)"

    assert names(admin_client.get("/api/v1/components", {"query": most}), "components") == [NIGHTLY, MILESTONE]
    body = assert_dci_error(admin_client.get("/api/v1/components", {"query": too_many}), 400)
    assert body["message"] == f"Invalid query at position {len(most) + 1}: more than {MAX_CONDITIONS} conditions"


def test_a_very_long_value_is_just_a_value(admin_client, components):
    # Longer than the column (255), as long as a request line allows.
    response = admin_client.get("/api/v1/components", {"query": f"eq(name,{'x' * 7_000})"})

    assert names(response, "components") == []


def test_the_schema_documents_query_on_every_list_beside_where(anonymous_client):
    paths = anonymous_client.get("/api/schema/", {"format": "json"}).json()["paths"]

    lists = {
        path: {parameter["name"] for parameter in operation["get"].get("parameters", [])}
        for path, operation in paths.items()
        if "get" in operation
    }
    with_where = {path for path, parameters in lists.items() if "where" in parameters}

    assert {"/api/v1/jobs", "/api/v1/components", "/api/v1/topics/{id}/components"} <= with_where
    assert {path for path in with_where if "query" not in lists[path]} == set()


# Fuzz -----------------------------------------------------------------------------------------


def keys_of(prefix):
    from dciserver.urls import router

    viewset = next(viewset for routed, viewset, _ in router.registry if routed == prefix)
    return sorted(viewset.filterset_class.base_filters)


VALUES = st.one_of(
    st.from_regex(r"[A-Za-z0-9_\- %.:/]{1,12}", fullmatch=True),
    # Values some column takes, and some at the edges of a type.
    st.sampled_from(
        ["2020-01-01", "2020-01-01 10:00:00", "true", "false", "0", "-1", "99999999999999999999", "%", "_%_"]
        + ["active", "compose", "nightly", "success", "a", str(uuid.uuid4())]
    ),
)


def queries(fields):
    """Well-formed queries on ``fields``, and near misses: one cut short, one with a few characters
    inserted, and garbage of the grammar's characters and a few others."""
    fields = st.sampled_from(fields)
    leaves = st.one_of(
        st.builds("{}({},{})".format, st.sampled_from(BINARY), fields, VALUES),
        st.builds("null({})".format, fields),
    )
    terms = st.recursive(
        leaves,
        lambda inner: st.builds(
            lambda operator, operands: f"{operator}({','.join(operands)})",
            st.sampled_from(LOGIC),
            st.lists(inner, min_size=1, max_size=3),
        ),
        max_leaves=8,
    )
    well_formed = st.lists(terms, min_size=1, max_size=3).map(",".join)
    chars = string.ascii_letters + string.digits + "_-%.:/ (),'\"*+@\\\t\n\x00é"
    return st.one_of(
        well_formed,
        well_formed,
        well_formed,
        st.tuples(well_formed, st.integers(0, 200)).map(lambda t: t[0][: t[1]]),
        st.tuples(well_formed, st.integers(0, 200), st.text(chars, min_size=1, max_size=3)).map(
            lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
        ),
        st.text(chars, max_size=60),
    )


@pytest.mark.parametrize("prefix", ["components", "jobs", "topics"])
@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_query_answers_200_or_a_400_in_the_dci_shape(admin_client, components, jobs, prefix, data):
    query = data.draw(queries(keys_of(prefix)), label="query")

    response = admin_client.get(f"/api/v1/{prefix}", {"query": query})

    assert response.status_code in (200, 400), (query, response.content)
    if response.status_code == 400:
        body = assert_dci_error(response, 400)
        # A NUL is refused before any view reads the query (APIErrorMiddleware); the rest by the language.
        assert "NUL character" in body["message"] or body["payload"]["errors"]["query"], body
    else:
        assert response["Content-Type"].startswith("application/json")
