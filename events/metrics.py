"""Events out in ``/metrics`` (``dciserver.metrics``), read from the database when scraped."""

from django.db import connection
from prometheus_client.core import GaugeMetricFamily


class EventsCollector:
    """Deliveries not delivered (still trying, or given up), and events not yet dispatched."""

    def collect(self):
        deliveries = GaugeMetricFamily(
            "dci_deliveries", "Deliveries still trying (pending) or given up (failed).", labels=["status", "channel"]
        )
        undispatched = GaugeMetricFamily("dci_events_undispatched", "Events no worker has dispatched yet.")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT status, channel, count(*) FROM events_delivery WHERE status IN ('pending', 'failed') "
                "GROUP BY status, channel"
            )
            for status, channel, count in cursor.fetchall():
                deliveries.add_metric([status, channel], count)
            cursor.execute("SELECT count(*) FROM events_event WHERE dispatched_at IS NULL")
            undispatched.add_metric([], cursor.fetchone()[0])
        yield deliveries
        yield undispatched
