import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from conftest import client_for
from dciserver.api.exceptions import PreconditionFailed
from jobs import services
from jobs.models import Component, Job, JobCount, JobDefinition, JobState, components_key
from jobs.scheduling import job_schedule
from teams.models import RemoteCI

pytestmark = pytest.mark.django_db


def schedule(client, remoteci, topic, **headers):
    return client.post("/api/v1/jobs/schedule", {"remoteci_id": str(remoteci.id), "topic_id": str(topic.id)}, **headers)


@pytest.fixture
def kernel(topic):
    return Component.objects.create(name="kernel-6.1", type="kernel", topic=topic)


def test_it_schedules_the_first_jobdefinition_by_priority(user_client, remoteci, topic, component, kernel):
    JobDefinition.objects.create(name="later", topic=topic, priority=5, component_types=["compose"])
    first = JobDefinition.objects.create(name="first", topic=topic, priority=1, component_types=["compose", "kernel"])

    response = schedule(user_client, remoteci, topic, HTTP_USER_AGENT="dci-agent/1.0", HTTP_CLIENT_VERSION="4.2")

    assert response.status_code == 201, response.content
    body = response.json()["job"]
    assert body["jobdefinition_id"] == str(first.id)
    assert response["ETag"] == body["etag"]
    job = Job.objects.get(pk=body["id"])
    assert set(job.components.all()) == {component, kernel}
    assert (job.user_agent, job.client_version) == ("dci-agent/1.0", "4.2")


def test_it_uses_the_newest_component_of_each_type(user_client, remoteci, topic, component, jobdefinition):
    newer = Component.objects.create(name="RHEL-9.5", type="compose", topic=topic)

    response = schedule(user_client, remoteci, topic)

    assert list(Job.objects.get(pk=response.json()["job"]["id"]).components.all()) == [newer]


def test_inactive_and_archived_components_are_not_handed_out(remoteci, topic, component, jobdefinition):
    Component.objects.create(name="RHEL-9.5-inactive", type="compose", topic=topic, state="inactive")
    archived = Component.objects.create(name="RHEL-9.6-archived", type="compose", topic=topic)
    Component.objects.filter(pk=archived.pk).update(archived_at=archived.created_at)

    job = job_schedule(remoteci=remoteci, topic_id=topic.id)

    assert list(job.components.all()) == [component]


def test_three_schedules_in_a_row_leave_killed_killed_new(user_client, remoteci, topic, component):
    for priority in range(3):
        JobDefinition.objects.create(name=f"jd{priority}", topic=topic, priority=priority, component_types=["compose"])

    ids = [schedule(user_client, remoteci, topic).json()["job"]["id"] for _ in range(3)]

    assert [Job.objects.get(pk=pk).status for pk in ids] == ["killed", "killed", "new"]
    killed = JobState.objects.get(job_id=ids[0])
    assert killed.status == "killed" and ids[1] in killed.comment


def test_a_schedule_is_one_statement_with_its_audit_entry_and_no_transaction(
    user_client, user, remoteci, topic, monkeypatch
):
    from django.db import transaction

    from dciserver import prepared
    from dciserver.models import AuditLog
    from jobs.scheduling import _schedule_statement

    for priority in range(2):
        JobDefinition.objects.create(name=f"jd{priority}", topic=topic, priority=priority, component_types=["compose"])
    Component.objects.create(name="compose-1", type="compose", topic=topic)
    first = schedule(user_client, remoteci, topic).json()["job"]  # the statements' first runs, as text
    entered = []
    enter = transaction.Atomic.__enter__
    monkeypatch.setattr(transaction.Atomic, "__enter__", lambda self: entered.append(self) or enter(self))
    with CaptureQueriesContext(connection) as queries:
        response = schedule(user_client, remoteci, topic)
    monkeypatch.undo()

    assert response.status_code == 201, response.content
    job = response.json()["job"]
    run = [prepared.original(connection, q["sql"]) for q in queries.captured_queries]
    # The user, the candidates with the remoteci's check, the schedule writing the job, the kill
    # and the audit entry, and reading the answer: as a read gives the job.
    assert len(run) == 3 and run[2].startswith(_schedule_statement(True).removesuffix(" FROM s")), run
    assert run[2].endswith(" FROM s") and '(s.job)."id"::text' in run[2], run
    assert job == user_client.get(f"/api/v1/jobs/{job['id']}").json()["job"]
    assert not entered and not any("SAVEPOINT" in sql for sql in run)
    entries = list(AuditLog.objects.order_by("created_at").values_list("user_id", "action", "resource", "object_id"))
    assert entries == [(user.id, "schedule", "job", first["id"]), (user.id, "schedule", "job", job["id"])]
    assert AuditLog.objects.filter(status_code=201, method="POST", path="/api/v1/jobs/schedule").count() == 2


