"""``get_for_user``: the row by id as ``for_user`` scopes it, for every resource and role.

Team-owned rows (jobs, jobstates, files, remotecis) answer it with one SQL statement of their
own instead of a queryset; these tests hold the two to the same answer, values included.
"""

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db


def _values(row):
    return None if row is None else {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields}


@pytest.fixture
def cast(world, other_remoteci, super_admin, team_admin, user, other_user, jobstate, file):
    from jobs.models import Job, JobState
    from teams.models import RemoteCI, User

    world.remoteci.data = {"lab": "Brno ✓", "nested": [1, {"a": None}]}
    world.remoteci.save()
    rival_job = Job.objects.create(remoteci=other_remoteci, topic=world.topic, team=other_remoteci.team)
    JobState.objects.create(job=rival_job, team=rival_job.team, status="running")
    archived = RemoteCI.objects.create(name="gone", team=world.team, archived_at=timezone.now())
    teamless = User.objects.create_user("teamless", "pw", team=None)
    users = [super_admin, team_admin, user, other_user, teamless, None]
    return users, archived


def _models():
    from files.models import File
    from jobs.models import Component, Job, JobDefinition, JobState, Topic
    from teams.models import RemoteCI, Team, User

    return [Job, JobState, File, RemoteCI, Team, User, Topic, Component, JobDefinition]


def test_get_for_user_answers_what_for_user_answers_for_every_row_and_role(cast):
    import uuid

    users, _ = cast
    checked = found = 0
    for model in _models():
        ids = [*model.objects.values_list("pk", flat=True), uuid.uuid4()]
        for user in users:
            for pk in ids:
                expected = model.objects.for_user(user).filter(pk=pk).first()
                got = model.objects.get_for_user(user, pk)
                assert _values(got) == _values(expected), (model.__name__, user, pk)
                checked += 1
                found += got is not None
    # Real answers on both sides: rows seen, rows hidden (another team's, archived, unknown).
    assert found >= 30 and checked - found >= 30, (checked, found)


def test_a_team_owned_row_read_by_sql_is_the_row_the_orm_reads(cast, user, world):
    from teams.models import RemoteCI

    got = RemoteCI.objects.get_for_user(user, world.remoteci.pk)
    assert got.data == {"lab": "Brno ✓", "nested": [1, {"a": None}]}  # JSON decoded as the ORM does
    assert got.team_id == world.team.id and got._state.adding is False
    # Archived rows are not found, not even by a super admin through the API.
    _, archived = cast
    assert RemoteCI.objects.get_for_user(user, archived.pk) is None


def test_a_filtered_queryset_keeps_its_filters(cast, user, world):
    from jobs.models import Job

    assert Job.objects.get_for_user(user, world.job.pk) is not None
    assert Job.objects.filter(status="success").get_for_user(user, world.job.pk) is None


def test_a_row_read_with_its_related_row_is_the_row_select_related_reads(cast, user, super_admin):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from teams.models import User

    teamless = User.objects.get(name="teamless")
    for someone in (user, super_admin, teamless):
        expected = User.objects.select_related("team").get(pk=someone.pk)
        with CaptureQueriesContext(connection) as queries:
            got = User.objects.select_by_pk(someone.pk, related="team")
            team = got.team  # cached: no second query
        assert len(queries) == 1
        assert _values(got) == _values(expected)
        assert _values(team) == _values(expected.team)
    archived = User.objects.create_user("archived", "pw", team=user.team)
    User.objects.filter(pk=archived.pk).update(archived_at=timezone.now())
    assert User.objects.select_by_pk(archived.pk, related="team") is None


# Lists: a page of the caller's scope read by SQL, without a queryset --------------------------


