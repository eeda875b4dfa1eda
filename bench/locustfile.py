"""The bench scenarios, one locust user class each, run headless by ``bench.run``.

    BENCH_PLAN=var/bench/plan.json BENCH_OUT=out.json \
        locust -f bench/locustfile.py --headless -u 16 -r 16 -t 20s --host http://127.0.0.1:PORT ListTeam

``BENCH_PLAN`` (written by ``bench.run``) holds the credentials, ids and upload files;
``BENCH_OUT`` receives this process's exact statistics per request name: every
latency, status codes, the ``X-DCI-Queries`` header (SQL queries per request) and
bytes sent, so percentiles are exact rather than locust's rounded histogram.
"""

import base64
import itertools
import json
import math
import os
import random
import time
from collections import defaultdict

import gevent
from locust import FastHttpUser, constant, events, task

PLAN = json.loads(open(os.environ["BENCH_PLAN"]).read()) if os.environ.get("BENCH_PLAN") else {}
# Upload scenarios stop after this many requests (each one is long); others run for --run-time.
ITERATIONS = int(os.environ.get("BENCH_ITERATIONS", "0"))
LIST_URL = "/api/v1/jobs?limit=50&embed=remoteci,jobdefinition,team"
# The page a modern client reads: every to-one and to-many relation of a job.
LIST_MODERN_URL = "/api/v1/jobs?limit=50&embed=remoteci,team,topic,components,jobstates,files,results"


def basic(name):
    token = base64.b64encode(f"{name}:{PLAN['password']}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Accept": "application/json"}


class Recorder:
    def __init__(self):
        self.by_name = defaultdict(
            lambda: {"latencies": [], "statuses": defaultdict(int), "queries": [], "sent": 0, "errors": 0}
        )
        self.first = None
        self.last = None

    def record(self, name, response_time, response, exception, sent=0):
        now = time.time()
        if self.first is None:
            self.first = now - response_time / 1000
        self.last = now
        entry = self.by_name[name]
        entry["latencies"].append(response_time)
        status = getattr(response, "status_code", 0) or 0
        entry["statuses"][str(status)] += 1
        entry["sent"] += sent
        if exception is not None or not 200 <= status < 300:
            entry["errors"] += 1
        queries = (getattr(response, "headers", None) or {}).get("X-DCI-Queries")
        if queries is not None:
            entry["queries"].append(int(queries))

    def dump(self, path):
        out = {"first": self.first, "last": self.last, "requests": {}}
        if PHASES.controller is not None:
            # An alternating run: each kind's seconds are those of its own phases.
            out["phase_seconds"] = PHASES.seconds_spent(self.last)
        for name, entry in self.by_name.items():
            out["requests"][name] = {**entry, "statuses": dict(entry["statuses"])}
        with open(path, "w") as f:
            json.dump(out, f)


RECORDER = Recorder()


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, response=None, exception=None, **kwargs):
    sent = (kwargs.get("context") or {}).get("sent", 0)
    RECORDER.record(name, response_time, response, exception, sent)


@events.quitting.add_listener
def _on_quitting(environment, **kwargs):
    if os.environ.get("BENCH_OUT"):
        RECORDER.dump(os.environ["BENCH_OUT"])


class BenchUser(FastHttpUser):
    abstract = True
    # As fast as the server answers: a closed loop of ``-u`` users.
    wait_time = constant(0)
    login = "team_user"
    network_timeout = 600.0
    connection_timeout = 10.0

    def on_start(self):
        self.headers = basic(PLAN[self.login])
        self.done = 0

    def count_iteration(self):
        """Upload scenarios end the run after ``BENCH_ITERATIONS`` requests."""
        self.done += 1
        if ITERATIONS and self.done >= ITERATIONS:
            self.environment.runner.quit()


_LOGINS = itertools.count()


class Warmup(BenchUser):
    """Every bench login, on every worker: only the first request of a login pays the password hash."""

    def on_start(self):
        names = PLAN["all_users"]
        # A new connection each time, so that every worker process meets every login.
        self.headers = {**basic(names[next(_LOGINS) % len(names)]), "Connection": "close"}

    @task
    def ceiling(self):
        self.client.get("/api/v1/_bench/ceiling", headers=self.headers, name="warmup")


# Reads ---------------------------------------------------------------------------------------


class Ceiling(BenchUser):
    @task
    def ceiling(self):
        self.client.get("/api/v1/_bench/ceiling", headers=self.headers, name="ceiling")