def test_a_refused_schedule_writes_no_audit_entry(user_client, remoteci, topic, jobdefinition, component):
    from dciserver.models import AuditLog

    assert schedule(user_client, remoteci, topic).status_code == 201
    assert schedule(user_client, remoteci, topic).status_code == 412  # the only combination is taken
    RemoteCI.objects.filter(pk=remoteci.pk).update(state="inactive")
    assert schedule(user_client, remoteci, topic).status_code == 412

    assert AuditLog.objects.count() == 1 and Job.objects.count() == 1


def test_an_audit_entry_that_cannot_be_written_takes_the_job_with_it(user, remoteci, topic, jobdefinition, component):
    from django.db import IntegrityError, transaction

    audit = {"user_id": user.id, "user_name": user.name, "team_id": user.team_id, "action": "schedule"}
    audit |= {"resource": "job", "method": "POST", "path": "/api/v1/jobs/schedule", "status_code": -1}
    with pytest.raises(IntegrityError), transaction.atomic():
        job_schedule(remoteci=remoteci, topic_id=topic.id, audit=audit)

    assert not Job.objects.exists() and not JobState.objects.exists()


def test_it_can_leave_unfinished_jobs_alone(settings, user_client, remoteci, topic, component):
    settings.DCI_SCHEDULE_KILLS_UNFINISHED = False
    for priority in range(2):
        JobDefinition.objects.create(name=f"jd{priority}", topic=topic, priority=priority, component_types=["compose"])

    ids = [schedule(user_client, remoteci, topic).json()["job"]["id"] for _ in range(2)]

    assert [Job.objects.get(pk=pk).status for pk in ids] == ["new", "new"]


def test_it_answers_412_when_nothing_is_left_naming_the_skipped(user_client, remoteci, topic, jobdefinition, component):
    JobDefinition.objects.create(name="needs-kernel", topic=topic, component_types=["kernel"])
    assert schedule(user_client, remoteci, topic).status_code == 201

    response = schedule(user_client, remoteci, topic)

    assert response.status_code == 412
    body = response.json()
    assert body["message"] == "No jobs available for run."
    reasons = {row["name"]: row["reason"] for row in body["payload"]["skipped"]}
    assert reasons == {"install": "already run on this component set", "needs-kernel": "no component of type kernel"}


def test_a_new_component_makes_a_jobdefinition_runnable_again(user_client, remoteci, topic, jobdefinition, component):
    assert schedule(user_client, remoteci, topic).status_code == 201
    Component.objects.create(name="RHEL-9.6", type="compose", topic=topic)

    assert schedule(user_client, remoteci, topic).status_code == 201


def test_a_topic_without_jobdefinitions_is_its_own(user_client, remoteci, topic, component, kernel):
    response = schedule(user_client, remoteci, topic)

    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["job"]["id"])
    assert job.jobdefinition_id is None and job.topic_id == topic.id
    assert set(job.components.all()) == {component, kernel}
    assert schedule(user_client, remoteci, topic).status_code == 412


def test_it_refuses_an_inactive_remoteci(user_client, remoteci, topic, jobdefinition, component):
    RemoteCI.objects.filter(pk=remoteci.pk).update(state="inactive")

    response = schedule(user_client, remoteci, topic)

    assert response.status_code == 412
    assert response.json()["message"] == f'RemoteCI "{remoteci.id}" is not active.'


def test_it_refuses_an_unsubscribed_team(user_client, remoteci, topic, jobdefinition, component):
    topic.teams.clear()

    response = schedule(user_client, remoteci, topic)

    assert response.status_code == 412
    assert response.json()["message"] == f"Team is not subscribed to topic {topic.id}."


def test_another_teams_remoteci_is_not_found(outsider_client, remoteci, topic, jobdefinition, component):
    assert schedule(outsider_client, remoteci, topic).status_code == 404


