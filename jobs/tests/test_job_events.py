"""Job events (SPEC §13): one per job reaching a final status, in the status change's transaction,
ids in commit order; the super admins' routes and the consumers' cursor."""

import threading

import pytest
from django.db import connection, transaction

from conftest import SignedClient, client_for, if_match
from dciserver.tests.test_concurrency import race
from jobs import services
from jobs.models import Counter, Job, JobEvent

API = "/api/v1"
MODERN = {"HTTP_CLIENT_VERSION": "python-dciclient_4.2.0"}


def report(job, status):
    return services.jobstate_create(job=job, status=status)


@pytest.mark.django_db
@pytest.mark.parametrize("final", ["success", "failure", "error"])
def test_a_job_reaching_a_final_status_gets_one_event(job, final):
    for status in ("pre-run", "running", final):
        report(job, status)

    (event,) = JobEvent.objects.all()
    assert (event.job_id, event.topic_id, event.status) == (job.id, job.topic_id, final)


@pytest.mark.django_db
def test_a_repeated_final_status_writes_no_event(job):
    report(job, "running")
    report(job, "failure")
    report(job, "failure")
    report(job, "error")

    assert list(JobEvent.objects.values_list("status", flat=True)) == ["failure"]


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["running", "killed", "post-run", "product-failure"])
def test_other_statuses_write_no_event(job, status):
    report(job, status)

    assert not JobEvent.objects.exists()


@pytest.mark.django_db
def test_a_put_of_a_final_status_writes_the_event_with_its_jobstate(user_client, job):
    response = user_client.put(f"{API}/jobs/{job.id}", {"status": "success"}, **if_match(job))

    assert response.status_code == 204
    assert JobEvent.objects.get().status == "success"
    assert job.jobstates.get().status == "success"


@pytest.mark.django_db
def test_a_killed_job_writes_no_event(job):
    services.jobs_kill(jobs=Job.objects.filter(pk=job.pk), reason="expired")

    assert Job.objects.get(pk=job.pk).status == "killed" and not JobEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_status_change_writes_no_event(job):
    with pytest.raises(RuntimeError), transaction.atomic():
        report(job, "success")
        assert JobEvent.objects.count() == 1  # written with the change...
        raise RuntimeError("the request fails after the jobstate")

    assert not JobEvent.objects.exists()  # ...and gone with it
    assert Job.objects.get(pk=job.pk).status == "new"


@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_final_jobstates_give_sixteen_events_in_commit_order(remoteci, topic):
    jobs = [Job.objects.create(remoteci=remoteci, topic=topic, team=remoteci.team) for _ in range(16)]
    client = SignedClient(remoteci)

    def final(job):
        return lambda: SignedClient(remoteci).post(
            f"{API}/jobstates", {"job_id": str(job.id), "status": "success"}, format="json"
        )

    responses = race([final(job) for job in jobs])

    assert [r.status_code for r in responses] == [201] * 16
    events = list(JobEvent.objects.order_by("id"))
    assert len(events) == 16 and {e.job_id for e in events} == {j.id for j in jobs}
    ids = [e.id for e in events]
    assert ids == sorted(set(ids))
    # Commit order: each event's row was visible no later than the next one's (creation times
    # taken under the lock follow the ids).
    times = [e.created_at for e in events]
    assert times == sorted(times)
    assert client.get(f"{API}/jobs/{jobs[0].id}").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_an_event_is_not_visible_before_the_events_committed_before_it(job, remoteci, topic):
    """A consumer reading from its cursor never skips an event: the second job's event, ready
    while the first job's transaction is still open, waits for it."""
    other = Job.objects.create(remoteci=remoteci, topic=topic, team=remoteci.team)
    first_written, release = threading.Event(), threading.Event()
    second_done = threading.Event()

    def slow_first():
        try:
            with transaction.atomic():
                report(job, "success")
                first_written.set()
                release.wait(10)
        finally:
            connection.close()

    def second():
        try:
            first_written.wait(10)
            report(other, "failure")
            second_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=slow_first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_written.wait(10)
    assert not second_done.wait(0.5)  # the second waits for the first's commit
    release.set()
    for thread in threads:
        thread.join(20)
    assert second_done.is_set()
    assert list(JobEvent.objects.order_by("id").values_list("job_id", flat=True)) == [job.id, other.id]


# The routes ------------------------------------------------------------------------------------


@pytest.fixture
def events(job, remoteci, topic):
    made = [job, *(Job.objects.create(remoteci=remoteci, topic=topic, team=remoteci.team) for _ in range(2))]
    for made_job, status in zip(made, ["success", "failure", "error"], strict=True):
        report(made_job, status)
    return list(JobEvent.objects.order_by("id"))


@pytest.mark.django_db
def test_super_admins_read_the_events_from_a_sequence_on(admin_client, events):
    response = admin_client.get(f"{API}/jobs_events/{events[1].id}", {"sort": "id"})

    assert response.status_code == 200
    body = response.json()
    assert body["_meta"]["count"] == 2
    assert [e["id"] for e in body["jobs_events"]] == [events[1].id, events[2].id]
    assert set(body["jobs_events"][0]) == {"id", "created_at", "job_id", "topic_id", "status"}


@pytest.mark.django_db
def test_events_take_the_list_language(admin_client, events):
    response = admin_client.get(f"{API}/jobs_events/0", {"where": "status:failure", "limit": 10, "offset": 0})

    assert [e["status"] for e in response.json()["jobs_events"]] == ["failure"]


@pytest.mark.django_db
def test_deleting_from_a_sequence_deletes_the_events_from_it_on(admin_client, events):
    response = admin_client.delete(f"{API}/jobs_events/{events[1].id}")

    assert response.status_code == 204
    assert list(JobEvent.objects.values_list("id", flat=True)) == [events[0].id]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["user", "team_admin", "remoteci"])
def test_anyone_but_a_super_admin_is_refused(request, who, events, remoteci):
    client = SignedClient(remoteci) if who == "remoteci" else client_for(request.getfixturevalue(who))

    for method, path in [("get", "0"), ("delete", "0"), ("get", "sequence")]:
        response = getattr(client, method)(f"{API}/jobs_events/{path}")
        assert response.status_code == 403, (method, path)
    assert JobEvent.objects.count() == 3


@pytest.mark.django_db
def test_the_sequence_is_a_cursor_moved_with_its_etag(admin_client, super_admin):
    read = admin_client.get(f"{API}/jobs_events/sequence")
    assert read.status_code == 200
    cursor = read.json()["sequence"]
    assert cursor["sequence"] == 0 and read["ETag"] == cursor["etag"]

    moved = admin_client.put(f"{API}/jobs_events/sequence", {"sequence": 5}, HTTP_IF_MATCH=cursor["etag"])
    stale = admin_client.put(f"{API}/jobs_events/sequence", {"sequence": 9}, HTTP_IF_MATCH=cursor["etag"])
    missing = admin_client.put(f"{API}/jobs_events/sequence", {"sequence": 9})

    assert moved.status_code == 204 and moved["ETag"] != cursor["etag"]
    assert stale.status_code == 409 and "etag" in stale.json()["message"]
    assert missing.status_code == 412
    assert Counter.objects.get(name="jobs_events").sequence == 5
    modern = client_for(super_admin)
    modern.credentials(**modern._credentials, **MODERN)
    again = modern.put(f"{API}/jobs_events/sequence", {"sequence": 6}, HTTP_IF_MATCH=moved["ETag"])
    assert again.status_code == 200 and again.json()["sequence"]["sequence"] == 6
