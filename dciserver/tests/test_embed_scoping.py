"""No embed shows a row its caller could not read directly (SPEC §2, §4).

An embedded object is a read of another resource: the caller sees it exactly when
``GET /<its plural>/<its id>`` would answer them 200. One that they may not read is rendered as
``null`` for a to-one embed (the row still lists, its relation is hidden) and left out of the list
of a to-many embed. The cases are generated from the viewsets' declared ``embeds`` (nested and
to-many ones included), for every role, for objects and for lists whether chosen by the caller's
scope alone or by a filter (the reader's two ways of choosing a page), in a world where rows have moved: a
remoteci moved to another team, a user moved to another team, a topic unsubscribed from the team,
and archived rows still referenced by live ones.
"""

import io
from types import SimpleNamespace

import pytest
from django.utils import timezone

from conftest import PASSWORD, client_for, if_match

pytestmark = pytest.mark.django_db

API = "/api/v1"
JUNIT = (
    b'<testsuite name="unit" tests="2"><testcase classname="a" name="ok"/>'
    b'<testcase classname="a" name="ko"><failure/></testcase></testsuite>'
)


def _routes():
    from dciserver.urls import router

    return {prefix: viewset for prefix, viewset, _ in router.registry}


def _plural_of(model):
    """The route reading ``model``'s rows directly, or ``None``: rows read through their parent only
    (a job's key/values)."""
    if model._meta.pk.is_relation:
        model = model._meta.pk.related_model  # a row identified by another (a JUnit result by its file)
    return next((prefix for prefix, viewset in _routes().items() if viewset.model is model), None)


def _embedded_model(model, path):
    for name in path.split("__"):
        model = model._meta.get_field(name).related_model
    return model


def _cases():
    """``(plural, embed parameter)``: each declared embed alone, then all to-one embeds together
    and all embeds together (a page joining several relations, and one mixing both kinds)."""
    cases = []
    for plural, viewset in _routes().items():
        names = list(viewset.embeds)
        combinations = [[name] for name in names]
        to_one = [name for name in names if not viewset.embeds[name].many]
        for together in (to_one, names):
            if len(together) > 1 and together not in combinations:
                combinations.append(together)
        cases += [(plural, ",".join(names)) for names in combinations]
    return cases


CASES = _cases()


def test_the_cases_cover_every_declared_embed():
    declared = {(plural, name) for plural, viewset in _routes().items() for name in viewset.embeds}
    covered = {(plural, name) for plural, embed in CASES for name in embed.split(",")}
    assert covered == declared
    # Nested and to-many embeds are among them.
    assert {("jobs", "jobdefinition.topic"), ("jobs", "components"), ("jobs", "files"), ("jobs", "results")} <= covered


