"""Load a realistic demo data set. Idempotent: a second run adds nothing it already has."""

import io
import random
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from tqdm import tqdm

from events.models import RemoteciFollower
from files.models import File
from files.services import file_create
from jobs import services
from jobs.models import (
    Component,
    Job,
    JobDefinition,
    JobKeyValue,
    JobState,
    Pipeline,
    Product,
    ProductTeam,
    Status,
    Topic,
    TopicSubscription,
)
from teams.models import ADMIN_TEAM_NAME, RemoteCI, Team, User

TEAMS = {
    "demo": ["demo-remoteci", "demo-lab-2"],
    "telco-partner": ["openstack-lab", "edge-lab"],
    "storage-partner": ["ceph-rack"],
}
TOPICS = {
    "RHEL-9": ["compose", "ansible-playbooks"],
    "OCP-4.16": ["ocp", "operators"],
}
# Each topic's product (SPEC §11): the demo topics are exported, so every team linked reaches them.
PRODUCTS = {"RHEL-9": "RHEL", "OCP-4.16": "OpenShift"}
VERSIONS = 4
JOB_FLOWS = [
    ["pre-run", "running", "post-run", "success"],
    ["pre-run", "running", "failure"],
    ["pre-run", "deployment-failure"],
    ["pre-run", "running", "post-run", "success"],
    ["pre-run", "running"],
]
# The demo's jobs are spread over this much history, within the dashboard's 30 days of pass rate.
HISTORY = timedelta(days=29)
PHASE = timedelta(minutes=20)


def ensure_user(name, password, team, role):
    user = User.objects.live().filter(name=name).first()
    if user is None:
        user = User.objects.create_user(name, password, team=team, role=role)
    return user


def junit_report(seed, version, cases=12):
    """A pytest-style JUnit report as a lab's would read over time (SPEC §15): most tests pass,
    ``test_3`` broke with version 3 of the components, ``test_7`` is flaky, ``test_11`` is skipped."""
    rnd = random.Random(seed)
    rows, failures, skips = [], 0, 0
    for i in range(cases):
        body = ""
        if i == cases - 1:
            skips += 1
            body = '<skipped message="not on this hardware"/>'
        elif (i == 3 and version >= 3) or (i == 7 and rnd.random() < 0.4):
            failures += 1
            body = '<failure message="assert 1 == 2">AssertionError</failure>'
        rows.append(
            f'<testcase classname="tests.test_install" name="test_{i}" time="{rnd.random():.3f}">{body}</testcase>'
        )
    return (
        f'<?xml version="1.0"?><testsuite name="pytest" tests="{cases}" failures="{failures}" errors="0" '
        f'skipped="{skips}" time="{cases * 0.5:.3f}">{"".join(rows)}</testsuite>'
    ).encode()


def backdate(job, *, end, step):
    """Move ``job``, its jobstates, files and key/values back in time, its last jobstate at ``end``
    and the job made within ``step`` before: the services date every row now."""
    states = list(job.jobstates.order_by("created_at"))
    phase = min(PHASE, step / (len(states) + 1))
    for position, state in enumerate(states):
        state.created_at = end - (len(states) - 1 - position) * phase
    JobState.objects.bulk_update(states, ["created_at"])
    created = end - len(states) * phase
    Job.objects.filter(pk=job.pk).update(
        created_at=created, updated_at=end, duration=int((end - created).total_seconds())
    )
    File.objects.filter(job=job).update(created_at=end)
    JobKeyValue.objects.filter(job=job).update(created_at=created)


