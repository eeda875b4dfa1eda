"""Faults: the database going away, storage failing mid-write, clients vanishing, workers killed.

The live tests run gunicorn (the project's configuration: 2 workers × 4 threads) against an
embedded PostgreSQL of their own (dciserver/tests/live.py) that they stop and start for real.
Every loop and every wait is bounded; the only network peer is 127.0.0.1.
"""

import collections
import errno
import hashlib
import http.client
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage

from conftest import PASSWORD, basic
from dciserver.tests.live import api, request, wait_for
from files.models import File
from files.tests.helpers import raw_upload

MiB = 1024 * 1024


def count(pg, table):
    return int(pg.query(f"SELECT count(*) FROM {table}")[0][0])


# The database goes away ---------------------------------------------------------------------


def test_with_the_database_down_every_answer_is_a_503_in_json_and_it_recovers_without_a_restart(web, pg):
    job = web.world["jobs"][0]
    assert request(f"{web.url}/healthz", user=None)[0] == 200
    assert request(api(web, "/jobs"))[0] == 200
    master, workers = web.process.pid, web.workers()

    pg.stop("fast")
    try:
        # Several rounds: both workers, their threads, with remembered credentials and without.
        for _ in range(6):
            status, headers, body = request(f"{web.url}/healthz", user=None)
            assert (status, body) == (503, {"status": "unavailable", "database": "down"})
            for user in ("root", "lab-user"):
                for method, path, payload in (
                    ("GET", "/jobs", None),
                    ("POST", "/jobstates", {"job_id": job, "status": "running"}),
                ):
                    status, headers, body = request(api(web, path), method, payload, user=user)
                    assert status == 503, (method, path, user, body)
                    assert headers["Content-Type"].startswith("application/json")
                    assert body["status_code"] == 503 and "database" in body["message"]
    finally:
        pg.start()

    def answering():
        return request(f"{web.url}/healthz", user=None)[0] == 200 and request(api(web, "/jobs"))[0] == 200

    restarted = time.monotonic()
    assert wait_for(answering, timeout=15)
    print(f"database back: answering again {time.monotonic() - restarted:.2f}s after PostgreSQL started")
    for _ in range(6):  # every worker and thread reconnected
        assert request(api(web, "/jobs"), user="lab-user")[0] == 200
    status, _, body = request(api(web, "/jobstates"), "POST", {"job_id": job, "status": "running"}, user="lab-user")
    assert status == 201, body
    assert web.process.poll() is None and web.process.pid == master
    assert web.workers() == workers, "no worker had to be restarted"


# A client that goes away mid-upload --------------------------------------------------------------


def upload_head(web, extra):
    job = web.world["jobs"][1]
    return (
        "POST /api/v1/files HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{web.port}\r\n"
        f"Authorization: {basic('lab-user', PASSWORD)}\r\n"
        "DCI-NAME: console.log\r\n"
        f"DCI-JOB-ID: {job}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"{extra}\r\n"
    ).encode()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_client_that_goes_away_mid_upload_leaves_no_row_and_no_bytes(web, pg, framing):
    files_before = count(pg, "files_file")
    sock = socket.create_connection(("127.0.0.1", web.port), timeout=10)
    try:
        if framing == "content-length":
            sock.sendall(upload_head(web, f"Content-Length: {64 * MiB}\r\n"))
            for _ in range(4):
                sock.sendall(b"x" * MiB)
        else:
            sock.sendall(upload_head(web, "Transfer-Encoding: chunked\r\n"))
            for _ in range(4):
                sock.sendall(b"%x\r\n" % MiB + b"x" * MiB + b"\r\n")
        # The upload is under way: its bytes are being spooled.
        assert wait_for(lambda: web.leftovers() != [], timeout=10), "the server never started reading"
    finally:
        sock.close()

    assert wait_for(lambda: web.leftovers() == [], timeout=15), web.leftovers()
    assert count(pg, "files_file") == files_before
    assert request(api(web, "/identity"), user="lab-user")[0] == 200


