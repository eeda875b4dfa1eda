"""``/metrics`` in the Prometheus format (SPEC §16): the series are there, and they move with traffic."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from files.tests.helpers import raw_upload

pytestmark = pytest.mark.django_db

API = "/api/v1"


def scrape(client, **headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())


def samples(text):
    """``{(name, sorted labels): value}`` of an exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped, name, **labels):
    return scraped.get((name, tuple(sorted(labels.items()))), 0)


def test_the_specs_series_are_served(user_client, job, anonymous_client):
    user_client.get(f"{API}/jobs")

    scraped = scrape(anonymous_client)

    names = {name for name, _ in scraped}
    assert {
        "dci_http_requests_total",
        "dci_http_request_duration_seconds_bucket",
        "dci_jobs",
        "dci_job_events_pending",
        "dci_upload_bytes_total",
        "dci_junit_parse_failures_total",
    } <= names
    assert value(scraped, "dci_jobs", status="new") == 1
    assert value(scraped, "dci_http_requests_total", route="job-list", method="GET", status="200") >= 1


def test_counters_move_with_traffic(settings, user_client, anonymous_client, job, remoteci, topic):
    settings.DCI_MAX_UPLOAD_SIZE = 1000
    before = scrape(anonymous_client)

    for _ in range(3):
        user_client.get(f"{API}/jobs/{job.id}")
    user_client.get(f"{API}/jobs/not-a-job")
    raw_upload(user_client, b"0123456789", name="a.log", job_id=job.id)
    raw_upload(user_client, b"x" * 2000, name="big.log", job_id=job.id)
    raw_upload(user_client, b"<testsuite><testcase", name="r.xml", mime="application/junit", job_id=job.id)
    user_client.post(f"{API}/jobs/schedule", {"remoteci_id": str(remoteci.id), "topic_id": str(topic.id)})
    after = scrape(anonymous_client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("dci_http_requests_total", route="job-detail", method="GET", status="200") == 3
    assert moved("dci_http_requests_total", route="job-detail", method="GET", status="404") == 1
    assert moved("dci_http_request_duration_seconds_count", route="job-detail", method="GET") == 4
    assert moved("dci_upload_bytes_total") == 10 + len(b"<testsuite><testcase")
    assert moved("dci_uploads_total", outcome="kept") == 2
    assert moved("dci_uploads_total", outcome="413") == 1
    assert moved("dci_junit_parse_failures_total") == 1
    # The job's remoteci has a job already: the seed schedule answers (201 or 412), timed either way.
    scheduled = sum(moved("dci_schedule_duration_seconds_count", outcome=o) for o in ("scheduled", "412"))
    assert scheduled == 1
    # Unfinished jobs by status: the new one (or the schedule's) counted live.
    assert value(after, "dci_jobs", status="new") >= 1


def test_job_events_not_yet_read_by_their_consumers(admin_client, anonymous_client, job):
    from jobs.services import jobstate_create

    jobstate_create(job=job, status="success")
    pending = value(scrape(anonymous_client), "dci_job_events_pending")
    cursor = admin_client.get(f"{API}/jobs_events/sequence")
    events = admin_client.get(f"{API}/jobs_events/0").json()["jobs_events"]
    admin_client.put(
        f"{API}/jobs_events/sequence", {"sequence": events[-1]["id"]}, format="json", HTTP_IF_MATCH=cursor["ETag"]
    )

    assert pending == 1
    assert value(scrape(anonymous_client), "dci_job_events_pending") == 0


def test_a_token_guards_the_metrics_when_set(settings, anonymous_client):
    settings.DCI_METRICS_TOKEN = "s3cret"

    refused = anonymous_client.get("/metrics")
    wrong = anonymous_client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")

    assert refused.status_code == wrong.status_code == 401
    assert scrape(anonymous_client, HTTP_AUTHORIZATION="Bearer s3cret")


def test_metrics_are_read_only(anonymous_client):
    assert anonymous_client.post("/metrics").status_code == 405


def test_every_worker_is_counted_whichever_answers_the_scrape(web):
    """gunicorn's 2 workers each count their requests; a scrape sums them all."""
    import urllib.request

    def scrape_live():
        with urllib.request.urlopen(f"{web.url}/metrics", timeout=10) as response:
            return samples(response.read().decode())

    def api_root_count():
        return value(scrape_live(), "dci_http_requests_total", route="api-root", method="GET", status="200")

    before = api_root_count()
    for _ in range(40):
        with urllib.request.urlopen(f"{web.url}/api/v1/", timeout=10) as response:
            assert response.status == 200
    counts = {api_root_count() - before for _ in range(6)}

    assert counts == {40}, counts