class CeilingAdmin(Ceiling):
    login = "super_admin"


class ListTeam(BenchUser):
    @task
    def jobs_list(self):
        self.client.get(LIST_URL, headers=self.headers, name="list-team")


class ListModern(BenchUser):
    @task
    def jobs_list(self):
        self.client.get(LIST_MODERN_URL, headers=self.headers, name="list-modern")


class ListAdmin(BenchUser):
    login = "super_admin"

    @task
    def jobs_list(self):
        self.client.get(LIST_URL, headers=self.headers, name="list-admin")


class ListModernWire(BenchUser):
    """The page dciclient 4.x reads with a login: on the modern wire, every relation inline (SPEC §9)."""

    @task
    def jobs_list(self):
        headers = {**self.headers, "Client-Version": "python-dciclient_4.2.0"}
        self.client.get("/api/v1/jobs?limit=50&where=state:active", headers=headers, name="list-modern-wire")


class JobGet(BenchUser):
    @task
    def job_get(self):
        job_id = random.choice(PLAN["job_ids"])
        self.client.get(f"/api/v1/jobs/{job_id}", headers=self.headers, name="job-get")


class JobGetModern(BenchUser):
    """``job-get`` as dciclient 4.x sends it with a login: on the modern wire (SPEC §9), a job with its
    relations inline: what a signed request gets, for ``job-get-signed`` to compare with."""

    @task
    def job_get(self):
        job_id = random.choice(PLAN["job_ids"])
        headers = {**self.headers, "Client-Version": "python-dciclient_4.2.0"}
        self.client.get(f"/api/v1/jobs/{job_id}", headers=headers, name="job-get-modern")


def signed(agent, host, method, path, body=b""):
    """The headers dciclient 4.x sends for a request signed as ``agent`` (dciauth, every request)."""
    from dciauth.v2.headers import generate_headers

    return generate_headers(
        {"method": method, "endpoint": path, "params": {}, "data": body, "host": host},
        {"access_key": agent["name"], "secret_key": agent["secret"]},
    )


class JobGetSigned(BenchUser):
    """``job-get`` as an agent sends it: signed by dciauth for every request, as dciclient 4.x does."""

    def on_start(self):
        super().on_start()
        self.host_header = self.host.split("://", 1)[1]

    @task
    def job_get(self):
        path = f"/api/v1/jobs/{random.choice(PLAN['job_ids'])}"
        headers = {"Accept": "application/json", **signed(PLAN["agent"], self.host_header, "GET", path)}
        self.client.get(path, headers=headers, name="job-get-signed")


class JobResults(BenchUser):
    @task
    def job_results(self):
        job_id = random.choice(PLAN["results_job_ids"])
        self.client.get(f"/api/v1/jobs/{job_id}/results", headers=self.headers, name="job-results")


# Writes --------------------------------------------------------------------------------------


class JobStateCreate(BenchUser):
    statuses = ("pre-run", "running", "post-run")

    @task
    def jobstate_create(self):
        body = {"job_id": random.choice(PLAN["jobstate_job_ids"]), "status": random.choice(self.statuses)}
        self.client.post("/api/v1/jobstates", json=body, headers=self.headers, name="jobstate-create")


class JobStateFinal(BenchUser):
    """A new job's first final status (``failure``), which writes its event and the task that
    dispatches it in the same transaction (SPEC §17), alternately for a job of the team user's team,
    which has one webhook subscribed to finished jobs (``jobstate-final``), and for a job of a team
    with none (``jobstate-final-unsubscribed``), each as its team's user: the cost of the
    subscription is their ratio, measured at the same moments of the machine. The two kinds take
    turns going first.

    Each job is made by its own request (``events-job``, not reported) before its jobstate."""

    def on_start(self):
        super().on_start()
        self.kinds = [(name, {**kind, "headers": basic(kind["user"])}) for name, kind in PLAN["jobstate_final"].items()]
        self.round = 0

    @task
    def finish(self):
        kinds = self.kinds if self.round % 2 == 0 else self.kinds[::-1]
        self.round += 1
        for name, kind in kinds:
            body = {"remoteci_id": kind["remoteci_id"], "topic_id": kind["topic_id"], "name": "events-job"}
            response = self.client.post("/api/v1/jobs", json=body, headers=kind["headers"], name="events-job")
            if response.status_code != 201:
                continue
            body = {"job_id": response.json()["job"]["id"], "status": "failure"}
            self.client.post("/api/v1/jobstates", json=body, headers=kind["headers"], name=name)


