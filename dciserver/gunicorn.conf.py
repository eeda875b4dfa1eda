"""gunicorn settings for dciserver: sized for a small machine, overridable from the environment."""

import multiprocessing
import os
import shutil
import tempfile

workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# gthread, whose own refusals (a request it cannot parse) answer the DCI JSON error, not HTML.
worker_class = "dciserver.gunicorn_worker.JSONErrorThreadWorker"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 300))
graceful_timeout = 10
# An empty GUNICORN_ACCESSLOG turns the access log off.
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None

# Above the limits the application enforces itself with the DCI JSON error (URI length, number
# and size of headers: dciserver.api.middleware), so that those are the ones clients meet;
# these only bound what a worker buffers. (8190 is the longest request line gunicorn bounds.)
limit_request_line = 8190
limit_request_fields = 200
limit_request_field_size = 16384

# /metrics sums the values of every worker (dciserver.metrics): each writes them under this folder,
# made for this server when the environment names none (in memory where /dev/shm is: the workers
# write on every request), emptied when it starts, removed when it stops.
_OWN_METRICS_FOLDER = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _OWN_METRICS_FOLDER:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="dciserver-metrics-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )


def on_starting(server):
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_FOLDER:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
