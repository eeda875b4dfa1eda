"""Build the bench database at scale, at bulk speed (PostgreSQL COPY), once.

    DATABASE_URL=... python -m bench.load [--scale 0.01] [--jobs N ...] [--database NAME]

The bench database is a database of its own (``dciserver_bench`` by default) on the
server ``DATABASE_URL`` names, so dev and test data are never touched. It is migrated,
then filled from generated CSV streams with ``COPY ... FROM STDIN`` in batches, under a
tqdm progress bar. A marker row records the counts and the seed it was loaded with: the
next run with the same ones does nothing, a run with other ones rebuilds the database.

The data: teams with one user each (and a super admin), remotecis, topics with
component types, components, job definitions, and history: jobs with their components,
jobstates (about five per job), one file per job (every fourth one a JUnit report with
its summary row) and about 1% of it all archived. Historical jobs ran on older
components, so the newest component set of every job definition is still free for the
schedule scenario. File rows carry no bytes, except the JUnit reports that the results
scenario reads (``scenario_bytes``).

Test results (SPEC §15): every 20th job runs on a **line** of tests (``test_lines`` lines of
``test_runs`` jobs, each with a ``tests.xml`` report of ``test_cases`` cases), and two more jobs
make a line of ``diff_cases``-case reports for the diff scenario. Each run's cases carry the
states, flags and "failing since" the server would have computed at its upload against the run
before (``ResultsLine``), its result row their counts, and each test its ``files_test`` row; the
tests that flip are mostly on the first topic, the one the flaky scenario reads. Identities are
``files.testresults``' hashes. The cases' indexes and foreign keys are built after the ``COPY``.

The database is ``dciserver_bench`` (``BENCH_DATABASE`` names another one, e.g. for a second
checkout on the same server; it must start with ``dciserver_bench``).
"""

import argparse
import csv
import hashlib
import io
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

DEFAULTS = {
    "teams": 20,
    "remotecis": 400,
    "topics": 4,
    "jobdefinitions": 200,
    "components": 2000,
    "jobs": 200_000,
    "jobstates": 1_000_000,
    "files": 200_000,
    "junit": 50_000,
    "test_lines": 400,
    "test_runs": 25,
    "test_cases": 1_000,
    "diff_cases": 50_000,
}
# Per line and per report: the same at any scale (a smaller history has fewer lines).
UNSCALED = ("test_runs", "test_cases", "diff_cases")
COMPONENT_TYPES = ("kernel", "rpm", "image")
DATABASE_PREFIX = "dciserver_bench"
DATABASE = os.environ.get("BENCH_DATABASE") or DATABASE_PREFIX
PASSWORD = "bench-password"
SUPER_ADMIN = "bench-admin"
TEAM_USER = "bench-user-{:02d}"
MARKER_VERSION = 5
# Jobs generated (with all their children) per COPY batch and transaction.
BATCH_JOBS = 10_000
# JUnit reports of the team user's newest jobs that get real bytes in storage.
RESULTS_JOBS = 200
HISTORY_DAYS = 730
FINAL = ("success",) * 14 + ("failure",) * 4 + ("error", "killed")
JOB_USER_AGENTS = ("python-dciclient_0.1a10", "python-dciclient_4.0.1", "dci-ansible-agent")
JOB_NAMES = ("openshift-vanilla", "openshift-upgrade", "rhel-install", "workload-cnf")
# The remoteci the signed schedule scenarios ask for, one with history (every HISTORY_EVERY-th job
# of the history, 10,000 at 200,000 jobs) and one with none (``FRESH_REMOTECI``, of team 0 too).
HISTORY_REMOTECI = "remoteci-0000"
HISTORY_EVERY = 20
FRESH_REMOTECI = "remoteci-fresh"
# Key/values: one job in KV_EVERY records them.
KV_EVERY = 4