_AGENTS = itertools.count()


class Schedule(BenchUser):
    """One remoteci per virtual user, asking for its next job as fast as it is answered."""

    def on_start(self):
        agent = PLAN["schedule"][next(_AGENTS) % len(PLAN["schedule"])]
        self.headers = {**basic(agent["user"]), "User-Agent": "bench-agent", "Client-Version": "bench"}
        self.remoteci_id = agent["remoteci_id"]
        self.topics = itertools.cycle(agent["topic_ids"])

    @task
    def schedule(self):
        body = {"remoteci_id": self.remoteci_id, "topic_id": next(self.topics)}
        with self.client.post(
            "/api/v1/jobs/schedule", json=body, headers=self.headers, name=self.label, catch_response=True
        ) as response:
            if response.status_code == 201:
                response.success()

    label = "schedule"


class SchedulePaced(Schedule):
    """The same agents, each asking once a second (far more often than real DCI agents poll).

    Each agent keeps its own phase, as a fleet of agents started at different times does: its
    first request at a random point of the first period, then one per period on its own clock
    (a late answer makes the next request leave at once, and an agent more than a period behind
    skips to its next slot, as a timer-driven agent does).

    Not locust's ``constant_pacing``: it measures each period from the moment the user was
    created, not from its first request, so the random start is undone at the second request and
    the agents fire together at their creation times, which locust packs into a few milliseconds
    (measured: 60% of each second's requests within one 50 ms window). 100 agents in step send
    100 requests in the same instant every second, and the last answer of such a burst comes
    after 100 schedules' worth of server time: the closed-loop ``schedule`` scenario measures
    that bound.
    """

    label = "schedule-paced"
    period = 1.0

    def on_start(self):
        super().on_start()
        self.next_at = time.monotonic() + random.random() * self.period
        gevent.sleep(self.next_at - time.monotonic())

    def wait_time(self):
        now = time.monotonic()
        self.next_at += self.period
        if self.next_at < now - self.period:
            self.next_at += math.ceil((now - self.next_at) / self.period) * self.period
        return max(0.0, self.next_at - now)


_SIGNED_RUNS = itertools.count()


class ScheduleSigned(BenchUser):
    """The modern schedule as ``dci_job`` sends it: signed by one remoteci, a new job every time."""

    which = "fresh"
    label = "schedule-signed"

    def on_start(self):
        super().on_start()
        self.host_header = self.host.split("://", 1)[1]
        self.agent = self.pick_agent()
        self.topics = itertools.cycle(PLAN["signed_schedule"]["topic_ids"])

    def pick_agent(self):
        return PLAN["signed_schedule"][self.which]

    @task
    def schedule(self):
        # A name of its own: the same signed body twice within a second would be refused as a replay.
        body = json.dumps(
            {"topic_id": next(self.topics), "name": f"bench-{next(_SIGNED_RUNS)}", "tags": ["bench"]}
        ).encode()
        path = "/api/v1/jobs/schedule"
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "bench-agent",
            **signed(self.agent, self.host_header, "POST", path, body),
        }
        self.client.post(path, data=body, headers=headers, name=self.label)


class ScheduleSignedHistory(ScheduleSigned):
    which = "history"
    label = "schedule-signed-history"


class ScheduleSignedPaced(ScheduleSigned):
    """100 remotecis of the fleet, each signing its own schedule once a second on its own phase
    (``SchedulePaced``'s clock)."""

    label = "schedule-signed-paced"
    period = SchedulePaced.period
    wait_time = SchedulePaced.wait_time

    def pick_agent(self):
        fleet = PLAN["signed_schedule"]["fleet"]
        return fleet[next(_AGENTS) % len(fleet)]

    def on_start(self):
        super().on_start()
        self.next_at = time.monotonic() + random.random() * self.period
        gevent.sleep(self.next_at - time.monotonic())


# A scenario alternating with the ceiling ------------------------------------------------------