def upload_blocks(size):
    """A body of ``size`` bytes made on the fly, one MiB at a time, every MiB different."""
    base = bytes(range(256)) * (MiB // 256)
    for start in range(0, size, MiB):
        yield (start.to_bytes(8, "big") + base[8:])[: min(MiB, size - start)]


def peak_rss_kib(pid, reset=False):
    """A worker's peak RSS (VmHWM); ``reset`` first brings the peak down to the current RSS."""
    status = Path(f"/proc/{pid}/status")
    if reset:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
    return int(fields["VmHWM"].split()[0])


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_large_upload_is_kept_whole_with_flat_memory_and_the_connection_serves_on(web, framing):
    size = 64 * MiB + 12345
    md5 = hashlib.md5(usedforsecurity=False)
    for block in upload_blocks(size):
        md5.update(block)
    headers = {
        "Authorization": basic("lab-user", PASSWORD),
        "DCI-NAME": "disk.img",
        "DCI-JOB-ID": web.world["jobs"][2],
        "DCI-MD5": md5.hexdigest(),
        "Content-Type": "application/octet-stream",
    }
    if framing == "content-length":
        headers["Content-Length"] = str(size)
    workers = web.workers()
    before = {pid: peak_rss_kib(pid, reset=True) for pid in workers}
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=60)
    try:
        # Without a Content-Length, http.client sends the blocks chunked.
        connection.request("POST", "/api/v1/files", body=upload_blocks(size), headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 201, answer
        assert (answer["file"]["size"], answer["file"]["md5"]) == (size, md5.hexdigest())
        # The body was read to its end and no further: the same connection serves the next request.
        connection.request("GET", "/api/v1/identity", headers={"Authorization": headers["Authorization"]})
        next_response = connection.getresponse()
        assert next_response.status == 200, next_response.read()
        next_response.read()
    finally:
        connection.close()

    # Memory stays flat: the worker that spooled 64 MiB grew by a few blocks, not by the body.
    rise_mib = max(peak_rss_kib(pid) - before[pid] for pid in workers) / 1024
    assert rise_mib < 32, rise_mib


@pytest.mark.parametrize("signature", ["valid", "wrong"])
def test_a_signed_100_mib_upload_streams_and_a_wrong_signature_keeps_nothing(web, pg, signature):
    """A remoteci's raw upload, signed over its 100 MiB body as dciclient 4.x signs it: the body
    streams to the spool file, the signature is checked there, and only a valid one is kept."""
    from conftest import signature_headers

    size = 100 * MiB
    job = web.world["jobs"][3]
    remoteci_id, secret = pg.query(f"SELECT remoteci_id, api_secret FROM jobs_job j JOIN teams_remoteci r "
                                   f"ON r.id = j.remoteci_id WHERE j.id = '{job}'")[0]  # fmt: skip
    body = b"".join(upload_blocks(size))
    signed = signature_headers(
        f"remoteci/{remoteci_id}", secret if signature == "valid" else "x" * 64, "POST", "/api/v1/files",
        body=body, host=f"127.0.0.1:{web.port}",
    )  # fmt: skip
    headers = {
        "Authorization": signed["HTTP_AUTHORIZATION"],
        "X-DCI-Date": signed["HTTP_X_DCI_DATE"],
        "DCI-NAME": "signed.img",
        "DCI-JOB-ID": job,
        "Content-Type": "application/octet-stream",
        "Content-Length": str(size),
    }
    files_before, bytes_before = count(pg, "files_file"), set(web.leftovers())
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=120)
    try:
        connection.request("POST", "/api/v1/files", body=upload_blocks(size), headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()

    if signature == "valid":
        assert response.status == 201, answer
        assert (answer["file"]["size"], answer["file"]["md5"]) == (size, hashlib.md5(body).hexdigest())
        assert count(pg, "files_file") == files_before + 1
    else:
        assert (response.status, answer["status_code"]) == (401, 401), answer
        assert "signature is invalid" in answer["message"]
        assert count(pg, "files_file") == files_before
        # Neither stored bytes nor a spool file stay behind.
        assert wait_for(lambda: set(web.leftovers()) == bytes_before, timeout=15), web.leftovers()


# A worker killed mid-request ----------------------------------------------------------------------

CLIENTS = 8
REQUESTS_PER_CLIENT = 120
STATUSES = ("pre-run", "running", "post-run")


def test_a_worker_killed_mid_request_loses_no_committed_write(web, pg):
    jobs = web.world["jobs"]
    answered, failures = [], collections.Counter()
    lock = threading.Lock()
    # The server is shared by the module's tests: jobstates written before this one are not its own.
    before = {row[0] for row in pg.query("SELECT id FROM jobs_jobstate")}

    def agent(number):
        # One job per agent: its jobstates are written one after the other, so the job's status
        # must be its newest jobstate's, whatever happened to the worker serving it.
        job = jobs[number]
        for n in range(REQUESTS_PER_CLIENT):
            body = {"job_id": job, "status": STATUSES[n % 3], "comment": f"agent {number} report {n}"}
            try:
                status, _, answer = request(api(web, "/jobstates"), "POST", body, user="lab-user", timeout=15)
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    failures[type(exc).__name__] += 1
                continue
            with lock:
                if status == 201 and isinstance(answer, dict) and "jobstate" in answer:
                    answered.append(answer["jobstate"])
                else:
                    # Another status, or a 201 whose body the kill cut short: not an answer.
                    failures[status if status != 201 else "201 cut short"] += 1

    agents = [threading.Thread(target=agent, args=(n,)) for n in range(CLIENTS)]
    for thread in agents:
        thread.start()
    assert wait_for(lambda: len(answered) >= 150, timeout=60), "the agents did not get going"
    victim = web.workers()[0]
    os.kill(victim, signal.SIGKILL)
    for thread in agents:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in agents)
    # Every request was either answered or failed: no agent stopped early.
    assert len(answered) + sum(failures.values()) == CLIENTS * REQUESTS_PER_CLIENT, failures

    # The master replaced the worker.
    assert wait_for(lambda: len(web.workers()) == 2 and victim not in web.workers(), timeout=15)
    stored = {
        row[0]: row for row in pg.query("SELECT id, job_id, status, comment FROM jobs_jobstate") if row[0] not in before
    }
    # Every write a client was told about is there, exactly as answered.
    for jobstate in answered:
        assert jobstate["id"] in stored, jobstate
        assert stored[jobstate["id"]][1:] == [jobstate["job_id"], jobstate["status"], jobstate["comment"]]
    # Nothing half-written: each job has the status of its newest jobstate, its etag changed with it.
    listed = ",".join(f"'{job}'" for job in jobs)
    rows = pg.query(
        "SELECT j.id, j.status, (SELECT s.status FROM jobs_jobstate s WHERE s.job_id = j.id"
        f" ORDER BY s.created_at DESC LIMIT 1) FROM jobs_job j WHERE j.id IN ({listed})"
    )
    assert all(job_status == newest for _, job_status, newest in rows), rows
    # At most the requests cut off by the kill were written unanswered.
    unanswered = len(stored) - len(answered)
    assert 0 <= unanswered <= sum(failures.values()), (unanswered, failures)
    unaudited = pg.query(
        "SELECT count(*) FROM jobs_jobstate s WHERE NOT EXISTS"
        " (SELECT 1 FROM dciserver_auditlog a WHERE a.object_id = s.id::text)"
    )[0][0]
    assert unaudited == "0", "a committed write without its audit entry"
    print(
        f"killed worker {victim}: {len(answered)} answered 201, {unanswered} written unanswered,"
        f" {unaudited} without an audit entry, client errors {dict(failures)}"
    )