class Command(BaseCommand):
    help = (
        "Load demo data: a super admin 'admin', teams with admins, users and remotecis, topics, components, jobs "
        "with results. Each user's password is its name on a developer's machine (DCI_DEV=1); elsewhere --password "
        "is required."
    )

    def add_arguments(self, parser):
        parser.add_argument("--jobs", type=int, default=30, help="how many demo jobs to have (default 30)")
        parser.add_argument(
            "--password", help="the demo users' password (default, with DCI_DEV=1 only: each user's own name)"
        )

    def handle(self, *args, jobs, password, **options):
        if password is None and not settings.DCI_DEV:
            # A known super admin password on a reachable server is an open door.
            raise CommandError(
                "demo would create admin/admin: pass --password, or set DCI_DEV=1 on a developer's machine."
            )
        if password == "":
            raise CommandError("--password must not be empty.")
        self.password = password
        with transaction.atomic():
            remotecis, topics = self.catalogue()
        self.jobs(jobs, remotecis, topics, show_progress=options["verbosity"] >= 1)
        logins = "admin/admin (super admin), demo-admin/demo-admin, demo-user/demo-user"
        if password is not None:
            logins = "admin (super admin), demo-admin, demo-user with the given password"
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {logins} ({Job.objects.live().count()} jobs)."))

    def catalogue(self):
        admin_team, _ = Team.objects.live().get_or_create(name=ADMIN_TEAM_NAME)
        ensure_user("admin", self.password or "admin", admin_team, User.Role.ADMIN)
        topics = []
        for name, types in TOPICS.items():
            product, _ = Product.objects.live().get_or_create(
                name=PRODUCTS[name], defaults={"label": PRODUCTS[name].upper()}
            )
            topic, _ = Topic.objects.live().get_or_create(
                name=name, defaults={"component_types": types, "product": product, "export_control": True}
            )
            if topic.product_id is None:  # a demo loaded before products existed
                topic.product, topic.export_control = product, True
                topic.save(update_fields=["product", "export_control"])
            topics.append(topic)
            for version in range(1, VERSIONS + 1):
                for ctype in types:
                    Component.objects.live().get_or_create(
                        name=f"{ctype}-{name.lower()}-1.{version}",
                        topic=topic,
                        defaults={"type": ctype, "url": f"https://example.com/{ctype}/1.{version}"},
                    )
            for priority, suffix in enumerate(("install", "upgrade")):
                JobDefinition.objects.live().get_or_create(
                    name=f"{name.lower()}-{suffix}",
                    topic=topic,
                    defaults={"component_types": types, "priority": priority * 10},
                )
        remotecis = []
        for team_name, remoteci_names in TEAMS.items():
            team, _ = Team.objects.live().get_or_create(name=team_name)
            prefix = "demo" if team_name == "demo" else team_name
            for name, role in ((f"{prefix}-admin", User.Role.ADMIN), (f"{prefix}-user", User.Role.USER)):
                ensure_user(name, self.password or name, team, role)
            for topic in topics:
                TopicSubscription.objects.get_or_create(topic=topic, team=team)
                ProductTeam.objects.get_or_create(product=topic.product, team=team)
            for name in remoteci_names:
                remoteci, _ = RemoteCI.objects.live().get_or_create(
                    name=name, team=team, defaults={"data": {"site": team_name, "arch": "x86_64"}}
                )
                remotecis.append(remoteci)
        # A person following a remoteci: mailed when one of its jobs fails (on the console under
        # `make run`, whose worker delivers the demo's events as it starts; docs/events.md).
        follower = User.objects.live().get(name="demo-admin")
        if not follower.email:
            follower.email = "demo-admin@example.com"
            follower.save(update_fields=["email"])
        RemoteciFollower.objects.get_or_create(remoteci=RemoteCI.objects.live().get(name="demo-lab-2"), user=follower)
        return remotecis, topics

    def jobs(self, wanted, remotecis, topics, show_progress):
        demo = Job.objects.live().filter(comment__startswith="demo job #")
        have = demo.count()
        missing = max(wanted - have, 0)
        rnd = random.Random(have)
        # The jobs added come after those already there, one every ``step`` up to now: each job's
        # baseline is the job of its line made before it, here as in the line's history.
        now = timezone.now()
        start = max(demo.aggregate(newest=Max("updated_at"))["newest"] or now - HISTORY, now - HISTORY)
        step = (now - start) / max(missing, 1)
        for index in tqdm(range(have, have + missing), desc="demo jobs", unit="job", disable=not show_progress):
            remoteci = remotecis[index % len(remotecis)]
            topic = topics[index % len(topics)]
            with transaction.atomic():
                version = 1 + rnd.randrange(VERSIONS)
                job = self.job(index, remoteci, topic, version, rnd)
                self.attach_results(index, job, version)
                backdate(job, end=start + (index - have + 1) * step, step=step)

    def job(self, index, remoteci, topic, version, rnd):
        jobdefinition = JobDefinition.objects.live().filter(topic=topic).order_by("priority")[index % 2]
        components = [
            Component.objects.live().get(topic=topic, name=f"{ctype}-{topic.name.lower()}-1.{version}")
            for ctype in jobdefinition.component_types
        ]
        # The modern model's fields (SPEC §12): a name, tags, a nightly pipeline of its team, a
        # key/value; its final jobstate writes its job event.
        pipeline, _ = Pipeline.objects.live().get_or_create(name=f"nightly-{remoteci.team.name}", team=remoteci.team)
        job = services.job_create(
            remoteci=remoteci,
            jobdefinition=jobdefinition,
            components=components,
            comment=f"demo job #{index}",
            name=jobdefinition.name,
            tags=["demo", f"site:{remoteci.team.name}"],
            pipeline=pipeline,
            user_agent="dciserver-demo",
        )
        services.job_kv_create(job=job, key="install_seconds", value=float(600 + rnd.randrange(1200)))
        for status in JOB_FLOWS[index % len(JOB_FLOWS)]:
            services.jobstate_create(job=job, status=status, comment=f"{status} on {remoteci.name}")
        job.refresh_from_db()
        return job

    def attach_results(self, index, job, version):
        """Logs and a JUnit report, through the same upload service as the API."""
        jobstate = job.jobstates.order_by("-created_at").first()
        log = f"demo job #{index}\n" + "".join(f"step {i}: ok\n" for i in range(50))
        file_create(job=job, jobstate=jobstate, name="install.log", mime="text/plain", stream=io.BytesIO(log.encode()))
        if job.status in (Status.SUCCESS, Status.FAILURE):
            report = junit_report(index, version)
            file_create(
                job=job, jobstate=jobstate, name="tests.xml", mime="application/junit", stream=io.BytesIO(report)
            )