class Phases:
    """The ceiling and a scenario in alternating phases of ``BENCH_ALTERNATE`` seconds, within
    one locust process: the ratio of their throughputs compares them at the same moments, on a
    shared virtual machine whose speed drifts by tens of percent within a minute.

    A phase ends by letting the requests in flight finish before the next one starts (its time
    runs until the last of them answers), so the two kinds never share the server; each kind's
    throughput is its requests over the time of its own phases."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.current = None
        self.inflight = 0
        self.spent = {"ceiling": 0.0, "scenario": 0.0}
        self.kind, self.began = None, 0.0
        self.controller = None

    def start(self):
        if self.controller is None:
            self.controller = gevent.spawn(self.run)

    def run(self):
        kinds = itertools.cycle(("ceiling", "scenario"))
        while True:
            self.kind, self.began = next(kinds), time.time()
            self.current = self.kind
            gevent.sleep(self.seconds)
            self.current = None
            while self.inflight:
                gevent.sleep(0.001)
            self.spent[self.kind] += time.time() - self.began

    def seconds_spent(self, until):
        """Each kind's seconds, the phase in progress counted up to ``until`` (the last answer)."""
        spent = dict(self.spent)
        if self.kind and until and until > self.began:
            spent[self.kind] += until - self.began
        return spent

    def next_kind(self):
        while self.current is None:
            gevent.sleep(0.001)
        return self.current


PHASES = Phases(float(os.environ.get("BENCH_ALTERNATE") or 2.0))


def _with_ceiling(scenario):
    """``scenario``'s user class, alternating its task with the ceiling (as the same user)."""
    (run_scenario,) = scenario.tasks

    def alternate(self):
        PHASES.start()
        kind = PHASES.next_kind()
        PHASES.inflight += 1
        try:
            if kind == "ceiling":
                self.client.get("/api/v1/_bench/ceiling", headers=self.headers, name="ceiling")
            else:
                run_scenario(self)
        finally:
            PHASES.inflight -= 1

    user_class = type(f"{scenario.__name__}WithCeiling", (scenario,), {"__doc__": _with_ceiling.__doc__})
    user_class.tasks = [alternate]  # set after the class is made: locust's metaclass would add the base's task
    return user_class


ListTeamWithCeiling = _with_ceiling(ListTeam)
ListAdminWithCeiling = _with_ceiling(ListAdmin)
ListModernWithCeiling = _with_ceiling(ListModern)
ListModernWireWithCeiling = _with_ceiling(ListModernWire)
ScheduleSignedWithCeiling = _with_ceiling(ScheduleSigned)
ScheduleSignedHistoryWithCeiling = _with_ceiling(ScheduleSignedHistory)
JobGetWithCeiling = _with_ceiling(JobGet)
JobGetModernWithCeiling = _with_ceiling(JobGetModern)
JobGetSignedWithCeiling = _with_ceiling(JobGetSigned)
JobResultsWithCeiling = _with_ceiling(JobResults)
JobStateCreateWithCeiling = _with_ceiling(JobStateCreate)
JobStateFinalWithCeiling = _with_ceiling(JobStateFinal)
ScheduleWithCeiling = _with_ceiling(Schedule)


# Uploads -------------------------------------------------------------------------------------


def _payload(key):
    with open(PLAN["upload_files"][key], "rb") as f:
        return f.read()


class _Upload(BenchUser):
    key = None
    mime = "text/plain"

    def on_start(self):
        super().on_start()
        self.body = _payload(self.key)

    @task
    def upload(self):
        job_id = random.choice(PLAN["upload_job_ids"])
        headers = {
            **self.headers,
            "Content-Type": "text/plain",
            "DCI-NAME": os.path.basename(PLAN["upload_files"][self.key]),
            "DCI-MIME": self.mime,
            "DCI-JOB-ID": job_id,
        }
        self.client.post(
            "/api/v1/files", data=self.body, headers=headers, name=self.key, context={"sent": len(self.body)}
        )
        self.count_iteration()


class UploadLog1M(_Upload):
    key = "upload-1m"


class UploadLog200M(_Upload):
    key = "upload-200m"


class UploadJUnit50k(_Upload):
    key = "upload-junit-50k"
    mime = "application/junit"