@pytest.fixture
def moved_world(db, admin_client, super_admin, team_admin, user, other_user, team, other_team):
    """Two teams' rows, then what the API lets a super admin do to them afterwards."""
    from events.models import Webhook
    from events.tests.working import work
    from files.services import file_create
    from jobs.models import Component, Job, JobDefinition, JobState, Topic, TopicSubscription
    from jobs.services import jobstate_create
    from teams.models import RemoteCI, Team, User
    from teams.services import team_archive

    def topic(name, *teams):
        row = Topic.objects.create(name=name, component_types=["compose"])
        for subscriber in teams:
            TopicSubscription.objects.create(topic=row, team=subscriber)
        component = Component.objects.create(name=f"{name}-1", type="compose", topic=row)
        jobdefinition = JobDefinition.objects.create(name=f"{name}-install", topic=row, component_types=["compose"])
        return row, component, jobdefinition

    def job(remoteci, topic_row, jobdefinition, components, team_row=None):
        row = Job.objects.create(
            remoteci=remoteci, jobdefinition=jobdefinition, topic=topic_row, team=team_row or remoteci.team
        )
        row.components.add(*components)
        jobstate = JobState.objects.create(job=row, team=row.team, status="running")
        file_create(job=row, jobstate=jobstate, name="console.log", stream=io.BytesIO(b"log\n"))
        file_create(job=row, name="unit.xml", mime="application/junit", stream=io.BytesIO(JUNIT))
        return row, jobstate

    t1, c1, jd1 = topic("RHEL-9", team)
    t2, c2, jd2 = topic("Fedora-42", team)
    t3, c3, jd3 = topic("CentOS-10", other_team)
    t4, c4, jd4 = topic("RHEL-7", team)
    c1_old = Component.objects.create(name="RHEL-9-0", type="compose", topic=t1)
    stays = RemoteCI.objects.create(name="stays", team=team)
    moves = RemoteCI.objects.create(name="moves", team=team)
    rivals = RemoteCI.objects.create(name="rivals", team=other_team)
    retired = RemoteCI.objects.create(name="retired", team=team)
    closed = Team.objects.create(name="closed-lab")
    closed_remoteci = RemoteCI.objects.create(name="closed-rack", team=closed)

    job_a, jobstate_a = job(stays, t1, jd1, [c1, c1_old])
    old_jobstate = JobState.objects.create(job=job_a, team=team, status="pre-run")
    file_create(job=job_a, jobstate=old_jobstate, name="pre-run.log", stream=io.BytesIO(b"pre\n"))
    gone_file = file_create(job=job_a, name="gone.xml", mime="application/junit", stream=io.BytesIO(JUNIT))
    job(moves, t2, jd2, [c2])
    job(rivals, t3, jd3, [c3])
    job(retired, t4, jd4, [c4])
    job(stays, t1, None, [])  # a job made from a topic alone: no job definition
    job(closed_remoteci, t1, jd1, [c1])
    # Products (SPEC §11): the lab reaches an exported topic of its product, not an unexported
    # one; a product whose link is removed afterwards; a rival's product.
    from jobs.models import Product, ProductTeam

    ocp = Product.objects.create(name="OpenShift", label="OPENSHIFT")
    ProductTeam.objects.create(product=ocp, team=team)
    exported, _, _ = topic("OCP-4.19", other_team)
    Topic.objects.filter(pk=exported.pk).update(product=ocp, export_control=True)
    unexported, _, _ = topic("OCP-4.20")
    Topic.objects.filter(pk=unexported.pk).update(product=ocp)
    unlinked = Product.objects.create(name="RHEL", label="RHEL")
    ProductTeam.objects.create(product=unlinked, team=team)
    Topic.objects.filter(pk=t3.pk).update(product=unlinked, export_control=True)
    rivals_product = Product.objects.create(name="Ansible", label="ANSIBLE")
    ProductTeam.objects.create(product=rivals_product, team=other_team)
    job(stays, exported, None, [])
    from teams.models import Feeder

    # Team components (SPEC §11): the lab's, and a rival's in a topic both teams reach.
    Component.objects.create(name="lab-build", type="compose", topic=t1, team=team, tags=["nightly"])
    Component.objects.create(name="rival-build", type="compose", topic=t1, team=other_team)
    TopicSubscription.objects.create(topic=t1, team=other_team)

    # Pipelines (SPEC §12): the lab's, with a job and its key/values; a rival's, which a lab job
    # names (written behind the API's back: the API refuses it), and a closed team's.
    from jobs.models import JobKeyValue, Pipeline

    lab_line = Pipeline.objects.create(name="nightly", team=team)
    rival_line = Pipeline.objects.create(name="rival-nightly", team=other_team)
    Pipeline.objects.create(name="closed-nightly", team=closed)
    Job.objects.filter(pk=job_a.pk).update(pipeline=lab_line)
    crossed, _ = job(stays, t1, jd1, [c1])
    Job.objects.filter(pk=crossed.pk).update(pipeline=rival_line)
    for key, value in (("install_seconds", 1830.5), ("nodes", 3)):
        JobKeyValue.objects.create(job=job_a, team=team, key=key, value=value)

    Feeder.objects.create(name="koji", team=team)
    Feeder.objects.create(name="brew", team=other_team)
    Feeder.objects.create(name="closed-feeder", team=closed)
    mover = User.objects.create_user("lab-mover", PASSWORD, team=team)
    teamless = User.objects.create_user("teamless", PASSWORD, team=None)

    # What a super admin does afterwards, through the API where the issue met it.
    moves.refresh_from_db()
    moved = admin_client.put(f"{API}/remotecis/{moves.id}", {"team_id": str(other_team.id)}, **if_match(moves))
    assert moved.status_code == 204, moved.content
    moved = admin_client.put(f"{API}/users/{mover.id}", {"team_id": str(other_team.id)}, **if_match(mover))
    assert moved.status_code == 204, moved.content
    unsubscribed = admin_client.delete(f"{API}/topics/{t2.id}/teams/{team.id}")
    assert unsubscribed.status_code == 204, unsubscribed.content
    unlinked_now = admin_client.delete(f"{API}/products/{unlinked.id}/teams/{team.id}")
    assert unlinked_now.status_code == 204, unlinked_now.content
    now = timezone.now()
    RemoteCI.objects.filter(pk=retired.pk).update(archived_at=now)
    Topic.objects.filter(pk=t4.pk).update(archived_at=now)
    Component.objects.filter(pk=c1_old.pk).update(archived_at=now)
    JobState.objects.filter(pk=old_jobstate.pk).update(archived_at=now)
    type(gone_file).objects.filter(pk=gone_file.pk).update(archived_at=now)
    closed.refresh_from_db()
    team_archive(team=closed)  # its jobs stay, the super admins' history
    # A finished job of the team, its event dispatched to the team's webhook: a delivery to read.
    Webhook.objects.create(team=team, name="hook", url="http://127.0.0.1:9/hook", kinds=["job_finished"])
    jobstate_create(job=job_a, status="success")
    work()

    roles = {
        "super_admin": super_admin,
        "team_admin": team_admin,
        "user": user,
        "other_team_user": other_user,
        "user_without_team": teamless,
        "user_moved_to_other_team": mover,
    }
    return SimpleNamespace(
        clients={role: client_for(person) for role, person in roles.items()},
        people=roles,
        job_a=job_a,
        moved_remoteci=moves,
        unsubscribed_topic=t2,
        unsubscribed_jobdefinition=jd2,
        unsubscribed_component=c2,
    )


