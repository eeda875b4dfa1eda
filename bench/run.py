"""`make bench`: load, serve as production would, drive every scenario, report.

    DATABASE_URL=... python -m bench.run [--scale 1] [--duration 20] [--only list-team,ceiling]
                                         [--profile list-team]

1. The bench databases are loaded by ``bench.load`` (skipped when already loaded): the
   full one, and a small one with the same catalogue and 1% of the history, for the
   list latency comparison (history of 200,000 jobs vs 2,000).
2. gunicorn serves the app as production would: 2 workers × 4 gthreads for 2 cores,
   persistent database connections, DEBUG off, a SECRET_KEY, no access log, on
   127.0.0.1 only. ``bench.settings`` adds the ceiling view and the ``X-DCI-Queries`` header.
3. locust, headless in a separate process, runs each scenario after a warm-up, for a
   bounded time (uploads: a bounded number of requests). A scenario with a ratio target
   alternates with the ceiling in phases of ``--phase`` seconds within one locust process
   (``bench/locustfile.py``, ``Phases``): the speed of this shared virtual machine drifts by
   tens of percent within a minute, and the ratio must compare the two at the same moments.
4. The report (``var/bench/results.json`` and ``results.md``, also printed): per
   scenario requests/s, p50/p95/p99 latency, SQL queries per request, errors and the
   ratio to the ceiling measured in its alternate phases; list latency with the full and the small
   history; upload speed against ``dd`` to the same disk; the worker's peak RSS rise
   during the 200 MiB upload; duplicate schedule assignments (by SQL, must be 0).
5. Rows the run created (jobs, jobstates, files and their bytes, test cases and tests, audit
   entries, events with their deliveries and tasks) are deleted again, so every run starts from
   the same data.

Events out (SPEC §17): ``jobstate-final`` gives new jobs their first final status, alternately
of the team user's team, which has one webhook subscribed to finished jobs (the bench's, made
before the run), and of a team without one; each writes an event and its dispatching task by the
database's triggers. Right after it, one ``manage.py events_worker`` dispatches the events the run
made and delivers them to a receiver on loopback: events/s, deliveries/s and the attempts' p50.
Skipped on a server without the events app.

The test results scenarios (SPEC §15) read the lines of tests ``bench.load`` stores (10 million
cases at scale 1): a test's history, a topic's flaky tests, a job's cases and the diff of two
50,000-case jobs, one user at a time (their targets are latencies); and upload one 50,000-case
report alternately onto a line where the previous upload is its baseline and onto a new line
(no baseline), for the cost of the comparison at the same moments of the machine.

``BENCH_DATABASE`` names the bench database (``bench.load``), ``BENCH_DIR`` the folder of the
report, the payloads and the stored bytes (default ``var/bench``).
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench import load as bench_load

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OUT_DIR = Path(os.environ.get("BENCH_DIR") or BASE_DIR / "var" / "bench")
FILES_ROOT = OUT_DIR / "files"
UPLOADS_DIR = OUT_DIR / "uploads"
HOST = "127.0.0.1"
MIB = 1024 * 1024

TARGETS = {
    "list-team": 0.35,
    "list-admin": 0.35,
    "list-modern": 0.15,
    "list-modern-wire": 0.15,
    "job-get": 0.60,
    "job-get-modern": 0.40,
    "schedule-signed": 0.15,
    "schedule-signed-history": 0.15,
    "jobstate-create": 0.50,
    "schedule": 0.25,
}
# Test results (SPEC §15): p50 latency bounds, in ms, and the comparison's cost at upload.
UPLOADS = ("upload-1m", "upload-200m", "upload-junit-50k", "upload-junit-baseline", "upload-junit-fresh")
# The dashboard's pages (SPEC §16), each read by one signed-in person: its latency is the measure.
PAGES = {
    "dashboard-jobs": ("DashboardJobs", "GET / (recent jobs, 50 a page)"),
    "dashboard-job": ("DashboardJob", "GET /jobs/<id> (a 1,000-case job with its changed cases)"),
    "dashboard-test": ("DashboardTest", "GET /tests/<id> (a test's runs)"),
    "dashboard-flaky": ("DashboardFlaky", "GET /topics/<id>/flaky (pass rate and flaky tests of the flaky topic)"),
    "dashboard-fleet": ("DashboardFleet", "GET /fleet (the team's remotecis and their current jobs)"),
    "dashboard-matrix": ("DashboardMatrix", "GET /matrix (each line's latest job)"),
}
TEST_READS = ("test-history", "flaky-topic", "job-tests", "diff-50k", *PAGES)
LATENCY_TARGETS = {"test-history": 20, "flaky-topic": 100, "diff-50k": 1000, **dict.fromkeys(PAGES, 100)}
COMPARISON_TARGET = 1.5
# Events out (SPEC §17): a final jobstate of a team with one webhook, against one of a team without.
SUBSCRIPTION_TARGET = 1.10
# The bench team's webhook, made before the run; it points at the worker's receiver only while the
# worker runs, and at the discard port otherwise (nothing listens there: a delivery would fail).
WEBHOOK_NAME = "bench-webhook"
WEBHOOK_DISCARD = f"http://{HOST}:9/hook"


class Scenario:
    def __init__(self, name, user_class, what, *, users=None, iterations=0, login="team_user", paired=False, also=None):
        self.name = name
        # Other request names the same locust run measures, reported as scenarios of their own: {name: what}.
        self.also = also or {}
        # Measured alternating with the ceiling (``--phase``), for its ratio.
        self.paired = paired
        self.user_class = user_class
        self.what = what
        self.users = users
        self.iterations = iterations
        self.login = login


LIST = "/jobs?limit=50&embed=remoteci,jobdefinition,team"
LIST_MODERN = "/jobs?limit=50&embed=remoteci,team,topic,components,jobstates,files,results"
SCHEDULE = "POST /jobs/schedule, 100 remotecis at once"


def scenarios(args):
    u = args.users
    return [
        Scenario("ceiling", "Ceiling", "GET /api/v1/_bench/ceiling (team user)", users=u),
        Scenario("list-team", "ListTeam", f"GET {LIST} (team user)", users=u, paired=True),
        Scenario("list-admin", "ListAdmin", f"GET {LIST} (super admin)", users=u, paired=True),
        Scenario("list-modern", "ListModern", f"GET {LIST_MODERN} (team user)", users=u, paired=True),
        Scenario(
            "list-modern-wire",
            "ListModernWire",
            "GET /jobs?limit=50, modern wire (every inline relation; team user)",
            users=u,
            paired=True,
        ),  # fmt: skip
        Scenario("job-get", "JobGet", "GET /jobs/<id>", users=u, paired=True),
        Scenario(
            "job-get-modern",
            "JobGetModern",
            "GET /jobs/<id>, modern wire (Basic, Client-Version 4.x)",
            users=u,
            paired=True,
        ),  # fmt: skip
        Scenario("job-get-signed", "JobGetSigned", "GET /jobs/<id>, signed by a remoteci (HMAC)", users=u, paired=True),
        Scenario("job-results", "JobResults", "GET /jobs/<id>/results", users=u, paired=True),
        Scenario("jobstate-create", "JobStateCreate", "POST /jobstates", users=u, paired=True),
        Scenario(
            "jobstate-final",
            "JobStateFinal",
            "POST /jobstates, a new job's first final status, its team subscribed by one webhook",
            users=u,
            paired=True,
            also={
                "jobstate-final-unsubscribed": "POST /jobstates, a new job's first final status, its team "
                "without a webhook, alternating with jobstate-final"
            },
        ),  # fmt: skip
        Scenario("schedule", "Schedule", f"{SCHEDULE}, no pause", users=100, paired=True),
        Scenario(
            "schedule-paced",
            "SchedulePaced",
            f"{SCHEDULE}, 1/s each (own phase)",
            users=100,
        ),  # fmt: skip
        Scenario(
            "schedule-signed",
            "ScheduleSigned",
            "POST /jobs/schedule, signed by one remoteci without history (modern: a new job each time)",
            users=u,
            paired=True,
        ),  # fmt: skip
        Scenario(
            "schedule-signed-history",
            "ScheduleSignedHistory",
            "POST /jobs/schedule, signed by one remoteci with 10,000 earlier jobs",
            users=u,
            paired=True,
        ),  # fmt: skip
        Scenario(
            "schedule-signed-paced",
            "ScheduleSignedPaced",
            "POST /jobs/schedule, 100 signing remotecis at once, 1/s each (own phase)",
            users=100,
        ),  # fmt: skip
        Scenario("upload-1m", "UploadLog1M", "POST /files, 1 MiB log (raw body)", users=1, iterations=100),
        Scenario("upload-200m", "UploadLog200M", "POST /files, 200 MiB log (raw body)", users=1, iterations=4),
        Scenario(
            "upload-junit-50k", "UploadJUnit50k", "POST /files, JUnit report of 50,000 cases", users=1, iterations=3
        ),  # fmt: skip
        Scenario(
            "upload-junit-baseline",
            "UploadJUnitCompare",
            "POST /files, 50,000-case JUnit report of a new job, compared with the previous job's (50,000 cases)",
            users=1,
            iterations=8,
            also={
                "upload-junit-fresh": "POST /files, the same report of a job on a new line (no baseline), "
                "alternating with upload-junit-baseline"
            },
        ),  # fmt: skip
        Scenario("test-history", "TestHistory", "GET /tests/<id>/history?limit=20, loaded tests (one user)", users=1),
        Scenario(
            "flaky-topic", "FlakyTopic", "GET /topics/<id>/flaky_tests?limit=50, the flaky topic (one user)", users=1
        ),  # fmt: skip
        Scenario("job-tests", "JobTests", "GET /jobs/<id>/tests?limit=50, 1,000-case jobs (one user)", users=1),
        Scenario(
            "diff-50k",
            "Diff50k",
            "GET /jobs/<id>/tests?baseline=<id>&limit=50, two 50,000-case jobs (one user)",
            users=1,
        ),  # fmt: skip
        *(Scenario(name, user_class, f"{what} (one person)", users=1) for name, (user_class, what) in PAGES.items()),
    ]


# Data ------------------------------------------------------------------------------------------


def load_database(name, scale, overrides, seed):
    """Run ``bench.load`` in its own process (it sets Django up for that database)."""
    cmd = [sys.executable, "-m", "bench.load", "--database", name, "--scale", str(scale), "--seed", str(seed)]
    cmd += ["--files-root", str(FILES_ROOT)]
    for key, value in overrides.items():
        cmd += [f"--{key}", str(value)]
    subprocess.run(cmd, check=True, cwd=BASE_DIR, env={**os.environ, "DCI_FILES_ROOT": str(FILES_ROOT)})


def upload_payloads():
    """The files the upload scenarios send, generated once (a log of text lines, a JUnit report)."""
    UPLOADS_DIR.mkdir(parents=True, exist_ok=True)
    paths = {
        "upload-1m": UPLOADS_DIR / "console-1m.log",
        "upload-200m": UPLOADS_DIR / "console-200m.log",
        "upload-junit-50k": UPLOADS_DIR / "junit-50k.xml",
        "upload-junit-compare": UPLOADS_DIR / "junit-50k-pytest.xml",
    }
    for key, size in (("upload-1m", MIB), ("upload-200m", 200 * MIB)):
        path = paths[key]
        if not path.exists() or path.stat().st_size != size:
            line = b"2016-02-25 13:32:41,706 INFO dci-agent: TASK [run the tests] ok: [node-1] => changed=0\n"
            block = line * (MIB // len(line) + 1)
            with open(path, "wb") as f:
                for _ in range(size // MIB):
                    f.write(block[:MIB])
    path = paths["upload-junit-50k"]
    if not path.exists():
        cases = []
        for i in range(50_000):
            body = '<failure message="boom">Traceback</failure>' if i % 97 == 0 else ""
            body = body or ('<skipped message="n/a"/>' if i % 89 == 0 else "")
            cases.append(
                f'<testcase classname="tests.module{i % 250}" name="test_case_{i}" time="0.01">{body}</testcase>'
            )
        path.write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="bench" tests="50000" failures="516" errors="0"'
            ' skipped="557" time="500.0">' + "\n".join(cases) + "</testsuite>\n"
        )
    path = paths["upload-junit-compare"]
    if not path.exists():
        path.write_text(pytest_report(50_000))
    return {key: str(path) for key, path in paths.items()}


def pytest_report(total):
    """A JUnit report as pytest writes it, of ``total`` cases of the loaded lines' suite (``bench.load``),
    a few of them failing, erroring or skipped."""
    cases, counts = [], {"failures": 0, "errors": 0, "skipped": 0}
    for i in range(total):
        classname, name, seconds = bench_load.case_identity(i)
        body = ""
        if i % 211 == 7:
            body = (
                '<failure message="assert 404 == 200">def test(): &gt; assert 404 == 200\nE assert 404 == 200</failure>'
            )
            counts["failures"] += 1
        elif i % 997 == 11:
            body = '<error message="ConnectionResetError">ConnectionResetError: [Errno 104]</error>'
            counts["errors"] += 1
        elif i % 101 == 3:
            body = '<skipped type="pytest.skip" message="not supported on this platform"/>'
            counts["skipped"] += 1
        cases.append(f'<testcase classname="{classname}" name="{name}" time="{seconds}">{body}</testcase>')
    head = (
        f'<testsuite name="pytest" errors="{counts["errors"]}" failures="{counts["failures"]}" '
        f'skipped="{counts["skipped"]}" tests="{total}" time="1234.5" hostname="bench">'
    )
    body = "\n".join(cases)
    return f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites>{head}{body}</testsuite></testsuites>\n'


def plan(url, uploads):
    """Credentials and ids the scenarios use, read from the bench database."""
    conn = bench_load.connect(url)
    try:
        with conn.cursor() as cursor:
            team_user = bench_load.TEAM_USER.format(0)
            cursor.execute("SELECT team_id FROM teams_user WHERE name = %s", [team_user])
            team_id = cursor.fetchone()[0]
            cursor.execute("SELECT name FROM teams_user WHERE name LIKE 'bench-%%' ORDER BY name")
            all_users = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT id FROM jobs_topic WHERE name LIKE 'bench-topic-%%' ORDER BY name")
            topic_ids = [str(row[0]) for row in cursor.fetchall()]
            # 100 remotecis, spread over the teams (remotecis were dealt to teams in turn).
            cursor.execute(
                """
                SELECT r.id, u.name FROM teams_remoteci r JOIN teams_user u ON u.team_id = r.team_id
                WHERE u.name LIKE 'bench-user-%%' ORDER BY r.name LIMIT 100
                """
            )
            schedule = [{"remoteci_id": str(r), "user": u, "topic_ids": topic_ids} for r, u in cursor.fetchall()]
            scheduled = [s["remoteci_id"] for s in schedule]
            cursor.execute(
                "SELECT id FROM jobs_job WHERE team_id = %s AND archived_at IS NULL ORDER BY id LIMIT 1000", [team_id]
            )
            job_ids = [str(row[0]) for row in cursor.fetchall()]
            # Jobstates go to jobs of remotecis the schedule scenario leaves alone (it kills unfinished jobs).
            cursor.execute(
                """
                SELECT id FROM jobs_job WHERE team_id = %s AND archived_at IS NULL
                  AND NOT (remoteci_id::text = ANY(%s)) ORDER BY id DESC LIMIT 500
                """,
                [team_id, scheduled],
            )
            jobstate_job_ids = [str(row[0]) for row in cursor.fetchall()]
            if not jobstate_job_ids:
                # A small scale: every remoteci of the team also schedules; share them.
                cursor.execute(
                    "SELECT id FROM jobs_job WHERE team_id = %s AND archived_at IS NULL ORDER BY id DESC LIMIT 500",
                    [team_id],
                )
                jobstate_job_ids = [str(row[0]) for row in cursor.fetchall()]
            cursor.execute(
                """
                SELECT j.id FROM jobs_job j WHERE j.team_id = %s AND j.archived_at IS NULL
                  AND EXISTS (SELECT 1 FROM files_junitresult r WHERE r.job_id = j.id)
                ORDER BY j.created_at DESC LIMIT %s
                """,
                [team_id, bench_load.RESULTS_JOBS],
            )
            results_job_ids = [str(row[0]) for row in cursor.fetchall()]
            # The agent of the signed scenario: a remoteci of the team user's team.
            cursor.execute(
                "SELECT id, api_secret FROM teams_remoteci WHERE team_id = %s AND archived_at IS NULL ORDER BY name "
                "LIMIT 1",
                [team_id],
            )
            agent_id, agent_secret = cursor.fetchone()

            def signing(name):
                cursor.execute("SELECT id, api_secret FROM teams_remoteci WHERE name = %s", [name])
                remoteci_id, secret = cursor.fetchone()
                return {"name": f"remoteci/{remoteci_id}", "secret": secret}

            # The modern schedule's remotecis: one with history, one without, and 100 of the fleet.
            cursor.execute(
                "SELECT id, api_secret FROM teams_remoteci WHERE name LIKE 'remoteci-0%%' ORDER BY name LIMIT 100"
            )
            fleet = [{"name": f"remoteci/{r}", "secret": secret} for r, secret in cursor.fetchall()]
            signed_schedule = {
                "history": signing(bench_load.HISTORY_REMOTECI),
                "fresh": signing(bench_load.FRESH_REMOTECI),
                "fleet": fleet,
                "topic_ids": topic_ids,
            }
            tests = test_results_plan(cursor, team_id, topic_ids)
            jobstate_final = jobstate_final_plan(cursor, topic_ids, scheduled)
    finally:
        conn.close()
    return {
        "password": bench_load.PASSWORD,
        "team_user": team_user,
        "super_admin": bench_load.SUPER_ADMIN,
        "all_users": all_users,
        "job_ids": job_ids,
        "results_job_ids": results_job_ids,
        "jobstate_job_ids": jobstate_job_ids,
        "upload_job_ids": job_ids[:50],
        "schedule": schedule,
        "upload_files": uploads,
        "agent": {"name": f"remoteci/{agent_id}", "secret": agent_secret},
        "signed_schedule": signed_schedule,
        "tests": tests,
        "jobstate_final": jobstate_final,
    }


def jobstate_final_plan(cursor, topic_ids, scheduled):
    """Who makes the jobs of ``jobstate-final``, by kind: the team user (its team has the bench's
    webhook) and the next team's user (none), each with a remoteci of its team that no other scenario
    counts or kills the jobs of. Empty when the database has a single team."""
    kinds = {}
    for name, number in (("jobstate-final", 0), ("jobstate-final-unsubscribed", 1)):
        user = bench_load.TEAM_USER.format(number)
        cursor.execute(
            """
            SELECT r.id FROM teams_remoteci r JOIN teams_user u ON u.team_id = r.team_id
            WHERE u.name = %s AND r.archived_at IS NULL AND r.name NOT IN (%s, %s)
            ORDER BY r.id::text = ANY(%s), r.name LIMIT 1
            """,
            [user, bench_load.HISTORY_REMOTECI, bench_load.FRESH_REMOTECI, scheduled],
        )
        row = cursor.fetchone()
        if row is None or not topic_ids:
            return {}
        kinds[name] = {"user": user, "remoteci_id": str(row[0]), "topic_id": topic_ids[0]}
    return kinds


def test_results_plan(cursor, team_id, topic_ids):
    """What the test results scenarios read, all of the team user's team: tests of the loaded lines,
    the topic with most flaky tests, jobs of the lines, the two jobs of the diff line; and where the
    upload comparison makes its jobs."""
    # Ids are hashes: their order is a sample of the team's tests across its lines.
    cursor.execute("SELECT id FROM files_test WHERE team_id = %s ORDER BY id LIMIT 2000", [team_id])
    history_ids = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        "SELECT topic_id, count(*) FROM files_test WHERE flaky AND team_id = %s GROUP BY topic_id "
        "ORDER BY count(*) DESC LIMIT 1",
        [team_id],
    )
    row = cursor.fetchone()
    flaky_topic_id, flaky_tests = (str(row[0]), row[1]) if row else (None, 0)
    cursor.execute(
        "SELECT id FROM jobs_job WHERE team_id = %s AND name LIKE 'tests-%%' AND archived_at IS NULL "
        "ORDER BY created_at DESC LIMIT 500",
        [team_id],
    )
    job_ids = [str(row[0]) for row in cursor.fetchall()]
    cursor.execute(
        "SELECT id FROM jobs_job WHERE team_id = %s AND name = %s AND archived_at IS NULL ORDER BY created_at DESC "
        "LIMIT 2",
        [team_id, bench_load.DIFF_JOB_NAME],
    )
    diff = [str(row[0]) for row in cursor.fetchall()]
    # Not remoteci-0000 nor remoteci-fresh: the signed schedule counts their jobs.
    cursor.execute(
        "SELECT id FROM teams_remoteci WHERE team_id = %s AND archived_at IS NULL AND name NOT IN (%s, %s) "
        "ORDER BY name LIMIT 1",
        [team_id, bench_load.HISTORY_REMOTECI, bench_load.FRESH_REMOTECI],
    )
    row = cursor.fetchone()
    cursor.execute("SELECT count(*) FROM files_testcase")
    cases = cursor.fetchone()[0]
    cursor.execute("SELECT count(*), count(*) FILTER (WHERE flaky) FROM files_test")
    stored_tests, stored_flaky = cursor.fetchone()
    return {
        "history_ids": history_ids,
        "flaky_topic_id": flaky_topic_id,
        "job_ids": job_ids,
        "diff": diff if len(diff) == 2 else [],
        "upload_line": {"remoteci_id": str(row[0]) if row else None, "topic_id": topic_ids[0] if topic_ids else None},
        "stored": {"cases": cases, "tests": stored_tests, "flaky_tests": stored_flaky, "team_flaky": flaky_tests},
    }


def db_now(url):
    conn = bench_load.connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT now()")
            return cursor.fetchone()[0]
    finally:
        conn.close()


def has_table(cursor, table):
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
    return cursor.fetchone()[0]


def ensure_webhook(url):
    """The bench team's webhook, subscribed to finished jobs, pointing at the discard port: made
    once (it stays with the bench data), put back after a run stopped midway. None on a server
    without the events app (SPEC §17)."""
    conn = bench_load.connect(url)
    try:
        with conn.cursor() as cursor:
            if not has_table(cursor, "events_webhook"):
                return None
            cursor.execute("SELECT team_id FROM teams_user WHERE name = %s", [bench_load.TEAM_USER.format(0)])
            team_id = cursor.fetchone()[0]
            cursor.execute(
                "UPDATE events_webhook SET url = %s, kinds = %s, state = 'active', archived_at = NULL "
                "WHERE team_id = %s AND name = %s RETURNING id",
                [WEBHOOK_DISCARD, json.dumps(["job_finished"]), team_id, WEBHOOK_NAME],
            )
            row = cursor.fetchone()
            if row is None:
                cursor.execute(
                    """
                    INSERT INTO events_webhook
                        (id, created_at, state, archived_at, updated_at, etag, name, url, kinds, secret, team_id)
                    VALUES (gen_random_uuid(), now(), 'active', NULL, now(), md5(random()::text), %s, %s, %s,
                            md5(random()::text), %s)
                    RETURNING id
                    """,
                    [WEBHOOK_NAME, WEBHOOK_DISCARD, json.dumps(["job_finished"]), team_id],
                )
                row = cursor.fetchone()
        conn.commit()
        return str(row[0])
    finally:
        conn.close()


def delivery_throughput(url, since, webhook_id):
    """One ``manage.py events_worker`` dispatching the events the run made and delivering them to
    a receiver on loopback (the events tests' ``Receiver``, answering 200 at once): its events and
    deliveries per second over the time its tasks ran (first start to last finish, by the tasks'
    rows), and the p50 of its attempts' ``duration_ms``."""
    from events.tests.receiver import Receiver

    receiver = Receiver().start()
    conn = bench_load.connect(url)
    conn.autocommit = True
    worker = None
    try:
        with conn.cursor() as cursor:
            cursor.execute("UPDATE events_webhook SET url = %s WHERE id = %s", [receiver.url, webhook_id])
            cursor.execute(
                "SELECT count(*) FROM events_event WHERE created_at >= %s AND dispatched_at IS NULL", [since]
            )
            events = cursor.fetchone()[0]
            cursor.execute("SELECT now()")
            worker_started = cursor.fetchone()[0]
            started = time.monotonic()
            cmd = [sys.executable, "manage.py", "events_worker", "--no-reload", "--no-startup-delay",
                   "--interval", "0.05", "--verbosity", "0"]  # fmt: skip
            log = open(OUT_DIR / "events_worker.log", "a")
            worker = subprocess.Popen(cmd, cwd=BASE_DIR, env=serving_env(url), stdout=log, stderr=subprocess.STDOUT)
            deadline = started + 900
            while True:
                cursor.execute(
                    """
                    SELECT count(*) FILTER (WHERE e.dispatched_at IS NULL),
                           (SELECT count(*) FROM events_delivery d JOIN events_event de ON de.id = d.event_id
                            WHERE de.created_at >= %(since)s AND d.state = 'pending')
                    FROM events_event e WHERE e.created_at >= %(since)s
                    """,
                    {"since": since},
                )
                undispatched, pending = cursor.fetchone()
                if not undispatched and not pending:
                    break
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"events_worker: {undispatched} events undispatched, {pending} deliveries "
                                     f"pending; see {OUT_DIR / 'events_worker.log'}")  # fmt: skip
                time.sleep(0.2)
            wall = time.monotonic() - started
            stop_process(worker)
            cursor.execute(
                "SELECT count(*), min(started_at), max(finished_at) FROM django_tasks_database_dbtaskresult "
                "WHERE started_at >= %s",
                [worker_started],
            )
            tasks, first, last = cursor.fetchone()
            # Each kind of task's own time, claimed to finished (the rest is the worker's polling).
            cursor.execute(
                """
                SELECT task_path, percentile_cont(0.5) WITHIN GROUP (ORDER BY finished_at - started_at)
                FROM django_tasks_database_dbtaskresult WHERE started_at >= %s GROUP BY task_path
                """,
                [worker_started],
            )
            task_p50_ms = {path.rsplit(".", 1)[-1]: round(p50.total_seconds() * 1000, 2) for path, p50 in cursor}
            cursor.execute(
                """
                SELECT count(*), count(*) FILTER (WHERE d.state = 'delivered'), count(DISTINCT d.event_id)
                FROM events_delivery d JOIN events_event e ON e.id = d.event_id WHERE e.created_at >= %s
                """,
                [since],
            )
            deliveries, delivered, with_delivery = cursor.fetchone()
            cursor.execute(
                """
                SELECT count(*), percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY a.duration_ms)
                FROM events_deliveryattempt a JOIN events_delivery d ON d.id = a.delivery_id
                JOIN events_event e ON e.id = d.event_id WHERE e.created_at >= %s
                """,
                [since],
            )
            attempts, percentiles = cursor.fetchone()
            p50, p95 = percentiles or (None, None)
            cursor.execute("UPDATE events_webhook SET url = %s WHERE id = %s", [WEBHOOK_DISCARD, webhook_id])
    finally:
        if worker is not None:
            stop_process(worker)
            log.close()
        receiver.stop()
        conn.close()
    seconds = max((last - first).total_seconds(), 1e-9) if first and last else None
    return {
        "events": events,
        "with_delivery": with_delivery,
        "deliveries": deliveries,
        "delivered": delivered,
        "received": len(receiver.requests),
        "attempts": attempts,
        "tasks": tasks,
        "task_p50_ms": task_p50_ms,
        "seconds": round(seconds, 2) if seconds else None,
        "wall_seconds": round(wall, 2),
        "events_per_s": round(events / seconds, 1) if seconds else None,
        "deliveries_per_s": round(delivered / seconds, 1) if seconds else None,
        "attempt_p50_ms": round(p50, 2) if p50 is not None else None,
        "attempt_p95_ms": round(p95, 2) if p95 is not None else None,
    }