# Storage failing mid-write -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("route", ["/api/v1/files", "/api/v1/jobs/{job}/files"])
def test_a_storage_failing_mid_write_answers_a_json_503_and_keeps_nothing(user_client, job, monkeypatch, route):
    written = []

    def failing_save(self, name, content):
        # Half the bytes reach the disk, then it is full.
        path = Path(self.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.read(content.size // 2))
        written.append(path)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", failing_save)

    response = raw_upload(user_client, b"log line\n" * 10_000, path=route.format(job=job.id), job_id=job.id)

    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["status_code"] == 503
    assert "nothing was kept" in response.json()["message"]
    assert written, "the storage was written to"
    assert not any(path.exists() for path in written), "partial bytes left behind"
    assert File.objects.count() == 0


@pytest.mark.django_db
def test_a_storage_failure_in_a_json_upload_is_a_503_too(user_client, job, monkeypatch):
    def failing_save(self, name, content):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(FileSystemStorage, "_save", failing_save)

    response = user_client.post(
        "/api/v1/files", {"name": "a.log", "content": "x", "job_id": str(job.id)}, format="json"
    )

    assert response.status_code == 503
    assert response.json()["status_code"] == 503
    assert File.objects.count() == 0


# A write and its audit entry: both or neither --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "method,path,body",
    [
        ("post", "/api/v1/jobstates", {"job_id": "{job}", "status": "running"}),
        ("post", "/api/v1/jobs/{job}/recheck", None),
        ("post", "/api/v1/files", {"name": "a.log", "content": "x", "job_id": "{job}"}),
        ("post", "/api/v1/jobs/{job}/files", {"name": "a.log", "content": "x"}),
    ],
    ids=["jobstate", "recheck", "file", "job-file"],
)
def test_a_write_whose_audit_entry_cannot_be_written_is_not_kept(user_client, job, method, path, body):
    from django.db import connection

    from dciserver.models import AuditLog
    from jobs.models import Job, JobState

    audit_table = f'"{AuditLog._meta.db_table}"'

    def unwritable_audit_log(execute, sql, params, many, context):
        # At the database driver: whichever way the entry is written, it fails.
        if f"INSERT INTO {audit_table}" in sql:
            raise RuntimeError("the audit log is unwritable")
        return execute(sql, params, many, context)

    before = (Job.objects.count(), JobState.objects.count(), File.objects.count())
    body = {k: v.format(job=job.id) for k, v in body.items()} if body else None

    with connection.execute_wrapper(unwritable_audit_log):
        response = getattr(user_client, method)(path.format(job=job.id), body, format="json")

    assert response.status_code == 500
    assert response.json()["status_code"] == 500
    assert (Job.objects.count(), JobState.objects.count(), File.objects.count()) == before
