"""Deliveries worked by real worker processes (``manage.py events_worker``) against a receiver on
loopback: a receiver down for a minute, a worker killed mid-delivery, two workers sharing 1,000
events. The tests commit (the workers read what is committed) and stop their workers."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from events import channels
from events.models import Delivery, DeliveryAttempt, Webhook
from events.tests.receiver import Receiver
from jobs import services
from jobs.models import Job

ROOT = Path(__file__).resolve().parents[2]


def database_url():
    """The URL of the test database (the one this test writes to)."""
    db = connection.settings_dict
    user = urllib.parse.quote(db["USER"] or "")
    password = f":{urllib.parse.quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    host = urllib.parse.quote(db["HOST"] or "127.0.0.1", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{host}{port}/{db['NAME']}"


@pytest.fixture
def workers():
    """Start ``events_worker`` processes: ``workers(name, **settings)``; all killed at the end."""
    started = []

    def start(name, **settings):
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DCI_DEV": "1",
            "LOG_LEVEL": "ERROR",
            "DCI_EVENTS_RECOVER_EVERY": "0.5",
            **{f"DCI_EVENTS_{key.upper()}": str(value) for key, value in settings.items()},
        }
        command = [sys.executable, "manage.py", "events_worker", "--no-reload", "--no-startup-delay"]
        command += ["--interval", "0.05", "--worker-id", name, "--verbosity", "0"]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not in {timeout} s"
        time.sleep(0.1)


def finished_jobs(job, count):
    """``count`` jobs of ``job``'s remoteci reaching success at once (one statement: each its event)."""
    jobs = Job.objects.bulk_create(
        Job(remoteci=job.remoteci, topic=job.topic, team=job.team, name=f"job-{i}") for i in range(count)
    )
    Job.objects.filter(pk__in=[j.pk for j in jobs]).update(status="success")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_a_receiver_down_for_a_minute_then_back_gets_the_delivery(job, team, workers):
    port = free_port()
    hook = Webhook.objects.create(team=team, name="hook", url=f"http://127.0.0.1:{port}/hook", kinds=["job_finished"])
    workers("w1", retry_base=1, retry_cap=8, max_attempts=50)
    services.jobstate_create(job=job, status="success")

    time.sleep(60)  # the receiver is down: every attempt is refused
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts >= 4
    assert "Connection refused" in delivery.last_error or "NewConnectionError" in delivery.last_error
    receiver = Receiver().start(port)
    try:
        wait(lambda: Delivery.objects.filter(status="delivered").exists(), 20, "delivered once back")
    finally:
        receiver.stop()

    delivery.refresh_from_db()
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [a.number for a in attempts] == list(range(1, delivery.attempts + 1))
    assert all(a.error for a in attempts[:-1]) and attempts[-1].status_code == 200
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert channels.verify(hook.secret, headers["X-DCI-Signature"], body)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_delivers_after_a_restart_with_one_key(job, webhook, receiver, workers):
    receiver.delays = [5]  # the first POST is still being answered when its worker dies
    first = workers("w1")
    services.jobstate_create(job=job, status="failure")
    wait(lambda: len(receiver.requests) == 1, 20, "the first POST")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert Delivery.objects.get().status == "pending"  # what it was sending was not recorded

    workers("w2", claim_grace=0.5)
    wait(lambda: Delivery.objects.filter(status="delivered").exists(), 30, "delivered after the restart")

    delivery = Delivery.objects.get()
    keys = receiver.keys()
    assert set(keys) == {str(delivery.idempotency_key)} and len(keys) <= 2
    assert delivery.attempts == 1 and DeliveryAttempt.objects.get().worker == "w2"
    # The dead worker's task says what became of it.
    assert DBTaskResult.objects.filter(worker_ids=["w1"], status="FAILED").exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_deliver_a_thousand_events_each_once(job, webhook, receiver, workers):
    finished_jobs(job, 1000)
    workers("w1")
    workers("w2")
    wait(lambda: Delivery.objects.filter(status="delivered").count() == 1000, 120, "1,000 deliveries")
    time.sleep(1)  # anything sent twice would arrive now

    keys = receiver.keys()
    assert len(keys) == 1000 and len(set(keys)) == 1000
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}
    # Both shared the work.
    assert set(DeliveryAttempt.objects.values_list("worker", flat=True)) == {"w1", "w2"}
