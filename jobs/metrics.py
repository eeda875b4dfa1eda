"""The jobs' values in ``/metrics`` (``dciserver.metrics``), read from the database when scraped."""

from django.db import connection
from prometheus_client.core import GaugeMetricFamily

from jobs.services import JOBS_EVENTS


class JobsCollector:
    """Live jobs by status, and the job events its consumers have not read yet (SPEC §13)."""

    def collect(self):
        jobs = GaugeMetricFamily("dci_jobs", "Live jobs, by status.", labels=["status"])
        pending = GaugeMetricFamily(
            "dci_job_events_pending", "Job events after the consumers' cursor (jobs_events/sequence)."
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT status, count(*) FROM jobs_job WHERE archived_at IS NULL GROUP BY status")
            for status, count in cursor.fetchall():
                jobs.add_metric([status], count)
            cursor.execute(
                "SELECT count(*) FROM jobs_jobevent WHERE id > coalesce("
                "(SELECT sequence FROM jobs_counter WHERE name = %s), 0)",
                [JOBS_EVENTS],
            )
            pending.add_metric([], cursor.fetchone()[0])
        yield jobs
        yield pending