class Checker:
    """Reads as one caller and checks each embed of a representation against a direct read."""

    def __init__(self, client, label):
        self.client, self.label = client, label
        self.readable = {}
        self.shown = self.hidden = 0
        self.violations = []

    def can_read(self, plural, pk):
        key = (plural, str(pk))
        if key not in self.readable:
            status = self.client.get(f"{API}/{plural}/{pk}").status_code
            assert status in (200, 404), (self.label, plural, pk, status)
            self.readable[key] = status == 200
        return self.readable[key]

    def check(self, model, row, names, specs, where):
        """Every embed of ``row`` (a representation of ``model``) against the direct reads."""
        for name in names:
            *parents, leaf = name.split(".")
            parent = row
            for part in parents:
                parent = parent.get(part) if parent is not None else None
            if parent is None:
                continue  # the parent relation is hidden or null: nothing nested to show
            spec = specs[name]
            plural = _plural_of(_embedded_model(model, spec.path))
            context = f"{self.label}: {where} {name}"
            if spec.many:
                parent_model = _embedded_model(model, specs[".".join(parents)].path) if parents else model
                self.check_many(parent_model, parent, leaf, spec.path.split("__")[-1], plural, context)
            else:
                self.check_one(parent, leaf, plural, context)

    def check_one(self, parent, leaf, plural, context):
        if leaf not in parent:
            self.violations.append(f"{context}: missing")
            return
        embedded, related_id = parent[leaf], parent.get(f"{leaf}_id")
        if embedded is not None:
            if not self.can_read(plural, embedded["id"]):
                self.violations.append(f"{context}: shows {plural}/{embedded['id']}, which answers 404")
            elif embedded["id"] != related_id:
                self.violations.append(f"{context}: shows {embedded['id']} for {leaf}_id {related_id}")
            else:
                self.shown += 1
        elif related_id is not None:
            if self.can_read(plural, related_id):
                self.violations.append(f"{context}: null, but {plural}/{related_id} answers 200")
            else:
                self.hidden += 1

    def check_many(self, parent_model, parent, leaf, accessor, plural, context):
        owner = parent_model._base_manager.get(pk=parent["id"])
        every = {str(pk) for pk in getattr(owner, accessor).values_list("pk", flat=True)}
        if plural is None:
            # Read through the parent alone: all of a readable parent's rows are shown.
            if len(parent.get(leaf, ())) != len(every):
                self.violations.append(f"{context}: shows {len(parent.get(leaf, ()))} of {len(every)}")
            self.shown += len(every)
            return
        readable = {pk for pk in every if self.can_read(plural, pk)}
        embedded = [item["id"] for item in parent.get(leaf, ())]
        for pk in embedded:
            if pk not in readable:
                self.violations.append(f"{context}: shows {plural}/{pk}, which answers 404")
        for pk in readable - set(embedded):
            self.violations.append(f"{context}: leaves out {plural}/{pk}, which answers 200")
        self.shown += len(set(embedded) & readable)
        self.hidden += len(every - readable)