def stop_process(process, timeout=30):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def duplicate_assignments(url, since):
    """Jobs the seed's schedule handed out twice: the same remoteci, jobdefinition and component set
    (must be none). The seed scenarios' agents send ``Client-Version: bench``; the modern schedule,
    which makes a new job every time, is not counted."""
    conn = bench_load.connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                """
                SELECT count(*), coalesce(sum(n - 1), 0) FROM (
                    SELECT count(*) AS n FROM jobs_job WHERE created_at >= %s AND NOT recheck
                      AND client_version = 'bench'
                    GROUP BY remoteci_id, jobdefinition_id, topic_id, components_key HAVING count(*) > 1) d
                """,
                [since],
            )
            groups, extra = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM jobs_job WHERE created_at >= %s AND client_version = 'bench'", [since])
            created = cursor.fetchone()[0]
    finally:
        conn.close()
    return {"jobs_created": created, "duplicate_groups": groups, "duplicate_jobs": int(extra)}


# The events the run made (SPEC §17: by the triggers, with their tasks) and what their dispatch made.
# Their foreign keys are checked at commit and do not cascade: deleted before the jobs.
EVENT_ROWS = [
    ("events_deliveryattempt", "DELETE FROM events_deliveryattempt WHERE delivery_id IN (SELECT d.id FROM "
     "events_delivery d JOIN events_event e ON e.id = d.event_id WHERE e.created_at >= %(since)s)"),
    ("events_delivery", "DELETE FROM events_delivery WHERE event_id IN "
     "(SELECT id FROM events_event WHERE created_at >= %(since)s)"),
    ("events_event", "DELETE FROM events_event WHERE created_at >= %(since)s"),
    ("django_tasks_database_dbtaskresult", "DELETE FROM django_tasks_database_dbtaskresult "
     "WHERE enqueued_at >= %(since)s"),
]  # fmt: skip