def test_an_archived_remoteci_is_not_found(user_client, remoteci, topic, jobdefinition, component):
    RemoteCI.objects.filter(pk=remoteci.pk).update(archived_at=remoteci.created_at)

    response = schedule(user_client, remoteci, topic)

    assert response.status_code == 404
    assert response.json()["message"] == f"remoteci {remoteci.id} not found"


@pytest.mark.parametrize("topic_id", ["not-a-uuid", "6f1b7a4e-0000-4000-8000-000000000000", "{topic}"])
def test_a_remoteci_the_caller_cannot_see_is_a_404_whatever_the_topic(outsider_client, remoteci, topic, topic_id):
    # Checked with the candidates; before a malformed or unknown topic_id, as before.
    body = {"remoteci_id": str(remoteci.id), "topic_id": topic_id.format(topic=topic.id)}

    response = outsider_client.post("/api/v1/jobs/schedule", body)

    assert response.status_code == 404
    assert response.json()["message"] == f"remoteci {remoteci.id} not found"
    assert not Job.objects.exists()


def test_a_user_without_a_team_schedules_no_remoteci(remoteci, topic, jobdefinition, component):
    from teams.models import User

    loner = User.objects.create_user("loner", "s3cret-password", team=None, role="user")
    response = schedule(client_for(loner), remoteci, topic, format="json")

    assert response.status_code == 404 and not Job.objects.exists()


def test_a_remoteci_by_id_is_never_scheduled_unchecked(remoteci, topic, jobdefinition, component):
    with pytest.raises(ValueError):
        job_schedule(remoteci_id=remoteci.id, topic_id=topic.id)
    assert not Job.objects.exists()


def test_a_super_admin_schedules_any_teams_remoteci(admin_client, remoteci, topic, jobdefinition, component):
    response = schedule(admin_client, remoteci, topic)

    assert response.status_code == 201, response.content
    assert response.json()["job"]["remoteci_id"] == str(remoteci.id)


@pytest.mark.parametrize("remoteci_id", [None, "", "not-a-uuid"])
def test_a_missing_or_malformed_remoteci_id_is_a_400(user_client, topic, remoteci_id):
    body = (
        {"topic_id": str(topic.id)} if remoteci_id is None else {"remoteci_id": remoteci_id, "topic_id": str(topic.id)}
    )

    response = user_client.post("/api/v1/jobs/schedule", body)

    assert response.status_code == 400
    assert "remoteci_id" in response.json()["payload"]["errors"]


def test_an_unknown_topic_is_not_found(user_client, remoteci):
    response = user_client.post(
        "/api/v1/jobs/schedule",
        {"remoteci_id": str(remoteci.id), "topic_id": "6f1b7a4e-0000-4000-8000-000000000000"},
    )
    assert response.status_code == 404


def test_an_archived_topic_is_not_found(user_client, remoteci, topic, jobdefinition, component):
    topic.__class__.objects.filter(pk=topic.pk).update(archived_at=topic.created_at)

    response = schedule(user_client, remoteci, topic)

    assert response.status_code == 404
    assert response.json()["message"] == f"topic {topic.id} not found"


@pytest.mark.parametrize("topic_id", [None, "", "not-a-uuid"])
def test_a_missing_or_malformed_topic_id_is_a_400(user_client, remoteci, topic_id):
    body = (
        {"remoteci_id": str(remoteci.id)}
        if topic_id is None
        else {"remoteci_id": str(remoteci.id), "topic_id": topic_id}
    )

    response = user_client.post("/api/v1/jobs/schedule", body)

    assert response.status_code == 400
    assert "topic_id" in response.json()["payload"]["errors"]


def test_a_recheck_copy_is_handed_out_first_and_only_once(user_client, remoteci, topic, jobdefinition, component):
    original = schedule(user_client, remoteci, topic).json()["job"]
    Component.objects.create(name="RHEL-9.6", type="compose", topic=topic)

    response = user_client.post(f"/api/v1/jobs/{original['id']}/recheck")
    assert response.status_code == 201
    copy = response.json()["job"]
    assert (copy["recheck"], copy["status"], copy["jobdefinition_id"]) == (True, "new", original["jobdefinition_id"])

    assert schedule(user_client, remoteci, topic).json()["job"]["id"] == copy["id"]
    following = schedule(user_client, remoteci, topic).json()["job"]
    assert following["id"] != copy["id"] and following["recheck"] is False