def orm_page(model, someone, url):
    """The ids of the page ``url`` asks for and the count, as the ORM reads the caller's rows."""
    from urllib.parse import parse_qsl

    from dciserver.api import query

    params = dict(parse_qsl(url.split("?", 1)[1])) if "?" in url else {}
    limit, offset = query.parse_limit_offset(params)
    keys = {name: name for name in ("created_at", "comment", "status", "name")}
    order = query.parse_sort(params.get("sort") or "-created_at", keys)
    rows = model.objects.for_user(someone)
    return [str(pk) for pk in rows.order_by(*order).values_list("pk", flat=True)[offset : offset + limit]], rows.count()


def test_a_list_read_by_the_scope_as_sql_is_the_list_the_queryset_reads(cast, world, super_admin, user, other_user):
    from conftest import PASSWORD, client_for
    from dciserver.api.reader import Reader
    from jobs.models import Job, JobState
    from teams.models import RemoteCI, User

    # More rows than a page, some archived, with ties on the sort keys.
    for n in range(7):
        job = Job.objects.create(remoteci=world.remoteci, topic=world.topic, team=world.team, comment=f"c{n % 3}")
        JobState.objects.create(job=job, team=world.team, status=("new", "running")[n % 2])
        if n == 3:
            Job.objects.filter(pk=job.pk).update(archived_at=timezone.now())
    page, pages = Reader.page, []

    def counting(reader, *args, **kwargs):
        pages.append(reader.model)
        return page(reader, *args, **kwargs)

    teamless = User.objects.get(name="teamless")
    urls = [
        "/api/v1/jobs?embed=remoteci,team",
        "/api/v1/jobs?sort=comment,-created_at&limit=3&offset=2",
        "/api/v1/jobs?sort=-status&limit=2&offset=5&embed=jobdefinition,components,jobstates",
        "/api/v1/jobs?limit=4&offset=100",
        "/api/v1/jobstates?sort=status&limit=3&offset=1&embed=job",
        "/api/v1/remotecis?sort=-name",
    ]
    compared = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Reader, "page", counting)
        for someone in (super_admin, user, other_user, teamless):
            client = client_for(someone, PASSWORD if someone is not teamless else "pw")
            for url in urls:
                before = len(pages)
                by_scope = client.get(url)
                assert by_scope.status_code == 200, (url, by_scope.content[:300])
                assert len(pages) == before + 1, url
                # The ORM's way: the rows ``for_user`` reads, in the same order and page.
                plural = url.split("?")[0].rsplit("/", 1)[-1]
                model = {"jobs": Job, "jobstates": JobState, "remotecis": RemoteCI}[plural]
                expected_ids, expected_count = orm_page(model, someone, url)
                listed = by_scope.json()
                assert [row["id"] for row in listed[plural]] == expected_ids, (someone, url)
                assert listed["_meta"]["count"] == expected_count, (someone, url)
                # A filter every row meets, compiled into the same statement, changes nothing.
                assert client.get(f"{url}&where=state:active").json() == listed, (someone, url)
                assert len(pages) == before + 2, url
                compared += 1
    assert set(pages) >= {Job, JobState} and compared == 24
    # The comparison saw real pages: a team's jobs, everyone's, and no one's.
    seen = {u: client_for(u).get("/api/v1/jobs").json()["_meta"]["count"] for u in (super_admin, user)}
    assert seen[user] >= 7 and seen[super_admin] > seen[user]
    assert client_for(teamless, "pw").get("/api/v1/jobs").json() == {"jobs": [], "_meta": {"count": 0}}