def cleanup(url, since):
    """Delete what the run created, and its bytes, so that every run starts from the same data."""
    conn = bench_load.connect(url)
    removed = {}
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT id FROM files_file WHERE created_at >= %s", [since])
            file_ids = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "SELECT DISTINCT job_id FROM jobs_jobstate WHERE created_at >= %s AND job_id IN "
                "(SELECT id FROM jobs_job WHERE created_at < %s)",
                [since, since],
            )
            touched = [str(row[0]) for row in cursor.fetchall()]
            statements = [
                ("files_testcase", "DELETE FROM files_testcase WHERE file_id IN "
                 "(SELECT file_id FROM files_junitresult r JOIN files_file f ON f.id = r.file_id "
                 "WHERE f.created_at >= %(since)s)"),
                ("files_junitresult", "DELETE FROM files_junitresult WHERE file_id IN "
                 "(SELECT id FROM files_file WHERE created_at >= %(since)s)"),
                ("files_file", "DELETE FROM files_file WHERE created_at >= %(since)s"),
                # Tests first seen in the run: the uploads made new lines (no scenario uploads to a loaded one).
                ("files_test", "DELETE FROM files_test WHERE created_at >= %(since)s"),
                ("jobs_jobstate", "DELETE FROM jobs_jobstate WHERE created_at >= %(since)s"),
                ("jobs_jobcomponent", "DELETE FROM jobs_jobcomponent WHERE job_id IN "
                 "(SELECT id FROM jobs_job WHERE created_at >= %(since)s)"),
                ("jobs_jobkeyvalue", "DELETE FROM jobs_jobkeyvalue WHERE created_at >= %(since)s"),
                ("jobs_jobevent", "DELETE FROM jobs_jobevent WHERE created_at >= %(since)s"),
                *EVENT_ROWS,
                ("jobs_job", "DELETE FROM jobs_job WHERE created_at >= %(since)s"),
                ("dciserver_auditlog", "DELETE FROM dciserver_auditlog WHERE created_at >= %(since)s"),
            ]  # fmt: skip
            for table, sql in statements:
                if has_table(cursor, table):
                    cursor.execute(sql, {"since": since})
                    removed[table] = cursor.rowcount
            # Jobs of the history that the run moved (jobstates, kills) take back their last status.
            cursor.execute(
                """
                UPDATE jobs_job j SET status = s.status FROM (
                    SELECT DISTINCT ON (job_id) job_id, status FROM jobs_jobstate
                    WHERE job_id::text = ANY(%s) ORDER BY job_id, created_at DESC) s
                WHERE j.id = s.job_id AND j.status <> s.status
                """,
                [touched],
            )
            removed["jobs_job restored"] = cursor.rowcount
            # A status restored to a final one wrote a job event (the jobs table's trigger), and with it
            # an event and its task (the events' triggers): not the run's.
            cursor.execute("DELETE FROM jobs_jobevent WHERE created_at >= %s", [since])
            for table, sql in EVENT_ROWS:
                if has_table(cursor, table):
                    cursor.execute(sql, {"since": since})
                    removed[table] += cursor.rowcount
            # Loaded tests a run changed would change the next runs' data: there must be none.
            cursor.execute("SELECT count(*) FROM files_test WHERE updated_at >= %s", [since])
            removed["files_test loaded rows changed"] = cursor.fetchone()[0]
        conn.commit()
    finally:
        conn.close()
    for file_id in file_ids:
        hexid = file_id.hex if hasattr(file_id, "hex") else str(file_id).replace("-", "")
        with contextlib.suppress(FileNotFoundError):
            (FILES_ROOT / hexid[:2] / hexid).unlink()
    return removed


