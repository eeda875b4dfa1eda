"""`make bench`: a reproducible benchmark of dciserver at realistic scale (issue 5, docs/performance.md).

- ``bench.load``: builds the bench database with PostgreSQL COPY (idempotent, marked by scale).
- ``bench.locustfile``: the scenarios, run headless by locust from a separate process.
- ``bench.run``: loads, serves with gunicorn as production would, drives each scenario, reports.
- ``bench.settings`` and ``bench.urls``: production's settings and URLs plus the instrumentation
  (``bench.middleware``, ``bench.views``), for the gunicorn ``bench.run`` starts only.
"""