# The rows a filter chooses, where a resource has no lifecycle ``state`` (a delivery's is its ``status``).
FILTERS = {"deliveries": "&where=status:pending"}


@pytest.mark.parametrize("chosen", ["", "&where=state:active"], ids=["scope", "filter"])
@pytest.mark.parametrize(("plural", "embed"), CASES, ids=[f"{p}?embed={e}" for p, e in CASES])
def test_no_embed_shows_a_row_its_caller_cannot_read_directly(moved_world, plural, embed, chosen):
    from dciserver.api import query

    chosen = FILTERS.get(plural, chosen) if chosen else chosen
    viewset = _routes()[plural]
    names = query.parse_embed(embed, viewset.embeds)
    everyone = moved_world.clients["super_admin"].get(f"{API}/{plural}?limit=1000").json()[plural]
    shown = hidden = rows = 0
    violations = []
    for role, client in moved_world.clients.items():
        checker = Checker(client, role)
        listed = client.get(f"{API}/{plural}?embed={embed}&limit=1000{chosen}")
        assert listed.status_code == 200, (role, listed.content[:300])
        # An embed hides related rows, never the rows listed.
        plain = client.get(f"{API}/{plural}?limit=1000{chosen}").json()[plural]
        assert [r["id"] for r in listed.json()[plural]] == [r["id"] for r in plain], (role, embed)
        for row in listed.json()[plural]:
            checker.check(viewset.model, row, names, viewset.embeds, f"GET /{plural}?embed={embed}{chosen}")
            rows += 1
        for every_row in everyone:
            one = client.get(f"{API}/{plural}/{every_row['id']}?embed={embed}")
            assert one.status_code in (200, 404), (role, one.content[:300])
            if one.status_code == 200:
                where = f"GET /{plural}/{every_row['id']}?embed={embed}"
                checker.check(viewset.model, one.json()[viewset.singular], names, viewset.embeds, where)
        shown, hidden = shown + checker.shown, hidden + checker.hidden
        violations += checker.violations
    assert not violations, "\n".join(violations)
    # The world exercises the case: rows listed, and embedded rows shown.
    assert rows and shown, (rows, shown, hidden)


def test_a_remoteci_moved_to_another_team_leaves_the_old_teams_jobs_with_a_null_remoteci(moved_world):
    client = moved_world.clients["user"]
    remoteci = moved_world.moved_remoteci

    assert client.get(f"{API}/remotecis/{remoteci.id}").status_code == 404
    jobs = client.get(f"{API}/jobs?embed=remoteci,team&limit=1000").json()["jobs"]
    (job,) = [j for j in jobs if j["remoteci_id"] == str(remoteci.id)]
    assert job["remoteci"] is None and job["team"]["id"] == job["team_id"]
    one = client.get(f"{API}/jobs/{job['id']}?embed=remoteci,components").json()["job"]
    assert one["remoteci"] is None
    # The team it moved to reads it.
    assert moved_world.clients["other_team_user"].get(f"{API}/remotecis/{remoteci.id}").status_code == 200


