"""`/metrics` in the Prometheus format (SPEC §16), with the Prometheus project's own client.

Counters and histograms are recorded where things happen (requests by ``MetricsMiddleware``,
uploads and JUnit failures by ``files.services``, schedules by the jobs API); values read from the
database (jobs by status, job events not yet consumed) by collectors the apps register
(``register_collector``), computed when scraped. Under gunicorn each worker is a process of its
own: with ``PROMETHEUS_MULTIPROC_DIR`` set (``dciserver/gunicorn.conf.py`` sets it), every
worker writes its values there and a scrape, whichever worker answers it, sums them all.
"""

import contextlib
import hmac
import os
import time

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

# The methods a route may serve; any other is counted as "other" (labels must stay few).
_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})

REQUESTS = Counter(
    "dci_http_requests", "Requests answered, by route, method and status.", ["route", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    "dci_http_request_duration_seconds",
    "Time to answer a request, by route and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SCHEDULE_SECONDS = Histogram(
    "dci_schedule_duration_seconds",
    "Time to schedule a job (POST /jobs/schedule), by outcome.",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
UPLOAD_BYTES = Counter("dci_upload_bytes", "Bytes of the files kept.")
UPLOADS = Counter("dci_uploads", "Uploads, by outcome (kept, or why not).", ["outcome"])
JUNIT_FAILURES = Counter("dci_junit_parse_failures", "JUnit reports that did not parse.")

_collectors = []


def register_collector(collector):
    """A collector of values read from the database when scraped (an object with ``collect()``)."""
    _collectors.append(collector)


@contextlib.contextmanager
def observed(histogram, success="ok"):
    """Time the block into ``histogram``, labelled ``success``, or the status of the error it
    raised (``412``: nothing to schedule), or ``error``."""
    started, outcome = time.perf_counter(), "error"
    try:
        yield
        outcome = success
    except Exception as exc:
        outcome = str(getattr(exc, "status_code", "error"))
        raise
    finally:
        histogram.labels(outcome).observe(time.perf_counter() - started)


@contextlib.contextmanager
def observed_upload():
    """Count an upload: kept, or the status of the error that refused it (``413``, ``400``...)."""
    try:
        yield
    except Exception as exc:
        UPLOADS.labels(str(getattr(exc, "status_code", "error"))).inc()
        raise
    UPLOADS.labels("kept").inc()


def route_of(request):
    """The route a request was answered by (its URL name), or ``unmatched``."""
    match = getattr(request, "resolver_match", None)
    return (match.view_name or match.route) if match is not None else "unmatched"


class MetricsMiddleware:
    """Counts every request by route, method and status, with its latency."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        route = route_of(request)
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        REQUEST_SECONDS.labels(route, method).observe(time.perf_counter() - started)
        return response


def registry():
    """What a scrape reads: every process's values (or this one's), and the database's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
    else:
        from prometheus_client import REGISTRY as collected
    scraped = CollectorRegistry()
    scraped.register(_Both(collected))
    return scraped


class _Both:
    def __init__(self, collected):
        self.collected = collected

    def collect(self):
        yield from self.collected.collect()
        for collector in _collectors:
            yield from collector.collect()


@require_safe
def metrics_view(request):
    """``GET /metrics``: with ``DCI_METRICS_TOKEN`` set, for ``Authorization: Bearer <token>`` only."""
    token = settings.DCI_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return JsonResponse({"status_code": 401, "message": "A metrics token is needed."}, status=401)
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