def database_url(base_url, name):
    """``base_url`` with its database name replaced by ``name`` (same server, same credentials)."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def resolve_counts(scale=1.0, **overrides):
    """The row counts: the defaults times ``scale`` (with sane minimums), then explicit counts."""
    counts = {name: value if name in UNSCALED else max(1, round(value * scale)) for name, value in DEFAULTS.items()}
    counts.update({name: int(value) for name, value in overrides.items() if value is not None})
    counts["teams"] = max(counts["teams"], 1)
    counts["topics"] = max(counts["topics"], 1)
    counts["remotecis"] = max(counts["remotecis"], counts["teams"])
    counts["jobdefinitions"] = max(counts["jobdefinitions"], counts["topics"])
    # Every (topic, type) needs an older component for history and a newest one for scheduling.
    counts["components"] = max(counts["components"], counts["topics"] * len(COMPONENT_TYPES) * 2)
    counts["files"] = min(counts["files"], counts["jobs"] * 4)
    counts["junit"] = min(counts["junit"], counts["files"])
    # A line's runs are jobs of the history: as many lines as there are jobs for.
    slots = len(range(TEST_OFFSET, counts["jobs"], TEST_EVERY))
    counts["test_lines"] = min(counts["test_lines"], slots // max(1, counts["test_runs"]))
    return counts


# Connections -------------------------------------------------------------------------


def connect(url, **kwargs):
    import psycopg2

    return psycopg2.connect(url, **kwargs)


def ensure_database(url, *, recreate=False):
    """Create the bench database if it is missing (or drop and create it with ``recreate``)."""
    name = urlsplit(url).path.lstrip("/")
    if not name.startswith(DATABASE_PREFIX):
        raise SystemExit(f"refusing to manage database {name!r}: bench databases are named {DATABASE_PREFIX}*")
    admin = connect(database_url(url, "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            exists = cursor.fetchone() is not None
            if exists and recreate:
                cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                exists = False
            if not exists:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()


def read_marker(url):
    conn = connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT to_regclass('bench_marker') IS NOT NULL")
            if not cursor.fetchone()[0]:
                return None
            cursor.execute("SELECT config FROM bench_marker WHERE id = 1")
            row = cursor.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def write_marker(conn, config):
    with conn.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_marker (id int PRIMARY KEY, config jsonb, loaded_at timestamptz)"
        )
        cursor.execute(
            "INSERT INTO bench_marker VALUES (1, %s, now()) ON CONFLICT (id) DO UPDATE SET config = EXCLUDED.config,"
            " loaded_at = EXCLUDED.loaded_at",
            [json.dumps(config)],
        )
    conn.commit()


# Generation ----------------------------------------------------------------------------

NULL = r"\N"


class Table:
    """Rows for one table, buffered as CSV and sent with ``COPY ... FROM STDIN``."""

    def __init__(self, name, columns):
        self.name = name
        self.columns = columns
        self.rows = []
        self.total = 0

    def add(self, row):
        self.rows.append(row)

    def flush(self, cursor):
        if not self.rows:
            return
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(self.rows)
        buffer.seek(0)
        cursor.copy_expert(
            f"COPY {self.name} ({', '.join(self.columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
        )
        self.total += len(self.rows)
        self.rows = []


def check_columns(tables):
    """Every generated table names exactly the columns of its model (catches a model change)."""
    from django.apps import apps

    by_table = {model._meta.db_table: model for model in apps.get_models()}
    for table in tables:
        model = by_table[table.name]
        expected = {f.column for f in model._meta.concrete_fields if not _is_identity(f) and not f.generated}
        if set(table.columns) != expected:
            raise SystemExit(
                f"bench.load: {table.name} columns changed: model has {sorted(expected)}, "
                f"loader writes {sorted(table.columns)}; update bench/load.py"
            )


def _is_identity(field):
    return field.get_internal_type() in ("AutoField", "BigAutoField")


class Generator:
    """Deterministic rows for a given seed: the same counts and seed give the same database."""

    def __init__(self, counts, seed, now):
        self.counts = counts
        self.rng = random.Random(seed)
        # History ends a day ago: whatever a bench run creates is newer than all of it.
        self.now = now - timedelta(days=1)
        self.start = now - timedelta(days=HISTORY_DAYS)

    def uuid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def etag(self):
        return f"{self.rng.getrandbits(128):032x}"

    def at(self, fraction):
        """A moment of history: 0.0 is its start, 1.0 is now."""
        return self.start + (self.now - self.start) * fraction

    @staticmethod
    def ts(moment):
        return moment.isoformat()


def load(url, counts, *, seed=5, files_root=None):
    """Load ``counts`` into the bench database at ``url`` unless it already holds them."""
    config = {"version": MARKER_VERSION, "seed": seed, "counts": counts}
    ensure_database(url)
    _django_setup(url)
    marker = read_marker(url)
    if marker == config:
        print(f"bench.load: {_name(url)} already holds {_summary(counts)}; nothing to load", file=sys.stderr)
        scenario_bytes(url, files_root)
        return False
    if marker is not None or _has_rows(url):
        print(f"bench.load: {_name(url)} holds another data set; rebuilding it", file=sys.stderr)
        from django.db import connections

        connections.close_all()
        ensure_database(url, recreate=True)
    _migrate()
    started = time.monotonic()
    conn = connect(url)
    try:
        _load(conn, counts, seed)
        print("bench.load: VACUUM ANALYZE", file=sys.stderr)
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
        conn.autocommit = False
        write_marker(conn, config)
    finally:
        conn.close()
    print(f"bench.load: loaded {_summary(counts)} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    scenario_bytes(url, files_root)
    return True


def _name(url):
    return urlsplit(url).path.lstrip("/")


def _summary(counts):
    return ", ".join(f"{value:,} {name}" for name, value in counts.items())


def _django_setup(url):
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dciserver.settings")
    import django

    django.setup()
    _migrate()


def _migrate():
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _has_rows(url):
    conn = connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM jobs_job)")
            return cursor.fetchone()[0]
    finally:
        conn.close()


def _load(conn, counts, seed):
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from tqdm import tqdm

    from jobs.models import components_key

    gen = Generator(counts, seed, datetime.now(UTC).replace(microsecond=0))
    rng = gen.rng
    ts = gen.ts

    teams = Table(
        "teams_team",
        [
            "id",
            "created_at",
            "state",
            "archived_at",
            "updated_at",
            "etag",
            "name",
            "has_pre_release_access",
            "external",
            "country",
        ],
    )
    users = Table(
        "teams_user",
        [
            "id",
            "password",
            "last_login",
            "created_at",
            "state",
            "archived_at",
            "updated_at",
            "etag",
            "name",
            "role",
            "team_id",
            "email",
            "fullname",
        ],
    )
    remotecis = Table(
        "teams_remoteci",
        [
            "id",
            "created_at",
            "state",
            "archived_at",
            "updated_at",
            "etag",
            "name",
            "team_id",
            "data",
            "public",
            "api_secret",
        ],
    )
    topics = Table(
        "jobs_topic",
        [
            "id",
            "created_at",
            "state",
            "archived_at",
            "updated_at",
            "etag",
            "name",
            "component_types",
            "component_types_optional",
            "product_id",
            "export_control",
            "next_topic_id",
            "data",
        ],
    )
    subscriptions = Table("jobs_topicsubscription", ["topic_id", "team_id", "created_at"])
    components = Table(
        "jobs_component",
        [
            "id",
            "created_at",
            "state",
            "archived_at",
            "updated_at",
            "etag",
            "name",
            "type",
            "topic_id",
            "canonical_project_name",
            "title",
            "message",
            "url",
            "data",
            "sha",
            "display_name",
            "version",
            "uid",
            "tags",
            "released_at",
            "team_id",
        ],
    )
    jobdefinitions = Table(
        "jobs_jobdefinition",
        [
            "id",
            "created_at",
            "state",
            "archived_at",
            "updated_at",
            "etag",
            "name",
            "topic_id",
            "priority",
            "component_types",
            "comment",
        ],
    )
    jobs = Table(
        "jobs_job",
        [
            "id",
            "created_at",
            "state",
            "archived_at",
            "updated_at",
            "etag",
            "status",
            "comment",
            "recheck",
            "remoteci_id",
            "jobdefinition_id",
            "topic_id",
            "team_id",
            "components_key",
            "recheck_pending",
            "user_agent",
            "client_version",
            "name",
            "status_reason",
            "configuration",
            "url",
            "tags",
            "data",
            "duration",
            "product_id",
            "pipeline_id",
            "previous_job_id",
            "update_previous_job_id",
        ],
    )
    keys_values = Table("jobs_jobkeyvalue", ["id", "created_at", "job_id", "team_id", "key", "value"])
    jobcomponents = Table("jobs_jobcomponent", ["job_id", "component_id"])
    jobstates = Table(
        "jobs_jobstate", ["id", "created_at", "state", "archived_at", "status", "comment", "job_id", "team_id"]
    )
    files = Table(
        "files_file",
        [
            "id",
            "created_at",
            "state",
            "archived_at",
            "name",
            "mime",
            "md5",
            "size",
            "job_id",
            "jobstate_id",
            "team_id",
        ],
    )
    junit = Table(
        "files_junitresult",
        [
            "file_id",
            "job_id",
            "name",
            "total",
            "failures",
            "errors",
            "skips",
            "regressions",
            "successfixes",
            "flaky_regressions",
            "baseline_id",
            "time",
            "error",
        ],
    )
    cases = TextTable("files_testcase", CASE_COLUMNS)
    tests = TextTable("files_test", TEST_COLUMNS)
    catalogue = [teams, users, remotecis, topics, subscriptions, components, jobdefinitions]
    history = [jobs, jobcomponents, jobstates, files, junit, keys_values]
    check_columns(catalogue + history + [cases, tests])

    origin = ts(gen.start)
    cursor = conn.cursor()

    # The catalogue ------------------------------------------------------------------
    password = make_password(PASSWORD)  # the production hasher: the auth cache makes one request pay
    cursor.execute("SELECT id FROM teams_team WHERE name = 'admin' AND archived_at IS NULL")
    admin_team = str(cursor.fetchone()[0])
    users.add((gen.uuid(), password, NULL, origin, "active", NULL, origin, gen.etag(), SUPER_ADMIN, "admin",
               admin_team, "", "Bench super admin"))  # fmt: skip
    team_ids = []
    for t in range(counts["teams"]):
        team_id = gen.uuid()
        team_ids.append(team_id)
        teams.add((team_id, origin, "active", NULL, origin, gen.etag(), f"bench-team-{t:02d}", "f", "t", ""))
        users.add((gen.uuid(), password, NULL, origin, "active", NULL, origin, gen.etag(), TEAM_USER.format(t), "user",
                   team_id, "", f"Bench user {t}"))  # fmt: skip
    team_remotecis = {team_id: [] for team_id in team_ids}
    for r in range(counts["remotecis"]):
        team_id = team_ids[r % len(team_ids)]
        remoteci_id = gen.uuid()
        team_remotecis[team_id].append(remoteci_id)
        remotecis.add((remoteci_id, origin, "active", NULL, origin, gen.etag(), f"remoteci-{r:04d}", team_id,
                       json.dumps({"lab": r % 7}), "f", gen.etag() + gen.etag()))  # fmt: skip
    remotecis.add((gen.uuid(), origin, "active", NULL, origin, gen.etag(), FRESH_REMOTECI, team_ids[0], "{}", "f",
                   gen.etag() + gen.etag()))  # fmt: skip

    topic_ids = []
    for p in range(counts["topics"]):
        topic_id = gen.uuid()
        topic_ids.append(topic_id)
        topics.add((topic_id, origin, "active", NULL, origin, gen.etag(), f"bench-topic-{p}",
                    json.dumps(list(COMPONENT_TYPES)), "[]", NULL, "f", NULL, "{}"))  # fmt: skip
        for team_id in team_ids:
            subscriptions.add((topic_id, team_id, origin))

    # Components of each (topic, type), oldest first; the last one of each is the newest.
    by_topic_type = {(topic_id, kind): [] for topic_id in topic_ids for kind in COMPONENT_TYPES}
    keys = list(by_topic_type)
    for c in range(counts["components"]):
        topic_id, kind = keys[c % len(keys)]
        component_id = gen.uuid()
        created = ts(gen.at(c / counts["components"]))
        version = len(by_topic_type[topic_id, kind])
        by_topic_type[topic_id, kind].append(component_id)
        components.add((component_id, created, "active", NULL, created, gen.etag(), f"{kind}-{version}", kind,
                        topic_id, kind.upper(), f"{kind} {version}", "", f"https://example.com/{kind}/{version}",
                        "{}", f"{rng.getrandbits(160):040x}", kind, version, "", "{}", created, NULL))  # fmt: skip

    topic_jobdefinitions = {topic_id: [] for topic_id in topic_ids}
    for d in range(counts["jobdefinitions"]):
        topic_id = topic_ids[d % len(topic_ids)]
        jd_id = gen.uuid()
        types = [kind for kind in COMPONENT_TYPES if rng.random() < 0.7] or [COMPONENT_TYPES[0]]
        topic_jobdefinitions[topic_id].append((jd_id, types))
        jobdefinitions.add((jd_id, origin, "active", NULL, origin, gen.etag(), f"jobdefinition-{d:03d}", topic_id,
                            rng.randrange(0, 1001), json.dumps(types), ""))  # fmt: skip

    for table in catalogue:
        table.flush(cursor)
    conn.commit()

    # Lines of tests: built at their first run.
    slots = line_slots(counts)
    lines = {}
    test_rng = random.Random(seed * 7919 + 1)

    def test_line(slot):
        if slot not in lines:
            diff = slot == "diff"
            n = 0 if diff else slot
            team_id = team_ids[n % len(team_ids)]
            # Not the team's first remoteci: remoteci-0000 keeps its exact history for the signed schedule.
            others = team_remotecis[team_id][1:] or team_remotecis[team_id]
            remoteci_id = others[(n // len(team_ids)) % len(others)]
            topic_id = topic_ids[(n // len(team_ids)) % len(topic_ids)]
            share = FLAKY_SHARE if topic_id == topic_ids[0] and not diff else FLAKY_SHARE_ELSEWHERE
            lines[slot] = ResultsLine(
                team_id=team_id, remoteci_id=remoteci_id, topic_id=topic_id,
                name=DIFF_JOB_NAME if diff else TEST_JOB_NAME.format(n), first=0 if diff else n * 37,
                tests=counts["diff_cases"] if diff else counts["test_cases"], flaky_share=share,
                runs=DIFF_RUNS if diff else counts["test_runs"], rng=test_rng, window=settings.DCI_FLAKY_RUNS,
                flips=settings.DCI_FLAKY_FLIPS,
            )  # fmt: skip
        return lines[slot]

    indexes = []
    if slots:
        print("bench.load: dropping the test cases' indexes until they are loaded", file=sys.stderr)
        indexes = _without_indexes(cursor, "files_testcase")
        conn.commit()

    # History ------------------------------------------------------------------------------
    n_jobs, n_states, n_files, n_junit = counts["jobs"], counts["jobstates"], counts["files"], counts["junit"]
    file_counter = 0
    step = (gen.now - gen.start) / max(n_jobs, 1)
    minute = timedelta(minutes=1)
    pbar = tqdm(total=n_jobs, unit="job", desc="bench.load", unit_scale=True, file=sys.stderr)
    for j in range(n_jobs):
        slot = slots.get(j)
        line = test_line(slot) if slot is not None else None
        if line is not None:
            team_id, remoteci_id, topic_id = line.team_id, line.remoteci_id, line.topic_id
        else:
            team_id = team_ids[rng.randrange(len(team_ids))]
            remoteci_id = rng.choice(team_remotecis[team_id])
            if j % HISTORY_EVERY == 0:
                team_id, remoteci_id = team_ids[0], team_remotecis[team_ids[0]][0]  # HISTORY_REMOTECI
            topic_id = topic_ids[rng.randrange(len(topic_ids))]
        jd_id, types = rng.choice(topic_jobdefinitions[topic_id])
        # History ran on older components: the newest set stays free for the schedule scenario.
        chosen = [rng.choice(by_topic_type[topic_id, kind][:-1]) for kind in types]
        created = gen.start + step * j + timedelta(seconds=rng.random() * 30)
        # A line's jobs stay live: each is the baseline of the next.
        archived = ts(gen.now) if rng.random() < 0.01 and line is None else NULL
        key = components_key(chosen)
        name, configuration = JOB_NAMES[j % len(JOB_NAMES)], "sno" if j % 2 else ""
        if line is not None:
            name, configuration = line.name, ""
        status = FINAL[rng.randrange(len(FINAL))]
        job_id = gen.uuid()
        states = n_states // n_jobs + (1 if j < n_states % n_jobs else 0)
        jobs.add((job_id, ts(created), "active", archived, ts(created + minute * (states + 1)), gen.etag(), status,
                  "", "f", remoteci_id, jd_id, topic_id, team_id, key, "f",
                  JOB_USER_AGENTS[j % 3], "0.1", name, "", configuration, "",
                  "{agent:openshift,nightly}" if j % 3 else "{}", "{}", 60 * (states + 1), NULL, NULL, NULL,
                  NULL))  # fmt: skip
        if j % KV_EVERY == 0:
            keys_values.add((gen.uuid(), ts(created), job_id, team_id, "install_seconds", f"{rng.random() * 3600:.1f}"))
        for component_id in chosen:
            jobcomponents.add((job_id, component_id))
        flow = ("new", "pre-run", "running", "post-run")
        running_state = NULL
        for s in range(states):
            state_id = gen.uuid()
            state_status = status if s == states - 1 else flow[min(s, len(flow) - 1)]
            if state_status == "running":
                running_state = state_id
            jobstates.add((state_id, ts(created + minute * (s + 1)), "active", archived, state_status, "", job_id,
                           team_id))  # fmt: skip
        n_job_files = n_files // n_jobs + (1 if j < n_files % n_jobs else 0)
        for _ in range(n_job_files):
            file_id = gen.uuid()
            is_junit = (file_counter + 1) * n_junit // n_files > file_counter * n_junit // n_files
            file_counter += 1
            file_at = ts(created + minute * states)
            if is_junit:
                total = rng.randrange(1, 400)
                failures = rng.randrange(0, 3) if status != "success" else 0
                skips = rng.randrange(0, 5)
                files.add((file_id, file_at, "active", archived, f"junit-{file_counter}.xml", "application/junit",
                           f"{rng.getrandbits(128):032x}", rng.randrange(2_000, 200_000), job_id, running_state,
                           team_id))  # fmt: skip
                junit.add((file_id, job_id, "pytest", total, failures, 0, min(skips, total - failures), 0, 0, 0,
                           NULL, f"{rng.random() * 600:.3f}", ""))  # fmt: skip
            else:
                files.add((file_id, file_at, "active", archived, "console.log", "text/plain",
                           f"{rng.getrandbits(128):032x}", rng.randrange(1_000, 5_000_000), job_id, running_state,
                           team_id))  # fmt: skip
        if line is not None:
            file_id = gen.uuid()
            file_at = ts(created + minute * states)
            text, rows, summary = line.run(job_id, file_id, key, file_at)
            files.add((file_id, file_at, "active", NULL, TEST_FILE, "application/junit",
                       f"{rng.getrandbits(128):032x}", summary["total"] * 160, job_id, running_state,
                       team_id))  # fmt: skip
            junit.add((file_id, job_id, TEST_SUITE, summary["total"], summary["f"], summary["e"], summary["k"],
                       summary["regressions"], summary["successfixes"], summary["flaky_regressions"],
                       summary["baseline_id"] or NULL, f"{summary['time']:.3f}", ""))  # fmt: skip
            cases.add(text, rows)
            if cases.rows >= CASES_PER_COPY:
                cases.flush(cursor)
        if (j + 1) % BATCH_JOBS == 0 or j == n_jobs - 1:
            for table in history:
                table.flush(cursor)
            cases.flush(cursor)
            conn.commit()
            pbar.update((j % BATCH_JOBS) + 1)
            pbar.set_postfix(rows=f"{sum(t.total for t in history):,}", cases=f"{cases.total:,}")
    pbar.close()
    for line in lines.values():
        tests.add(*line.test_rows())
        if tests.rows >= CASES_PER_COPY:
            tests.flush(cursor)
    tests.flush(cursor)
    conn.commit()
    if indexes:
        print(f"bench.load: {cases.total:,} test cases, {tests.total:,} tests; building the cases' indexes",
              file=sys.stderr)  # fmt: skip
        started = time.monotonic()
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for statement in indexes:
            cursor.execute(statement)
        conn.commit()
        print(f"bench.load: indexes and foreign keys in {time.monotonic() - started:.0f} s", file=sys.stderr)
    cursor.close()


# Test results (SPEC §15) -------------------------------------------------------------------

TEST_FILE = "tests.xml"
TEST_SUITE = "pytest"
# Every TEST_EVERY-th job of the history from TEST_OFFSET runs on a line of tests; the last
# DIFF_RUNS from DIFF_OFFSET make the line of the diff scenario. Both apart from HISTORY_EVERY's.
TEST_EVERY, TEST_OFFSET, DIFF_OFFSET = 20, 10, 15
TEST_JOB_NAME = "tests-{:04d}"
DIFF_JOB_NAME = "diff-50k"
DIFF_RUNS = 2
# The tests the lines draw their windows from: lines share tests (and keys), as labs running one
# suite do.
TEST_POOL = 5_000
# Cases buffered before a COPY.
CASES_PER_COPY = 200_000
# The share of a line's tests that flip: mostly on the first topic, the one the flaky scenario reads.
FLAKY_SHARE, FLAKY_SHARE_ELSEWHERE = 0.05, 0.002
# The other tests that are not always passing, as shares of a line's tests.
TEST_KINDS = (
    ("failing", 0.003),
    ("erroring", 0.001),
    ("regressing", 0.003),
    ("recovering", 0.003),
    ("skipped", 0.01),
    ("skipping", 0.002),
    ("added", 0.004),
    ("removed", 0.004),
)
RESULTS = {"s": "success", "f": "failure", "e": "error", "k": "skipped"}
MESSAGES = {
    "s": "\t",
    "f": "assert 404 == 200\tAssertionError",
    "e": "ConnectionResetError: [Errno 104] Connection reset by peer\tConnectionResetError",
    "k": "not supported on this platform\tpytest.skip",
}
CASE_COLUMNS = [
    "test_id", "key", "suite", "classname", "name", "time", "result", "message", "type", "state",
    "previous_result", "flaky", "failing_since", "archived_at", "file_id", "job_id", "team_id",
]  # fmt: skip
TEST_COLUMNS = [
    "id", "line", "team_id", "topic_id", "remoteci_id", "file_name", "suite", "classname", "name", "created_at",
    "updated_at", "runs", "outcomes", "sets", "flips", "set_flip_age", "flaky", "last_result", "last_job_id",
    "failing_since",
]  # fmt: skip
_PACKAGES = ("api", "auth", "files", "jobs", "scheduling", "storage", "teams", "upgrade")
_VERBS = ("creates", "lists", "updates", "deletes", "refuses", "retries", "pages", "filters")


def case_identity(i):
    """``(classname, name, time)`` of the ``i``-th test of the generated suites, as pytest names them."""
    module, cls = divmod(i // 8, 5)
    package = _PACKAGES[module % len(_PACKAGES)]
    name = f"test_{_VERBS[i % 8]}_{package}"
    if module % 3 == 0:
        name += "[ipv6]" if cls % 2 else "[ipv4]"
    classname = f"tests.{package}.test_{package}_{module:04d}.Test{package.title()}{cls}"
    return classname, name, f"{i * 7919 % 3000 / 1000:.3f}"


class TextTable:
    """Rows for one table, already in COPY's text format, sent with ``COPY ... FROM STDIN``."""

    def __init__(self, name, columns):
        self.name = name
        self.columns = columns
        self.parts = []
        self.rows = 0
        self.total = 0

    def add(self, text, rows):
        self.parts.append(text)
        self.rows += rows

    def flush(self, cursor):
        if not self.parts:
            return
        cursor.copy_expert(f"COPY {self.name} ({', '.join(self.columns)}) FROM STDIN", io.StringIO("".join(self.parts)))
        self.total += self.rows
        self.parts, self.rows = [], 0