def test_the_job_it_returns_is_the_row_it_wrote(remoteci, topic, jobdefinition, component):
    job = job_schedule(remoteci=remoteci, topic_id=topic.id, user_agent="a" * 300, client_version="4.2")

    stored = Job.objects.get(pk=job.pk)
    fields = [field.attname for field in Job._meta.concrete_fields]
    assert [getattr(job, name) for name in fields] == [getattr(stored, name) for name in fields]
    assert (stored.status, stored.team_id, stored.topic_id) == ("new", remoteci.team_id, topic.id)
    assert (stored.user_agent, stored.client_version) == ("a" * 255, "4.2")


def test_its_components_key_is_the_one_python_computes(remoteci, topic, component, kernel):
    JobDefinition.objects.create(name="both", topic=topic, component_types=["kernel", "compose", "kernel"])

    job = job_schedule(remoteci=remoteci, topic_id=topic.id)

    assert set(job.components.all()) == {component, kernel}
    assert job.components_key == components_key([component.id, kernel.id])


def test_a_combination_created_through_post_jobs_counts_as_already_run(remoteci, topic, component, kernel):
    both = JobDefinition.objects.create(name="both", topic=topic, component_types=["compose", "kernel"])
    services.job_create(remoteci=remoteci, jobdefinition=both, components=[kernel, component])

    with pytest.raises(PreconditionFailed) as raised:
        job_schedule(remoteci=remoteci, topic_id=topic.id)

    assert raised.value.payload == {
        "skipped": [{"jobdefinition_id": str(both.id), "name": "both", "reason": "already run on this component set"}]
    }


def test_an_archived_job_does_not_count_as_already_run(remoteci, topic, jobdefinition, component):
    first = job_schedule(remoteci=remoteci, topic_id=topic.id)
    Job.objects.filter(pk=first.pk).update(archived_at=first.created_at)

    assert job_schedule(remoteci=remoteci, topic_id=topic.id).components_key == first.components_key


def test_the_skipped_list_names_the_lacking_first_then_the_already_run_in_order(remoteci, topic, component):
    run = [
        JobDefinition.objects.create(name=f"run{i}", topic=topic, priority=i, component_types=["compose"])
        for i in (1, 3)
    ]
    lacking = JobDefinition.objects.create(name="lacking", topic=topic, priority=2, component_types=["kernel", "x"])
    for _ in run:
        job_schedule(remoteci=remoteci, topic_id=topic.id)

    with pytest.raises(PreconditionFailed) as raised:
        job_schedule(remoteci=remoteci, topic_id=topic.id)

    assert raised.value.payload["skipped"] == [
        {"jobdefinition_id": str(lacking.id), "name": "lacking", "reason": "no component of type kernel, x"},
        *({"jobdefinition_id": str(j.id), "name": j.name, "reason": "already run on this component set"} for j in run),
    ]


def test_repeated_refusals_name_the_same_skipped_list(remoteci, topic, component, jobdefinition):
    JobDefinition.objects.create(name="needs-kernel", topic=topic, component_types=["kernel"])
    job_schedule(remoteci=remoteci, topic_id=topic.id)
    payloads = []
    for _ in range(2):
        with pytest.raises(PreconditionFailed) as raised:
            job_schedule(remoteci=remoteci, topic_id=topic.id)
        payloads.append(raised.value.payload)

    assert payloads[0] == payloads[1] and len(payloads[0]["skipped"]) == 2


def test_a_topic_acting_as_its_own_jobdefinition_is_named_by_topic_id_when_skipped(remoteci, topic, component):
    with pytest.raises(PreconditionFailed) as raised:
        job_schedule(remoteci=remoteci, topic_id=topic.id)

    assert raised.value.payload == {
        "skipped": [{"topic_id": str(topic.id), "name": topic.name, "reason": "no component of type kernel"}]
    }


