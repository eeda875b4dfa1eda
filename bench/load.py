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
}
COMPONENT_TYPES = ("kernel", "rpm", "image")
DATABASE = "dciserver_bench"
PASSWORD = "bench-password"
SUPER_ADMIN = "bench-admin"
TEAM_USER = "bench-user-{:02d}"
MARKER_VERSION = 4
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
    counts = {name: max(1, round(value * scale)) for name, value in DEFAULTS.items()}
    counts.update({name: int(value) for name, value in overrides.items() if value is not None})
    counts["teams"] = max(counts["teams"], 1)
    counts["topics"] = max(counts["topics"], 1)
    counts["remotecis"] = max(counts["remotecis"], counts["teams"])
    counts["jobdefinitions"] = max(counts["jobdefinitions"], counts["topics"])
    # Every (topic, type) needs an older component for history and a newest one for scheduling.
    counts["components"] = max(counts["components"], counts["topics"] * len(COMPONENT_TYPES) * 2)
    counts["files"] = min(counts["files"], counts["jobs"] * 4)
    counts["junit"] = min(counts["junit"], counts["files"])
    return counts


# Connections -------------------------------------------------------------------------


def connect(url, **kwargs):
    import psycopg2

    return psycopg2.connect(url, **kwargs)


def ensure_database(url, *, recreate=False):
    """Create the bench database if it is missing (or drop and create it with ``recreate``)."""
    name = urlsplit(url).path.lstrip("/")
    if not name.startswith(DATABASE):
        raise SystemExit(f"refusing to manage database {name!r}: bench databases are named {DATABASE}*")
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
            "time",
            "error",
        ],
    )
    catalogue = [teams, users, remotecis, topics, subscriptions, components, jobdefinitions]
    history = [jobs, jobcomponents, jobstates, files, junit, keys_values]
    check_columns(catalogue + history)

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

    # History ------------------------------------------------------------------------------
    n_jobs, n_states, n_files, n_junit = counts["jobs"], counts["jobstates"], counts["files"], counts["junit"]
    file_counter = 0
    step = (gen.now - gen.start) / max(n_jobs, 1)
    minute = timedelta(minutes=1)
    pbar = tqdm(total=n_jobs, unit="job", desc="bench.load", unit_scale=True, file=sys.stderr)
    for j in range(n_jobs):
        team_id = team_ids[rng.randrange(len(team_ids))]
        remoteci_id = rng.choice(team_remotecis[team_id])
        if j % HISTORY_EVERY == 0:
            team_id, remoteci_id = team_ids[0], team_remotecis[team_ids[0]][0]  # HISTORY_REMOTECI
        topic_id = topic_ids[rng.randrange(len(topic_ids))]
        jd_id, types = rng.choice(topic_jobdefinitions[topic_id])
        # History ran on older components: the newest set stays free for the schedule scenario.
        chosen = [rng.choice(by_topic_type[topic_id, kind][:-1]) for kind in types]
        created = gen.start + step * j + timedelta(seconds=rng.random() * 30)
        archived = ts(gen.now) if rng.random() < 0.01 else NULL
        status = FINAL[rng.randrange(len(FINAL))]
        job_id = gen.uuid()
        states = n_states // n_jobs + (1 if j < n_states % n_jobs else 0)
        jobs.add((job_id, ts(created), "active", archived, ts(created + minute * (states + 1)), gen.etag(), status,
                  "", "f", remoteci_id, jd_id, topic_id, team_id, components_key(chosen), "f",
                  JOB_USER_AGENTS[j % 3], "0.1", JOB_NAMES[j % len(JOB_NAMES)], "", "sno" if j % 2 else "", "",
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
                junit.add((file_id, job_id, "pytest", total, failures, 0, min(skips, total - failures), 0, 0,
                           f"{rng.random() * 600:.3f}", ""))  # fmt: skip
            else:
                files.add((file_id, file_at, "active", archived, "console.log", "text/plain",
                           f"{rng.getrandbits(128):032x}", rng.randrange(1_000, 5_000_000), job_id, running_state,
                           team_id))  # fmt: skip
        if (j + 1) % BATCH_JOBS == 0 or j == n_jobs - 1:
            for table in history:
                table.flush(cursor)
            conn.commit()
            pbar.update((j % BATCH_JOBS) + 1)
            pbar.set_postfix(rows=f"{sum(t.total for t in history):,}")
    pbar.close()
    cursor.close()


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
                """,
                [TEAM_USER.format(0), RESULTS_JOBS],
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