# The machine and the disk -------------------------------------------------------------------------


def machine():
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return ""

    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": run(["nproc"]),
        "cpu": model or platform.processor(),
        "free_h": run(["free", "-h"]),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def dd_speed(source, flags=()):
    """MB/s (the median of 3) of ``dd`` writing ``source`` into the storage folder (the uploads' disk).

    Each run writes a new file, and all three are kept until the last is written, as every upload
    is a new file that is kept: deleting the file before the next run lets dd reuse the pages just
    freed, which made it look 5-10x faster than writing a file that stays.
    """
    targets = [FILES_ROOT / f"dd-{n}.tmp" for n in range(3)]
    speeds = []
    try:
        for target in targets:
            started = time.perf_counter()
            subprocess.run(["dd", f"if={source}", f"of={target}", "bs=1M", *flags], check=True, capture_output=True)
            speeds.append(os.path.getsize(source) / (time.perf_counter() - started) / 1e6)
    finally:
        for target in targets:
            target.unlink(missing_ok=True)
    return sorted(speeds)[1]


# gunicorn -----------------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def serving_env(url):
    """The environment of the processes that serve the bench database, as production's (the
    server, the events worker): production's settings and the bench's instrumentation."""
    env = {k: v for k, v in os.environ.items() if k not in ("DCI_DEV", "DEBUG")}
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="0",
        SECRET_KEY=os.environ.get("BENCH_SECRET_KEY", "bench-" + "k" * 50),
        # Plain HTTP on loopback: production terminates TLS in a proxy in front of gunicorn (so
        # the dashboard's cookies are sent back over plain HTTP here too).
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        DB_CONN_MAX_AGE="600",
        DCI_FILES_ROOT=str(FILES_ROOT),
        LOG_LEVEL="WARNING",
    )
    return env