def test_it_kills_only_the_remotecis_other_unfinished_jobs(remoteci, other_remoteci, topic, component, kernel):
    for priority in range(2):
        JobDefinition.objects.create(name=f"jd{priority}", topic=topic, priority=priority, component_types=["compose"])
    running = job_schedule(remoteci=remoteci, topic_id=topic.id)
    Job.objects.filter(pk=running.pk).update(status="running")
    done = Job.objects.create(remoteci=remoteci, topic=topic, team=remoteci.team, status="success")
    elsewhere = Job.objects.create(remoteci=other_remoteci, topic=topic, team=other_remoteci.team, status="running")
    pending_copy, next_copy = services.job_recheck(job=done), services.job_recheck(job=done)

    scheduled = job_schedule(remoteci=remoteci, topic_id=topic.id)
    assert scheduled.pk == pending_copy.pk  # the recheck copies go first, and wait their turn

    killed = Job.objects.get(pk=running.pk)
    assert killed.status == "killed" and killed.etag != running.etag and killed.updated_at > running.updated_at
    jobstate = JobState.objects.get(job=killed)
    assert (jobstate.status, jobstate.team_id, jobstate.created_at) == ("killed", remoteci.team_id, killed.updated_at)
    assert jobstate.comment == f"killed: remoteci {remoteci.name} was scheduled job {scheduled.id}"
    assert Job.objects.get(pk=done.pk).status == "success"
    assert Job.objects.get(pk=elsewhere.pk).status == "running"
    assert Job.objects.get(pk=next_copy.pk).status == "new"
    assert not JobState.objects.filter(job__in=[done, elsewhere, pending_copy, next_copy]).exists()


def test_the_job_counts_follow_scheduled_jobs(user, remoteci, topic, jobdefinition, component):
    before = JobCount.objects.total_for(user)

    job_schedule(remoteci=remoteci, topic_id=topic.id)

    assert JobCount.objects.total_for(user) == before + 1 == Job.objects.for_user(user).count()


def test_the_seed_recheck_route_takes_the_job_id_in_the_body(user_client, job):
    response = user_client.post("/api/v1/jobs/recheck", {"job_id": str(job.id)})

    assert response.status_code == 201
    copy = Job.objects.get(pk=response.json()["job"]["id"])
    assert list(copy.components.all()) == list(job.components.all())


def test_another_teams_job_cannot_be_rechecked(outsider_client, job):
    assert outsider_client.post(f"/api/v1/jobs/{job.id}/recheck").status_code == 404
    assert outsider_client.post("/api/v1/jobs/recheck", {"job_id": str(job.id)}).status_code == 404


def _history(topic, remoteci, jobdefinitions, past_jobs):
    compose = Component.objects.create(name="compose-x", type="compose", topic=topic)
    jds = JobDefinition.objects.bulk_create(
        [
            JobDefinition(name=f"jd{i}", topic=topic, priority=i % 1000, component_types=["compose"])
            for i in range(jobdefinitions)
        ]
    )
    Job.objects.bulk_create(
        [
            Job(remoteci=remoteci, jobdefinition=jds[i % len(jds)], topic=topic, team=remoteci.team, status="success")
            for i in range(past_jobs)
        ]
    )
    return compose


def _count_schedule_queries(remoteci, topic):
    with CaptureQueriesContext(connection) as queries:
        job_schedule(remoteci=remoteci, topic_id=topic.id)
    return len(queries)


def test_the_query_count_does_not_grow_with_history(team, topic):
    small = RemoteCI.objects.create(name="small", team=team)
    _history(topic, small, 5, 0)
    small_count = _count_schedule_queries(small, topic)

    from jobs.models import Topic, TopicSubscription

    big_topic = Topic.objects.create(name="big", component_types=["compose"])
    TopicSubscription.objects.create(topic=big_topic, team=team)
    big = RemoteCI.objects.create(name="big", team=team)
    _history(big_topic, big, 500, 10_000)
    assert _count_schedule_queries(big, big_topic) == small_count == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_schedules_for_one_remoteci_never_hand_out_a_combination_twice(team, user, topic):
    remoteci = RemoteCI.objects.create(name="contended", team=team)
    Component.objects.create(name="compose-1", type="compose", topic=topic)
    for i in range(5):
        JobDefinition.objects.create(name=f"jd{i}", topic=topic, priority=i, component_types=["compose"])
    statuses, barrier = [], threading.Barrier(20)

    def run():
        try:
            client = client_for(user)
            barrier.wait()
            statuses.append(schedule(client, remoteci, topic).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] * 5 + [412] * 15
    combos = list(Job.objects.filter(remoteci=remoteci).values_list("jobdefinition_id", "components_key"))
    assert len(combos) == len(set(combos)) == 5