class _Test:
    """A test of a line that does not pass every run: its runs so far, as its ``files_test`` row keeps them."""

    __slots__ = ("test_id", "key", "identity", "base", "letters", "outcomes", "sets", "runs", "age", "since",
                 "created", "updated", "last_job", "last", "flaky")  # fmt: skip

    def __init__(self, test_id, key, identity, base, letters):
        self.test_id, self.key, self.identity, self.base, self.letters = test_id, key, identity, base, letters
        # As ``Comparison`` reads and writes them (``sets``: the numbers as text, "1,-2").
        self.outcomes, self.sets, self.runs, self.age, self.since = "", "", 0, None, None
        self.created = self.updated = self.last_job = self.last = None
        self.flaky = False


class ResultsLine:
    """The runs of ``tests.xml`` on one line (SPEC §15: topic, remoteci, job name, configuration, url).

    ``run`` gives one job's cases, compared with the run before as the server compares an upload
    (``files.testresults.Comparison``): states, the ``flaky`` flag, "failing since", and the counts
    of the result row; ``test_rows`` the tests' ``files_test`` rows after the last run. A test
    passing (or skipped) in every run takes one prepared string per run: most cases are such.
    """

    def __init__(self, *, team_id, remoteci_id, topic_id, name, first, tests, flaky_share, runs, rng, window, flips):
        from files.testresults import h64, line_of

        self.team_id, self.remoteci_id, self.topic_id, self.name = team_id, remoteci_id, topic_id, name
        job = SimpleNamespace(topic_id=topic_id, remoteci_id=remoteci_id, name=name, configuration="", url="")
        self.line = line_of(job, TEST_FILE)
        self.window, self.flip_limit = window, flips
        self.history = []  # (job id, file id, set, moment) of each run, oldest first
        self.sets = []  # the runs' sets, newest first, as many as a test keeps
        self.stable = []  # (test id, identity, letter) of the tests with one outcome in every run
        self.dynamic = []
        self.added_rows, self.unchanged_rows = [], []
        self.stable_count = {"s": 0, "k": 0}
        self.stable_time = 0.0
        pool = max(TEST_POOL, tests)
        for n in range(tests):
            identity = case_identity((first + n) % pool)
            classname, test_name, seconds = identity
            key = h64(f"{TEST_FILE}\x1f{classname}\x1f{test_name}")
            test_id = h64(f"{self.line}:{key}")
            base = f"{test_id}\t{key}\t{TEST_SUITE}\t{classname}\t{test_name}\t{seconds}\t"
            letters = self._letters(rng, flaky_share, runs)
            if len(set(letters)) == 1 and letters[0] in "sk":
                letter = letters[0]
                self.stable.append((test_id, identity, letter))
                tail = f"{RESULTS[letter]}\t{MESSAGES[letter]}\t"
                self.added_rows.append(f"{base}{tail}ADDED\t\tf\t\\N\t\\N\t")
                self.unchanged_rows.append(f"{base}{tail}UNCHANGED\t{RESULTS[letter]}\tf\t\\N\t\\N\t")
                self.stable_count[letter] += 1
                self.stable_time += float(seconds)
            else:
                self.dynamic.append(_Test(test_id, key, identity, base, letters))

    @staticmethod
    def _letters(rng, flaky_share, runs):
        """A test's outcome in each run (``-``: not in the report)."""
        draw = rng.random()
        if draw < flaky_share:
            return "".join("f" if rng.random() < 0.3 else "s" for _ in range(runs))
        draw -= flaky_share
        kind = "passing"
        for name, share in TEST_KINDS:
            if draw < share:
                kind = name
                break
            draw -= share
        if kind == "failing":
            return "f" * runs
        if kind == "erroring":
            return "e" * runs
        if kind == "skipped":
            return "k" * runs
        if kind == "passing" or runs < 2:
            return "s" * runs
        at = rng.randrange(1, runs)
        return {
            "regressing": "s" * at + "f" * (runs - at),
            "recovering": "f" * at + "s" * (runs - at),
            "skipping": ("s" * at + "kkk" + "s" * runs)[:runs],
            "added": "-" * at + "s" * (runs - at),
            "removed": "s" * at + "-" * (runs - at),
        }[kind]

    def run(self, job_id, file_id, components_key, moment):
        """One run: ``(COPY text of its cases, how many, its result row's counts)``. The tests that
        change are compared by the server's own ``Comparison``, as an upload of them would be."""
        from files.testresults import Comparison, set_of

        r = len(self.history)
        this_set = set_of(components_key)
        baseline = self.history[-1][1] if self.history else None
        self.history.append((job_id, file_id, this_set, moment))
        self.sets = [this_set, *self.sets][: self.window]
        suffix = f"{file_id}\t{job_id}\t{self.team_id}\n"
        rows = self.added_rows if r == 0 else self.unchanged_rows
        parts = [suffix.join(rows) + suffix] if rows else []
        count = len(rows)
        if r == 0:
            self.added_rows = []  # never needed again
        summary = {"total": len(rows), "f": 0, "e": 0, "k": self.stable_count["k"], "regressions": 0,
                   "successfixes": 0, "flaky_regressions": 0, "time": self.stable_time}  # fmt: skip
        job = SimpleNamespace(id=job_id, topic_id=self.topic_id, remoteci_id=self.remoteci_id, name=self.name,
                              configuration="", url="", components_key=components_key)  # fmt: skip
        comparison = Comparison(SimpleNamespace(name=TEST_FILE), job)
        comparison.previous = {test.key: RESULTS[test.last] for test in self.dynamic if test.last}
        comparison.known = {
            test.test_id: (test.outcomes, test.sets, test.runs, test.age, False, test.since)
            for test in self.dynamic
            if test.runs
        }
        removed, ran = [], {}
        for test in self.dynamic:
            letter = test.letters[r]
            if letter == "-":
                if test.last is not None:
                    # The baseline's case, kept as a row of this file (``REMOVED_SQL``).
                    result = RESULTS[test.last]
                    removed.append(f"{test.base}{result}\t{MESSAGES[test.last]}\tREMOVED\t{result}\t"
                                   f"{'t' if test.flaky else 'f'}\t\\N\t\\N\t{suffix}")  # fmt: skip
                test.last = None
                continue
            classname, name, seconds = test.identity
            case = SimpleNamespace(classname=classname, name=name, suite=TEST_SUITE, result=RESULTS[letter])
            _, _, state, previous, flaky, since = comparison.case(case)
            test.last = letter
            ran[test.test_id] = test
            summary["total"] += 1
            summary[letter] = summary.get(letter, 0) + 1
            summary["time"] += float(seconds)
            parts.append(f"{test.base}{RESULTS[letter]}\t{MESSAGES[letter]}\t{state}\t{previous}\t"
                         f"{'t' if flaky else 'f'}\t{since or NULL}\t\\N\t{suffix}")  # fmt: skip
            count += 1
        # The tests' rows as the upload's upsert leaves them.
        for test_id, _, runs, outcomes, sets, _, age, flaky, since in comparison.tests:
            test = ran[test_id]
            test.outcomes, test.sets, test.runs, test.age, test.since, test.flaky = (
                outcomes,
                sets,
                runs,
                age,
                since,
                flaky,
            )
            test.created, test.updated, test.last_job = test.created or moment, moment, job_id
        summary["regressions"] += comparison.regressions
        summary["successfixes"] += comparison.successfixes
        summary["flaky_regressions"] += comparison.flaky_regressions
        parts += removed
        summary["baseline_id"] = baseline
        return "".join(parts), count + len(removed), summary

    def test_rows(self):
        """The COPY text of the line's ``files_test`` rows, and how many."""
        if not self.history:
            return "", 0
        from files.testresults import flips_of

        fixed = f"{self.line}\t{self.team_id}\t{self.topic_id}\t{self.remoteci_id}\t{TEST_FILE}\t{TEST_SUITE}\t"
        first, last = self.history[0], self.history[-1]
        runs = len(self.history)
        sets = "{" + ",".join(map(str, self.sets)) + "}"
        shown = min(runs, self.window)
        parts = []
        for test_id, (classname, name, _), letter in self.stable:
            parts.append(f"{test_id}\t{fixed}{classname}\t{name}\t{first[3]}\t{last[3]}\t{runs}\t{letter * shown}\t"
                         f"{sets}\t0\t\\N\tf\t{RESULTS[letter]}\t{last[0]}\t\\N\n")  # fmt: skip
        for test in self.dynamic:
            if not test.runs:
                continue
            classname, name, _ = test.identity
            age = NULL if test.age is None else test.age
            parts.append(
                f"{test.test_id}\t{fixed}{classname}\t{name}\t{test.created}\t{test.updated}\t{test.runs}\t"
                f"{test.outcomes}\t{{{test.sets}}}\t{flips_of(test.outcomes)}\t{age}\t"
                f"{'t' if test.flaky else 'f'}\t{RESULTS[test.outcomes[0]]}\t{test.last_job}\t{test.since or NULL}\n"
            )
        return "".join(parts), len(parts)