def test_a_topic_unsubscribed_from_the_team_hides_its_rows_from_the_teams_jobs(moved_world):
    client = moved_world.clients["user"]
    topic = moved_world.unsubscribed_topic

    for plural, row in [
        ("topics", topic),
        ("components", moved_world.unsubscribed_component),
        ("jobdefinitions", moved_world.unsubscribed_jobdefinition),
    ]:
        assert client.get(f"{API}/{plural}/{row.id}").status_code == 404
    embed = "topic,jobdefinition,jobdefinition.topic,components"
    jobs = client.get(f"{API}/jobs?embed={embed}&limit=1000").json()["jobs"]
    (job,) = [j for j in jobs if j["topic_id"] == str(topic.id)]
    assert job["topic"] is None and job["jobdefinition"] is None and job["components"] == []
    # The job's own row still says what it ran.
    assert job["jobdefinition_id"] == str(moved_world.unsubscribed_jobdefinition.id)


def test_archived_rows_are_left_out_of_a_to_many_embed(moved_world):
    job = moved_world.job_a
    one = moved_world.clients["super_admin"].get(f"{API}/jobs/{job.id}?embed=components,jobstates,files,results").json()
    live = {
        "components": set(job.components.filter(archived_at__isnull=True).values_list("pk", flat=True)),
        "jobstates": set(job.jobstates.filter(archived_at__isnull=True).values_list("pk", flat=True)),
        "files": set(job.files.filter(archived_at__isnull=True).values_list("pk", flat=True)),
        "results": set(job.junit_results.filter(file__archived_at__isnull=True).values_list("pk", flat=True)),
    }
    for name, ids in live.items():
        assert {item["id"] for item in one["job"][name]} == {str(pk) for pk in ids}, name
        every = getattr(job, "junit_results" if name == "results" else name).count()
        assert every > len(ids), name  # an archived one was there to leave out


def test_a_teams_page_of_jobs_with_its_scoped_embeds_is_one_statement(moved_world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dciserver import prepared

    client = moved_world.clients["user"]
    url = f"{API}/jobs?embed=remoteci,team,jobdefinition"
    client.get(url)  # the caller's credentials are verified once
    with CaptureQueriesContext(connection) as queries:
        jobs = client.get(url).json()["jobs"]
    run = [prepared.original(connection, q["sql"]) for q in queries.captured_queries]
    # The caller, then the page: its rows, their embeds (each joined with its model's scope) and the count.
    assert len(run) == 2, run
    page = run[1]
    assert page.count("LEFT JOIN") == 3, page
    # The caller's team is written in the text: its statement is prepared and planned for it.
    team = f"'{moved_world.people['user'].team_id}'::uuid"
    assert f'"t1"."archived_at" IS NULL AND "t1"."team_id" = {team}' in page, page  # remoteci
    assert f'"t2"."archived_at" IS NULL AND "t2"."id" = {team}' in page, page  # team
    # jobdefinition: read through its topic's subscriptions, the team's topics read once (any_of)
    assert '"t3"."archived_at" IS NULL AND "t3"."topic_id" = ANY(ARRAY(SELECT ' in page, page
    assert "%s" not in page, page
    assert any(job["remoteci"] is None for job in jobs) and any(job["jobdefinition"] is None for job in jobs)


@pytest.mark.parametrize("chosen", ["", "&where=state:active"], ids=["scope", "filter"])
def test_scoped_embeds_add_no_query_per_row(moved_world, chosen):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs.models import Job

    client = moved_world.clients["user"]
    url = f"{API}/jobs?embed=team,remoteci,jobdefinition,jobdefinition.topic,topic,components,jobstates,files{chosen}"
    client.get(f"{API}/identity")  # the caller's credentials are verified once
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            listed = client.get(url).json()
        counts.append((len(listed["jobs"]), len(queries)))
        for job in Job.objects.filter(team__name="lab"):
            job.pk = None
            job.save()
    (few, before), (more, after) = counts
    assert more > few and after == before, counts