@pytest.mark.django_db(transaction=True)
def test_a_schedule_does_not_wait_on_another_remotecis_lock(team, topic):
    first = RemoteCI.objects.create(name="first", team=team)
    second = RemoteCI.objects.create(name="second", team=team)
    Component.objects.create(name="compose-1", type="compose", topic=topic)
    JobDefinition.objects.create(name="jd", topic=topic, component_types=["compose"])
    holding, release, outcome = threading.Event(), threading.Event(), {}

    def hold_first_remotecis_lock():
        from django.db import transaction

        try:
            with transaction.atomic():
                RemoteCI.objects.select_for_update().get(pk=first.pk)
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_first_remotecis_lock)
    holder.start()
    holding.wait(10)
    try:
        with connection.cursor() as cursor:
            # Fail instead of waiting: a schedule that needed the held lock raises here.
            cursor.execute("SET lock_timeout = '200ms'")
        outcome["second"] = job_schedule(remoteci=second, topic_id=topic.id)
        with pytest.raises(Exception, match="lock timeout"):
            job_schedule(remoteci=first, topic_id=topic.id)
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert outcome["second"].remoteci_id == second.id


def test_a_connections_schedules_run_as_prepared_statements_after_the_first(remoteci, topic, component):
    from dciserver import prepared
    from jobs.models import Topic
    from jobs.scheduling import _candidates_statement, _schedule_statement
    from teams.models import Agent

    for priority in range(3):
        JobDefinition.objects.create(name=f"jd{priority}", topic=topic, priority=priority, component_types=["compose"])
    job_schedule(remoteci=remoteci, topic_id=topic.id)
    with CaptureQueriesContext(connection) as queries:
        second = job_schedule(remoteci=remoteci, topic_id=topic.id)
        third = job_schedule(remoteci=remoteci, topic_id=topic.id)
    run = [q["sql"] for q in queries.captured_queries]
    assert len(run) == 4 and all(sql.startswith("EXECUTE dci_") for sql in run), run
    candidates = _candidates_statement(Topic.objects.readable_sql(Agent("remoteci", remoteci), "rt")[0])
    assert [prepared.original(connection, sql) for sql in run[:2]] == [candidates, _schedule_statement(False)]
    # The same decisions as before: each schedule hands out a new job and kills the previous one.
    second.refresh_from_db()
    assert second.status == "killed" and third.status == "new" and second.pk != third.pk


def _index_scans(cursor, *indexes):
    cursor.execute(
        "SELECT c.relname, pg_stat_get_xact_numscans(c.oid) FROM pg_class c WHERE c.relname = ANY(%s)", [list(indexes)]
    )
    return dict(cursor.fetchall())


def test_a_kill_finds_its_jobs_by_primary_key_not_among_every_unfinished_job(team, remoteci, topic):
    # A history of finished jobs, a few unfinished ones (other remotecis') and a generic plan, as
    # a connection's sixth kill has: the planner then takes the partial indexes of unfinished jobs
    # for a handful of rows, and the kill must not scan them all for its few ids.
    others = RemoteCI.objects.bulk_create([RemoteCI(name=f"lab-{i}", team=team) for i in range(20)])
    Job.objects.bulk_create(
        [Job(remoteci=r, topic=topic, team=team, status="running") for r in others for _ in range(3)]
        + [Job(remoteci=remoteci, topic=topic, team=team, status="success") for _ in range(20000)],
        batch_size=5000,
    )
    victim = Job.objects.create(remoteci=remoteci, topic=topic, team=team, status="running")
    indexes = ("jobs_job_pkey", "job_remoteci_unfinished", "job_unfinished_heartbeat")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_job")
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            before = _index_scans(cursor, *indexes)
            cursor.execute("SELECT dci_jobs_kill(ARRAY[%s]::uuid[], 'test')", [victim.id])
            killed = [row[0] for row in cursor.fetchall()]
            after = _index_scans(cursor, *indexes)
        finally:
            cursor.execute("RESET plan_cache_mode")

    assert killed == [victim.id]
    scans = {name: after[name] - before[name] for name in indexes}
    assert scans["jobs_job_pkey"] >= 1 and scans["job_remoteci_unfinished"] == 0, scans
    assert scans["job_unfinished_heartbeat"] == 0, scans