def line_slots(counts):
    """``{job number: line}`` of the history's jobs that run on lines of tests (``"diff"``: the diff line)."""
    regular = range(TEST_OFFSET, counts["jobs"], TEST_EVERY)
    slots = {regular[k]: k % counts["test_lines"] for k in range(counts["test_lines"] * counts["test_runs"])}
    diff = list(range(DIFF_OFFSET, counts["jobs"], TEST_EVERY))[-DIFF_RUNS:]
    if counts["diff_cases"] and len(diff) == DIFF_RUNS:
        slots.update(dict.fromkeys(diff, "diff"))
    return slots


def _without_indexes(cursor, table):
    """Drop ``table``'s indexes (but its primary key) and foreign keys, for a bulk load: what puts them back."""
    cursor.execute(
        """
        SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s
          AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p')
        """,
        [table, table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    constraints = cursor.fetchall()
    for name, _ in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    return [definition for _, definition in indexes] + [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for name, definition in constraints
    ] + [f"ALTER TABLE {table} RESET (autovacuum_enabled)"]  # fmt: skip


# Bytes for the scenarios -------------------------------------------------------------------


def junit_xml(name, total, failures, skips, seconds):
    """A JUnit report whose summary is the one the loader stored for it."""
    cases = []
    for i in range(total):
        if i < failures:
            body = '<failure message="assertion failed">AssertionError</failure>'
        elif i < failures + skips:
            body = '<skipped message="not applicable"/>'
        else:
            body = ""
        cases.append(f'<testcase classname="bench.suite{i % 10}" name="test_{i}" time="0.010">{body}</testcase>')
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="{name}" tests="{total}" failures="{failures}" '
        f'errors="0" skipped="{skips}" time="{seconds}">' + "".join(cases) + "</testsuite>\n"
    ).encode()


def scenario_bytes(url, files_root):
    """Give real bytes (and a true md5 and size) to the JUnit reports the results scenario reads."""
    if files_root is None:
        from django.conf import settings

        files_root = settings.DCI_FILES_ROOT
    files_root = Path(files_root)
    conn = connect(url)
    written = 0
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                """
                SELECT f.id, r.name, r.total, r.failures, r.skips, r.time
                FROM files_file f JOIN files_junitresult r ON r.file_id = f.id
                WHERE f.job_id IN (
                    SELECT j.id FROM jobs_job j JOIN teams_user u ON u.team_id = j.team_id
                    WHERE u.name = %s AND j.archived_at IS NULL
                      AND EXISTS (SELECT 1 FROM files_junitresult r2 WHERE r2.job_id = j.id)
                    ORDER BY j.created_at DESC LIMIT %s)
                  -- A line's report has its cases stored: bytes made from its counts would not be it.
                  AND f.name <> %s
                """,
                [TEAM_USER.format(0), RESULTS_JOBS, TEST_FILE],
            )
            for file_id, name, total, failures, skips, seconds in cursor.fetchall():
                hexid = file_id.hex if isinstance(file_id, uuid.UUID) else uuid.UUID(str(file_id)).hex
                path = files_root / hexid[:2] / hexid
                if path.exists():
                    continue
                data = junit_xml(name, total, failures, skips, seconds)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                cursor.execute(
                    "UPDATE files_file SET md5 = %s, size = %s WHERE id = %s",
                    [hashlib.md5(data).hexdigest(), len(data), str(file_id)],
                )
                written += 1
        conn.commit()
    finally:
        conn.close()
    if written:
        print(f"bench.load: wrote {written} JUnit reports to {files_root}", file=sys.stderr)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=DATABASE, help=f"bench database name (default {DATABASE})")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the default counts (e.g. 0.01)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--files-root", default=None, help="storage root for the bytes (default DCI_FILES_ROOT)")
    for name, value in DEFAULTS.items():
        parser.add_argument(f"--{name}", type=int, default=None, help=f"default {value:,}")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    base = os.environ.get("DATABASE_URL")
    if not base:
        raise SystemExit("DATABASE_URL is not set (run through `python -m dciserver.devdb` or `make bench`)")
    counts = resolve_counts(args.scale, **{name: getattr(args, name) for name in DEFAULTS})
    load(database_url(base, args.database), counts, seed=args.seed, files_root=args.files_root)


if __name__ == "__main__":
    main()