class Server:
    """gunicorn as production runs it (``dciserver/gunicorn.conf.py``), sized for 2 cores."""

    def __init__(self, url, port, workers, threads):
        self.url = url
        self.port = port
        self.workers = workers
        self.threads = threads
        self.process = None

    @property
    def base(self):
        return f"http://{HOST}:{self.port}"

    def __enter__(self):
        env = serving_env(self.url)
        env.update(
            GUNICORN_ACCESSLOG="",
            WEB_CONCURRENCY=str(self.workers),
            GUNICORN_THREADS=str(self.threads),
        )
        self.log = open(OUT_DIR / "gunicorn.log", "a")
        cmd = [str(BIN / "gunicorn"), "dciserver.wsgi", "--config", "dciserver/gunicorn.conf.py"]
        cmd += ["--bind", f"{HOST}:{self.port}"]
        self.process = subprocess.Popen(cmd, cwd=BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}; see {OUT_DIR / 'gunicorn.log'}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                    if response.status == 200 and len(self.worker_pids()) == self.workers:
                        return self
            time.sleep(0.3)
        self.__exit__()
        raise SystemExit("gunicorn did not answer /healthz within 60 s")

    def worker_pids(self):
        import psutil

        return sorted(child.pid for child in psutil.Process(self.process.pid).children())

    def __exit__(self, *exc):
        if self.process:
            stop_process(self.process, timeout=20)
        self.log.close()


def reset_peak_rss(pids):
    """Reset each worker's VmHWM (peak RSS) to its current RSS; return the current RSS in KiB."""
    current = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        current[pid] = proc_status(pid).get("VmRSS", 0)
    return current


def proc_status(pid):
    values = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0])
    return values


# locust ---------------------------------------------------------------------------------------------