class UploadJUnitCompare(BenchUser):
    """One 50,000-case report, uploaded as a new job of one line, whose previous upload is its
    baseline (``upload-junit-baseline``), alternately with the same report as a job of a line of its
    own, which has none (``upload-junit-fresh``): the cost of the comparison is their ratio, measured
    at the same moments of the machine. The two kinds take turns going first.

    Each job is made by its own request (``junit-job``, not reported) before its upload; a first
    upload of each kind, not reported either, gives the line its first baseline."""

    mime = "application/junit"

    def on_start(self):
        super().on_start()
        # Not an ``_Upload``: locust would run its task (to a random job) as well as this class's.
        self.body = _payload("upload-junit-compare")
        self.line = PLAN["tests"]["upload_line"]
        self.stamp = time.strftime("%Y%m%d%H%M%S")
        self.jobs = itertools.count()
        self.round = 0
        self.upload_to(self.new_job(self.baseline_name()), "upload-junit-warmup")
        self.upload_to(self.new_job(self.fresh_name()), "upload-junit-warmup")

    def baseline_name(self):
        return f"bench-junit-{self.stamp}"

    def fresh_name(self):
        return f"bench-junit-{self.stamp}-{next(self.jobs)}"

    def new_job(self, name):
        body = {"remoteci_id": self.line["remoteci_id"], "topic_id": self.line["topic_id"], "name": name}
        response = self.client.post("/api/v1/jobs", json=body, headers=self.headers, name="junit-job")
        return response.json()["job"]["id"]

    def upload_to(self, job_id, name):
        headers = {**self.headers, "Content-Type": "text/plain", "DCI-NAME": "tests.xml", "DCI-MIME": self.mime,
                   "DCI-JOB-ID": job_id}  # fmt: skip
        self.client.post("/api/v1/files", data=self.body, headers=headers, name=name, context={"sent": len(self.body)})

    @task
    def upload(self):
        kinds = [("upload-junit-baseline", self.baseline_name), ("upload-junit-fresh", self.fresh_name)]
        if self.round % 2:
            kinds.reverse()
        self.round += 1
        for name, job_name in kinds:
            self.upload_to(self.new_job(job_name()), name)
        self.count_iteration()


# Test results (SPEC §15): reads of the loaded lines -----------------------------------------------


class TestHistory(BenchUser):
    @task
    def history(self):
        test_id = random.choice(PLAN["tests"]["history_ids"])
        self.client.get(f"/api/v1/tests/{test_id}/history?limit=20", headers=self.headers, name="test-history")


class FlakyTopic(BenchUser):
    @task
    def flaky(self):
        path = f"/api/v1/topics/{PLAN['tests']['flaky_topic_id']}/flaky_tests?limit=50"
        self.client.get(path, headers=self.headers, name="flaky-topic")


class JobTests(BenchUser):
    @task
    def job_tests(self):
        job_id = random.choice(PLAN["tests"]["job_ids"])
        self.client.get(f"/api/v1/jobs/{job_id}/tests?limit=50", headers=self.headers, name="job-tests")


class Diff50k(BenchUser):
    @task
    def diff(self):
        newer, older = PLAN["tests"]["diff"]
        path = f"/api/v1/jobs/{newer}/tests?baseline={older}&limit=50"
        self.client.get(path, headers=self.headers, name="diff-50k")


class DashboardPerson(BenchUser):
    """A person signed in to the dashboard (a session, as a browser has), reading one page."""

    abstract = True
    name = ""

    def on_start(self):
        super().on_start()
        self.client.get("/login", name="dashboard-login")
        token = next(cookie.value for cookie in self.client.cookiejar if cookie.name == "csrftoken")
        form = {"username": PLAN[self.login], "password": PLAN["password"], "csrfmiddlewaretoken": token}
        signed = self.client.post("/login", data=form, name="dashboard-login", allow_redirects=False)
        if signed.status_code != 302 or signed.headers.get("Location") != "/":
            raise RuntimeError(f"the dashboard's sign-in answered {signed.status_code}")

    def path(self):
        raise NotImplementedError

    @task
    def read(self):
        # Not followed: a page that sends its reader to sign in again shows as a 302, not as the sign-in page.
        self.client.get(self.path(), name=self.name, allow_redirects=False)


class DashboardJobs(DashboardPerson):
    name = "dashboard-jobs"

    def path(self):
        return "/"


class DashboardJob(DashboardPerson):
    name = "dashboard-job"

    def path(self):
        return f"/jobs/{random.choice(PLAN['tests']['job_ids'])}"


class DashboardTest(DashboardPerson):
    name = "dashboard-test"

    def path(self):
        return f"/tests/{random.choice(PLAN['tests']['history_ids'])}"


class DashboardFlaky(DashboardPerson):
    name = "dashboard-flaky"

    def path(self):
        return f"/topics/{PLAN['tests']['flaky_topic_id']}/flaky"


class DashboardFleet(DashboardPerson):
    name = "dashboard-fleet"

    def path(self):
        return "/fleet"


class DashboardMatrix(DashboardPerson):
    name = "dashboard-matrix"

    def path(self):
        return "/matrix"