def test_an_object_read_by_the_scope_as_sql_is_the_object_the_queryset_reads(cast, world, super_admin, user):
    import uuid

    from conftest import PASSWORD, client_for
    from jobs.models import Job, JobState
    from teams.models import RemoteCI, User

    users, archived = cast
    routes = {"jobs": (Job, "job"), "jobstates": (JobState, "jobstate"), "remotecis": (RemoteCI, "remoteci")}
    answers = {200: 0, 404: 0}
    for someone in [u for u in users if u is not None]:
        client = client_for(someone, "pw" if someone.name == "teamless" else PASSWORD)
        for route, (model, singular) in routes.items():
            embed = "team" if route != "jobstates" else "job"
            # Rows of both teams, an archived one and an unknown id.
            for pk in [*model.objects.values_list("pk", flat=True), uuid.uuid4()]:
                one = client.get(f"/api/v1/{route}/{pk}?embed={embed}")
                # The queryset's way: the list filtered by the id.
                listed = client.get(f"/api/v1/{route}?where=id:{pk}&embed={embed}").json()
                assert one.status_code in (200, 404), one.content[:300]
                found = one.json()[singular] if one.status_code == 200 else None
                assert found == (listed[route][0] if listed[route] else None), (someone, route, pk)
                answers[one.status_code] += 1
    assert archived.pk in RemoteCI.objects.values_list("pk", flat=True)
    # Real answers on both sides.
    assert answers[200] >= 10 and answers[404] >= 20, answers
    assert User.objects.get(name="teamless").team_id is None


def test_a_user_without_a_team_is_answered_404_for_every_row_it_may_not_see(cast, world, jobstate, file):
    from conftest import client_for
    from teams.models import User

    # Its scope is ``none()``: the reader once compiled that query and answered 500.
    client = client_for(User.objects.get(name="teamless"), "pw")
    rows = {
        "teams": world.team,
        "remotecis": world.remoteci,
        "topics": world.topic,
        "components": world.component,
        "jobdefinitions": world.jobdefinition,
        "jobs": world.job,
        "jobstates": jobstate,
        "files": file,
    }
    for route, row in rows.items():
        response = client.get(f"/api/v1/{route}/{row.pk}")
        assert response.status_code == 404, (route, response.status_code, response.content[:200])
        assert response.json()["status_code"] == 404
        listed = client.get(f"/api/v1/{route}")
        assert listed.status_code == 200 and listed.json()["_meta"]["count"] == 0, route


# One declaration per model ------------------------------------------------------------------


def test_the_scope_as_sql_selects_the_rows_for_user_selects_for_every_model_and_role(cast):
    from django.db import connection

    from dciserver.models import AuditLog

    users, _ = cast
    checked = found = hidden = 0
    for model in [*_models(), AuditLog]:
        table = model._meta.db_table
        for user in users:
            for alias in (None, "t9"):  # the table by its name, and joined under an alias
                condition, params = model.objects.readable_sql(user, alias)
                name = f'"{table}" {alias}' if alias else f'"{table}"'
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT {alias or name}.id FROM {name} WHERE {condition or 'TRUE'}", params)
                    by_sql = {row[0] for row in cursor.fetchall()}
                expected = set(model.objects.for_user(user).values_list("pk", flat=True))
                assert by_sql == expected, (model.__name__, user, alias, condition)
                checked += 1
                found += len(expected)
                hidden += model._base_manager.count() - len(expected)
    # Real answers on both sides: rows seen, rows hidden (another team's, archived).
    assert checked == 10 * 6 * 2 and found >= 80 and hidden >= 80, (checked, found, hidden)


def test_a_model_that_declares_no_scope_shows_its_rows_to_super_admins_only(world, super_admin, user):
    from dciserver.models import ScopedQuerySet
    from jobs.models import TopicSubscription

    assert not hasattr(TopicSubscription, "visible_to")
    undeclared = ScopedQuerySet(model=TopicSubscription)
    assert undeclared.for_user(super_admin).count() == TopicSubscription.objects.count() == 1
    assert not undeclared.for_user(user).exists() and not undeclared.for_user(None).exists()
    assert undeclared.readable_sql(user) == ("FALSE", [])


def test_every_model_the_api_serves_declares_who_may_read_it():
    from dciserver.urls import router

    for prefix, viewset, _ in router.registry:
        assert callable(getattr(viewset.model, "visible_to", None)), prefix