def run_locust(server, plan_path, user_class, users, seconds, out_path, iterations=0, alternate=0):
    """One headless locust process against the server; return its exact statistics."""
    env = {
        **os.environ,
        "BENCH_PLAN": str(plan_path),
        "BENCH_OUT": str(out_path),
        "BENCH_ITERATIONS": str(iterations),
        "BENCH_ALTERNATE": str(alternate),
    }
    cmd = [str(BIN / "locust"), "-f", str(BASE_DIR / "bench" / "locustfile.py"), "--headless", "--only-summary"]
    cmd += ["-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "30"]
    cmd += ["--host", server.base, "--loglevel", "WARNING", "--exit-code-on-error", "0", user_class]
    with contextlib.suppress(FileNotFoundError):
        out_path.unlink()
    result = subprocess.run(cmd, env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=seconds + 900)
    if not out_path.exists():
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        raise SystemExit(f"locust {user_class} wrote no statistics")
    return json.loads(out_path.read_text())


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


def summarize(raw, name, seconds=None):
    """One request name's figures from locust's statistics; ``seconds``: the time its requests
    had (the phases of its kind, in a run alternating with the ceiling), else first to last."""
    entry = raw["requests"].get(name)
    if not entry:
        empty = dict.fromkeys(("rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms", "queries"))
        return {"requests": 0, **empty, "errors": 0, "statuses": {}}
    latencies = sorted(entry["latencies"])
    elapsed = max(seconds if seconds is not None else (raw["last"] or 0) - (raw["first"] or 0), 1e-9)
    queries = entry["queries"]
    result = {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "mean_ms": round(sum(latencies) / len(latencies), 1),
        "max_ms": round(latencies[-1], 1),
        "queries": round(sum(queries) / len(queries), 1) if queries else None,
        "errors": entry["errors"],
        "statuses": entry["statuses"],
    }
    if entry.get("sent"):
        # Uploads run one request at a time: bytes over the time the requests took.
        result["mb_per_s"] = round(entry["sent"] / (sum(latencies) / 1000) / 1e6, 1)
        result["bytes"] = entry["sent"]
    return result


def test_results_path(tests, name):
    """The first URL a test results scenario reads (``""``: its data is not loaded; None: not one of them)."""
    if name == "test-history":
        return f"/api/v1/tests/{tests['history_ids'][0]}/history?limit=20" if tests["history_ids"] else ""
    if name == "flaky-topic":
        topic_id = tests["flaky_topic_id"]
        return f"/api/v1/topics/{topic_id}/flaky_tests?limit=50" if topic_id else ""
    if name == "job-tests":
        return f"/api/v1/jobs/{tests['job_ids'][0]}/tests?limit=50" if tests["job_ids"] else ""
    if name == "diff-50k":
        return f"/api/v1/jobs/{tests['diff'][0]}/tests?baseline={tests['diff'][1]}&limit=50" if tests["diff"] else ""
    return None


def probe(server, plan_data, scenario):
    """Is the route there? A scenario whose route the server does not have yet is skipped, with why."""
    import base64

    def request(method, path, body=None, headers=None, login="team_user", user=None):
        token = base64.b64encode(f"{user or plan_data[login]}:{plan_data['password']}".encode()).decode()
        req = urllib.request.Request(server.base + path, data=body, method=method)
        req.add_header("Authorization", f"Basic {token}")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status, response.read()[:300]
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()[:300]

    if scenario.name == "job-results":
        status, body = request("GET", f"/api/v1/jobs/{plan_data['results_job_ids'][0]}/results")
        if status != 200:
            return f"GET /jobs/<id>/results answered {status}: {body.decode(errors='replace')}"
    if scenario.name.startswith("upload"):
        headers = {"DCI-NAME": "probe.log", "DCI-JOB-ID": plan_data["upload_job_ids"][0], "Content-Type": "text/plain"}
        status, body = request("POST", "/api/v1/files", b"probe\n", headers)
        if status != 201:
            return f"POST /files answered {status}: {body.decode(errors='replace')} (the files API is not there yet)"
    tests = plan_data["tests"]
    if scenario.name == "upload-junit-baseline":
        line = tests["upload_line"]
        if not line["remoteci_id"]:
            return "the team user's team has no remoteci for the uploads' jobs"
        job = json.dumps({"remoteci_id": line["remoteci_id"], "topic_id": line["topic_id"], "name": "bench-probe"})
        status, body = request("POST", "/api/v1/jobs", job.encode(), {"Content-Type": "application/json"})
        if status != 201:
            return f"POST /jobs answered {status}: {body.decode(errors='replace')}"
    if scenario.name == "jobstate-final":
        if not plan_data["jobstate_final"]:
            return "the bench database has a single team (a second one, without a webhook, is compared)"
        for kind in plan_data["jobstate_final"].values():
            job = json.dumps({"remoteci_id": kind["remoteci_id"], "topic_id": kind["topic_id"], "name": "bench-probe"})
            status, body = request("POST", "/api/v1/jobs", job.encode(), {"Content-Type": "application/json"},
                                   user=kind["user"])  # fmt: skip
            if status != 201:
                return f"POST /jobs as {kind['user']} answered {status}: {body.decode(errors='replace')}"
    if scenario.name in PAGES:
        status, body = request("GET", "/login")
        if status != 200:
            return f"GET /login answered {status}: the dashboard is not there yet"
    path = test_results_path(tests, scenario.name)
    if path == "":
        return "the bench database has no such test results (load it with bench.load)"
    if path:
        status, body = request("GET", path)
        if status != 200:
            return f"GET {path.split('?')[0]} answered {status}: {body.decode(errors='replace')}"
    return None


# The run -------------------------------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", 1.0)))
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 20)),
                        help="seconds per scenario (default 20)")  # fmt: skip
    parser.add_argument("--warmup", type=int, default=4, help="seconds of warm-up before each scenario")
    parser.add_argument("--phase", type=float, default=2.0,
                        help="seconds per phase of a scenario alternating with the ceiling (0: none)")  # fmt: skip
    parser.add_argument("--latency-duration", type=int, default=10, help="seconds per single-user latency probe")
    parser.add_argument("--users", type=int, default=16, help="concurrent users of the read and write scenarios")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""), help="comma list of scenarios")
    parser.add_argument("--skip-small", action="store_true", help="skip the 2,000-job latency comparison")
    parser.add_argument("--profile", default="", help="py-spy the workers during this scenario (comma list)")
    parser.add_argument("--keep", action="store_true", help="keep the rows the run created")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    base_url = os.environ.get("DATABASE_URL")
    if not base_url:
        raise SystemExit("DATABASE_URL is not set (run `make bench`, or through `python -m dciserver.devdb`)")
    started = time.monotonic()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    FILES_ROOT.mkdir(parents=True, exist_ok=True)
    big_counts = bench_load.resolve_counts(args.scale)
    small_overrides = {
        key: max(1, big_counts[key] // 100) for key in ("jobs", "jobstates", "files", "junit", "test_lines")
    }
    # The small database is for the list latency: 1% of the lines of tests, not the diff's two big reports.
    small_overrides["diff_cases"] = 0
    big_url = bench_load.database_url(base_url, bench_load.DATABASE)
    small_url = bench_load.database_url(base_url, bench_load.DATABASE + "_small")

    print(f"bench: loading {bench_load.DATABASE} (scale {args.scale})", file=sys.stderr)
    load_database(bench_load.DATABASE, args.scale, {}, args.seed)
    if not args.skip_small:
        print(f"bench: loading {bench_load.DATABASE}_small (1% of the history)", file=sys.stderr)
        load_database(bench_load.DATABASE + "_small", args.scale, small_overrides, args.seed)

    uploads = upload_payloads()
    plan_data = plan(big_url, uploads)
    plan_path = OUT_DIR / "plan.json"
    plan_path.write_text(json.dumps(plan_data))
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    profile = {name.strip() for name in args.profile.split(",") if name.strip()}
    chosen = [s for s in scenarios(args) if not only or s.name in only or only & set(s.also) or s.name == "ceiling"]

    report = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.run", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(),
        "counts": big_counts,
        "test_results": plan_data["tests"]["stored"],
        "server": {"workers": args.workers, "threads": args.threads, "worker_class": "gthread"},
        "load_users": args.users,
        "duration_s": args.duration,
        "scenarios": {},
        "skipped": {},
        "latency": {},
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }
    if report["loadavg_before"][0] > 1.0:
        print(f"bench: warning: the machine is busy (load {report['loadavg_before']})", file=sys.stderr)

    def warm_all(server, path):
        # Until no request pays the password hash any more (each worker hashes each login once).
        for _ in range(5):
            raw = run_locust(server, path, "Warmup", len(plan_data["all_users"]), 6, OUT_DIR / "warmup.json")
            if (summarize(raw, "warmup").get("max_ms") or 0) < 200:
                break

    def latency_probes(server, path, label):
        for scenario, user_class in (("list-team", "ListTeam"), ("list-admin", "ListAdmin")):
            raw = run_locust(server, path, user_class, 1, args.latency_duration, OUT_DIR / "latency.json")
            report["latency"].setdefault(scenario, {})[label] = summarize(raw, scenario)

    # 1. List latency with 1% of the history.
    if not args.skip_small and (not only or only & {"list-team", "list-admin"}):
        small_plan = plan(small_url, uploads)
        small_plan_path = OUT_DIR / "plan-small.json"
        small_plan_path.write_text(json.dumps(small_plan))
        with Server(small_url, free_port(), args.workers, args.threads) as server:
            print("bench: list latency, small history", file=sys.stderr)
            warm_all(server, small_plan_path)
            latency_probes(server, small_plan_path, "small")

    # 2. Everything on the full database.
    webhook_id = ensure_webhook(big_url)
    since = db_now(big_url)
    try:
        with Server(big_url, free_port(), args.workers, args.threads) as server:
            print(f"bench: gunicorn {args.workers}×{args.threads} on {server.base}, warming up", file=sys.stderr)
            warm_all(server, plan_path)
            if not only or only & {"list-team", "list-admin"}:
                print("bench: list latency, full history", file=sys.stderr)
                latency_probes(server, plan_path, "full")
            for scenario in chosen:
                reason = probe(server, plan_data, scenario)
                if reason:
                    print(f"bench: {scenario.name}: skipped: {reason}", file=sys.stderr)
                    report["skipped"][scenario.name] = reason
                    continue
                print(f"bench: {scenario.name} ({scenario.what})", file=sys.stderr)
                if not scenario.iterations:
                    run_locust(server, plan_path, scenario.user_class, scenario.users, args.warmup,
                               OUT_DIR / "warmup.json")  # fmt: skip
                baseline = reset_peak_rss(server.worker_pids())
                spy = start_profile(server, scenario, args) if scenario.name in profile else None
                paired = scenario.paired and args.phase > 0 and not spy
                if paired:
                    # Alternating with the ceiling in phases of ``--phase`` seconds, in one locust
                    # process: the ratio compares the two at the same moments, whatever the shared
                    # machine's speed does over the run. Each gets ``--duration`` seconds.
                    raw = run_locust(server, plan_path, f"{scenario.user_class}WithCeiling", scenario.users,
                                     2 * args.duration, OUT_DIR / f"raw-{scenario.name}.json",
                                     alternate=args.phase)  # fmt: skip
                else:
                    seconds = args.duration if not scenario.iterations else 600
                    raw = run_locust(server, plan_path, scenario.user_class, scenario.users, seconds,
                                     OUT_DIR / f"raw-{scenario.name}.json", scenario.iterations)  # fmt: skip
                if spy:
                    stop_profile(spy)
                phases = raw.get("phase_seconds", {})
                result = summarize(raw, scenario.name, phases.get("scenario"))
                if paired:
                    result["ceiling_rps"] = summarize(raw, "ceiling", phases.get("ceiling"))["rps"]
                result["what"] = scenario.what
                result["users"] = scenario.users
                if scenario.iterations:
                    peaks = {pid: proc_status(pid).get("VmHWM", 0) for pid in baseline}
                    result["rss_rise_mib"] = round(max(peaks[p] - baseline[p] for p in baseline) / 1024, 1)
                report["scenarios"][scenario.name] = result
                print("        " + _line(scenario.name, result), file=sys.stderr)
                for name, what in scenario.also.items():
                    # Measured in the scenario's phases, as the scenario itself.
                    other = {**summarize(raw, name, phases.get("scenario")), "what": what, "users": scenario.users}
                    for key in ("rss_rise_mib", "ceiling_rps"):
                        if key in result:
                            other[key] = result[key]
                    report["scenarios"][name] = other
                    print("        " + _line(name, other), file=sys.stderr)
                if scenario.name == "jobstate-final":
                    if webhook_id:
                        print("bench: events-worker (one events_worker delivers the run's events)", file=sys.stderr)
                        report["delivery"] = delivery_throughput(big_url, since, webhook_id)
                        print(f"        {_delivery_line(report['delivery'])}", file=sys.stderr)
                    else:
                        print("bench: events-worker: skipped: the server has no events app", file=sys.stderr)
        if {"schedule", "schedule-paced"} & set(report["scenarios"]):
            report["schedule_duplicates"] = duplicate_assignments(big_url, since)
    finally:
        if not args.keep:
            report["cleanup"] = cleanup(big_url, since)
    if any(name.startswith("upload") for name in report["scenarios"]):
        source = uploads["upload-200m"]
        report["dd"] = {
            "mb_per_s": round(dd_speed(source), 1),
            "fdatasync_mb_per_s": round(dd_speed(source, ["conv=fdatasync"]), 1),
            "direct_mb_per_s": round(dd_speed(source, ["oflag=direct", "conv=fdatasync"]), 1),
        }

    report["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    report["elapsed_s"] = round(time.monotonic() - started)
    evaluate(report)
    (OUT_DIR / "results.json").write_text(json.dumps(report, indent=2, default=str))
    markdown = render(report)
    (OUT_DIR / "results.md").write_text(markdown)
    print(markdown)
    shutil.rmtree(OUT_DIR / "tmp", ignore_errors=True)


def _delivery_line(d):
    return (
        f"one events_worker: {d['events']:,} events ({d['with_delivery']:,} with a webhook), "
        f"{d['delivered']:,} of {d['deliveries']:,} deliveries delivered in {d['seconds']} s: "
        f"{d['events_per_s']} events/s, {d['deliveries_per_s']} deliveries/s; attempt p50 {d['attempt_p50_ms']} ms, "
        f"p95 {d['attempt_p95_ms']} ms"
    )


def _line(name, r):
    return (
        f"{name}: {r.get('rps')} req/s, p50 {r.get('p50_ms')} ms, p99 {r.get('p99_ms')} ms, "
        f"{r.get('queries')} queries, {r.get('errors')} errors"
    )


# Profiling ------------------------------------------------------------------------------------------------


def start_profile(server, scenario, args):
    """py-spy every worker while the scenario runs (collapsed stacks, for docs/performance.md).

    Summarize with ``python -m bench.profile --kinds var/bench``.
    """
    spies = []
    for pid in server.worker_pids():
        out = OUT_DIR / f"profile-{scenario.name}-{pid}.txt"
        cmd = [str(BIN / "py-spy"), "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
        # --gil: only the thread holding the GIL is sampled, i.e. where the worker's CPU goes (a thread
        # waiting on PostgreSQL or on a socket is not counted).
        cmd += ["--rate", "200", "--duration", str(args.duration if not scenario.iterations else 120), "--gil"]
        spies.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return spies


def stop_profile(spies):
    for spy in spies:
        if spy.poll() is None:
            spy.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(timeout=30)


# Report -------------------------------------------------------------------------------------------------


def evaluate(report):
    """Each target of issue 5, met or not, with the measured value."""
    scenarios = report["scenarios"]
    ceiling = scenarios.get("ceiling", {}).get("rps")
    checks = []
    for name, result in scenarios.items():
        # A paired scenario is compared with the ceiling measured in its alternate phases.
        reference = result.get("ceiling_rps") or ceiling
        # One user at a time (the test results reads) is a latency, not a throughput to compare.
        if reference and result.get("rps") and not name.startswith("upload") and name not in TEST_READS:
            result["ratio"] = round(result["rps"] / reference, 3)
    for name, target in TARGETS.items():
        if name in scenarios and "ratio" in scenarios[name]:
            ratio = scenarios[name]["ratio"]
            checks.append((f"{name} ≥ {target:.0%} of the ceiling", f"{ratio:.0%}", ratio >= target))
    for name, how in (("schedule-paced", "1/s each, own phase"), ("schedule", "no pause: bound by 100 / req/s")):
        p99 = scenarios.get(name, {}).get("p99_ms")
        if p99 is not None:
            checks.append((f"schedule p99 < 100 ms, 100 remotecis at once ({how})", f"{p99} ms", p99 < 100))
    p99 = scenarios.get("schedule-signed-paced", {}).get("p99_ms")
    if p99 is not None:
        checks.append(("signed schedule p99 < 100 ms, 100 remotecis at once (1/s each)", f"{p99} ms", p99 < 100))
    fresh, history = (scenarios.get(name, {}).get("p50_ms") for name in ("schedule-signed", "schedule-signed-history"))
    if fresh and history:
        ratio = history / fresh
        checks.append(("signed schedule p50, 10,000 earlier jobs vs none ≤ 1.2×", f"{ratio:.2f}×", ratio <= 1.2))
    subscribed, unsubscribed = (
        scenarios.get(name, {}).get("p50_ms") for name in ("jobstate-final", "jobstate-final-unsubscribed")
    )
    if subscribed and unsubscribed:
        ratio = subscribed / unsubscribed
        checks.append((f"final jobstate p50, one subscription vs none ≤ {SUBSCRIPTION_TARGET:.2f}×",
                       f"{ratio:.2f}× ({subscribed} vs {unsubscribed} ms)", ratio <= SUBSCRIPTION_TARGET))  # fmt: skip
    if "schedule_duplicates" in report:
        dup = report["schedule_duplicates"]["duplicate_jobs"]
        checks.append(("zero duplicate schedule assignments", str(dup), dup == 0))
    for name, sides in report["latency"].items():
        if "small" in sides and "full" in sides and sides["small"].get("p50_ms"):
            ratio = sides["full"]["p50_ms"] / sides["small"]["p50_ms"]
            sides["ratio_p50"] = round(ratio, 2)
            big, small = report["counts"]["jobs"], max(1, report["counts"]["jobs"] // 100)
            checks.append((f"{name} p50 latency, {big:,} vs {small:,} jobs ≤ 1.5×", f"{ratio:.2f}×", ratio <= 1.5))
    dd = report.get("dd", {})
    for name in UPLOADS:
        result = scenarios.get(name)
        if result and result.get("mb_per_s") and dd:
            result["vs_dd"] = round(result["mb_per_s"] / dd["mb_per_s"], 3)
            result["vs_dd_fdatasync"] = round(result["mb_per_s"] / dd["fdatasync_mb_per_s"], 3)
            if "junit" not in name:
                # The server has the bytes on disk (fsync) before it answers: dd does the same.
                measured = f"{result['vs_dd_fdatasync']:.0%} (page-cache dd: {result['vs_dd']:.0%})"
                checks.append((f"{name} ≥ 50% of dd conv=fdatasync", measured, result["vs_dd_fdatasync"] >= 0.5))
    if "upload-200m" in scenarios:
        rise = scenarios["upload-200m"]["rss_rise_mib"]
        checks.append(("200 MiB upload raises worker peak RSS < 32 MiB", f"{rise} MiB", rise < 32))
    compared, fresh = (
        scenarios.get(name, {}).get("p50_ms") for name in ("upload-junit-baseline", "upload-junit-fresh")
    )
    if compared and fresh:
        ratio = compared / fresh
        checks.append((f"50,000-case upload p50, with its comparison vs no baseline ≤ {COMPARISON_TARGET}×",
                       f"{ratio:.2f}× ({compared:.0f} vs {fresh:.0f} ms)", ratio <= COMPARISON_TARGET))  # fmt: skip
    for name, bound in LATENCY_TARGETS.items():
        p50 = scenarios.get(name, {}).get("p50_ms")
        if p50 is not None:
            checks.append((f"{name} p50 < {bound:,} ms", f"{p50} ms", p50 < bound))
    report["targets"] = [{"target": t, "measured": m, "met": ok} for t, m, ok in checks]


def _test_results_line(report):
    stored = report.get("test_results")
    if not stored:
        return ""
    return (f" Test results: {stored['cases']:,} stored cases, {stored['tests']:,} tests of which "
            f"{stored['flaky_tests']:,} flaky.")  # fmt: skip


def render(report):
    m = report["machine"]
    lines = [
        f"# dciserver bench, {report['when']}",
        "",
        f"Machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, kernel {m['kernel']}.",
        f"Data: {bench_load._summary(report['counts'])}.{_test_results_line(report)}",
        f"Server: gunicorn {report['server']['workers']} workers × {report['server']['threads']} threads "
        f"(gthread); load: locust headless, {report['load_users']} users unless said, "
        f"{report['duration_s']} s per scenario. Command: `{report['command']}`.",
        "",
        "| scenario | users | req/s | ceiling req/s | vs ceiling | p50 ms | p95 ms | p99 ms | SQL/req | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in report["scenarios"].items():
        ratio = f"{r['ratio']:.0%}" if "ratio" in r else "–"
        errors = r["errors"]
        if errors:
            errors = f"{errors} ({', '.join(f'{k}×{v}' for k, v in sorted(r['statuses'].items()) if k[0] != '2')})"
        lines.append(
            f"| {name} | {r.get('users')} | {r['rps']} | {r.get('ceiling_rps') or '–'} | {ratio} | {r['p50_ms']} "
            f"| {r['p95_ms']} | {r['p99_ms']} | {r['queries']} | {errors} |"
        )
    for name, reason in report["skipped"].items():
        lines.append(f"| {name} | – | skipped | | | | | | | {reason[:120]} |")
    if report["latency"]:
        lines += ["", "List latency, one user at a time (p50 / p95 ms):", ""]
        big = report["counts"]["jobs"]
        lines += [f"| list | {max(1, big // 100):,} jobs | {big:,} jobs | ratio (p50) |", "|---|---:|---:|---:|"]
        for name, sides in report["latency"].items():
            small, full = sides.get("small", {}), sides.get("full", {})
            lines.append(
                f"| {name} | {small.get('p50_ms', '–')} / {small.get('p95_ms', '–')} | "
                f"{full.get('p50_ms', '–')} / {full.get('p95_ms', '–')} | {sides.get('ratio_p50', '–')} |"
            )
    if "dd" in report:
        lines += ["", "Uploads (one at a time):", ""]
        lines += ["| upload | MB/s | vs dd | vs dd fdatasync | peak RSS rise |", "|---|---:|---:|---:|---:|"]
        for name in UPLOADS:
            r = report["scenarios"].get(name)
            if r and r.get("mb_per_s"):
                lines.append(f"| {name} | {r['mb_per_s']} | {r.get('vs_dd', 0):.0%} | "
                             f"{r.get('vs_dd_fdatasync', 0):.0%} | {r.get('rss_rise_mib')} MiB |")  # fmt: skip
        dd = report["dd"]
        lines.append(f"\n`dd bs=1M` of the same 200 MiB into new files in the storage folder (median of 3): "
                     f"{dd['mb_per_s']} MB/s (page cache), {dd['fdatasync_mb_per_s']} MB/s with `conv=fdatasync`, "
                     f"{dd.get('direct_mb_per_s')} MB/s with `oflag=direct conv=fdatasync`.")  # fmt: skip
    if "schedule_duplicates" in report:
        d = report["schedule_duplicates"]
        lines.append(f"\nSchedule: {d['jobs_created']} jobs handed out, {d['duplicate_jobs']} duplicate assignments.")
    if "delivery" in report:
        d = report["delivery"]
        lines.append(f"\nEvents out, right after jobstate-final, {_delivery_line(d)} (to a receiver on loopback; "
                     f"first task started to last finished, {d['tasks']:,} tasks, p50 of each: "
                     f"{', '.join(f'{k} {v} ms' for k, v in d['task_p50_ms'].items())}; {d['wall_seconds']} s from "
                     "the worker's start).")  # fmt: skip
    if report.get("targets"):
        lines += ["", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |" for t in report["targets"]]
    lines += ["", f"Run took {report['elapsed_s']} s; load average before {report['loadavg_before']}, "
              f"after {report['loadavg_after']}.", ""]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
