"""On the wire, against the live gunicorn: what it refuses itself is the DCI JSON error too.

A request line or headers past the limits, a malformed ``Content-Length``: the application
refuses what it can see (414, 431 from ``dciserver.api.middleware``), and gunicorn's worker
(``dciserver.gunicorn_worker``) answers in the same shape what never reaches it. And header
values are read as UTF-8, as clients send them.
"""

import json
import socket
import urllib.parse

import pytest

from conftest import PASSWORD, basic
from dciserver.api.middleware import MAX_HEADER_FIELD_SIZE, MAX_HEADER_FIELDS, MAX_URI_LENGTH
from dciserver.tests.live import api, request

AUTH = basic("lab-user", PASSWORD).encode()


def exchange(web, payload, timeout=10):
    """``(status, headers, body)`` of the answer to the raw bytes ``payload`` (sent with
    ``Connection: close``, so the answer ends where the connection does)."""
    with socket.create_connection(("127.0.0.1", web.port), timeout=timeout) as sock:
        sock.sendall(payload)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert b"\r\n\r\n" in answer, f"the server closed the connection without an answer: {answer!r}"
    head, body = answer.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    if headers.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return int(status_line.split()[1]), headers, body


def dechunk(data):
    body = b""
    while True:
        size, data = data.split(b"\r\n", 1)
        if not int(size, 16):
            return body
        body, data = body + data[: int(size, 16)], data[int(size, 16) + 2 :]


def raw_request(web, method, target, headers=(), body=b"", length=True):
    lines = [f"{method} {target} HTTP/1.1".encode(), f"Host: 127.0.0.1:{web.port}".encode(), b"Connection: close"]
    lines.append(b"Authorization: " + AUTH)
    lines += [name + b": " + value for name, value in headers]
    if length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def assert_dci_json(answer, status):
    got, headers, body = answer
    assert got == status, (got, headers, body[:300])
    assert headers["content-type"].startswith("application/json"), headers
    error = json.loads(body)
    assert set(error) == {"status_code", "message", "payload"} and error["status_code"] == status, error
    return error


def still_serving(web):
    return request(api(web, "/identity"), user="lab-user")[0] == 200


def where_of(length):
    """``/api/v1/jobs?where=...`` of exactly ``length`` characters."""
    prefix = "/api/v1/jobs?where=status:"
    return prefix + "a" * (length - len(prefix))


def test_a_long_where_within_the_limit_is_served(web):
    # Over gunicorn's former 4094-byte request line: now the API's answer (here: no such status).
    answer = exchange(web, raw_request(web, "GET", where_of(6000)))

    assert answer[0] == 200 and json.loads(answer[2])["_meta"]["count"] == 0


@pytest.mark.parametrize("length", [MAX_URI_LENGTH + 100, 8300], ids=["past-the-api-limit", "past-gunicorn-limit"])
def test_an_over_long_request_line_answers_a_json_414(web, length):
    assert_dci_json(exchange(web, raw_request(web, "GET", where_of(length))), 414)
    assert still_serving(web)


@pytest.mark.parametrize(
    "headers",
    [
        [(b"X-Many-%d" % n, b"v") for n in range(MAX_HEADER_FIELDS + 10)],
        [(b"X-Many-%d" % n, b"v") for n in range(250)],
        [(b"X-Large", b"h" * (MAX_HEADER_FIELD_SIZE + 10))],
        [(b"X-Huge", b"h" * 64 * 1024)],
        [(b"Authorization", b"Basic " + b"A" * 16 * 1024)],
    ],
    ids=["too-many-for-the-api", "too-many-for-gunicorn", "too-large-for-the-api", "64KiB", "16KiB-authorization"],
)
def test_too_many_or_too_large_headers_answer_a_json_431(web, headers):
    assert_dci_json(exchange(web, raw_request(web, "GET", "/api/v1/identity", headers)), 431)
    assert still_serving(web)


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1.5", b"0x10", b"1 2"])
def test_a_malformed_content_length_answers_a_json_400(web, value):
    payload = raw_request(
        web,
        "POST",
        "/api/v1/jobstates",
        [(b"Content-Type", b"application/json"), (b"Content-Length", value)],
        length=False,
    )

    error = assert_dci_json(exchange(web, payload + b'{"status": "running"}'), 400)
    assert "CONTENT-LENGTH" in error["message"].upper()
    assert still_serving(web)


def test_two_content_lengths_answer_a_json_400(web):
    headers = [(b"Content-Type", b"application/json"), (b"Content-Length", b"2"), (b"Content-Length", b"3")]

    assert_dci_json(exchange(web, raw_request(web, "POST", "/api/v1/jobstates", headers, length=False) + b"{}"), 400)


def test_a_utf8_dci_name_is_stored_and_offered_back_as_sent(web):
    job = web.world["jobs"][6]
    headers = [(b"DCI-NAME", "rapport-é-日本.txt".encode()), (b"DCI-JOB-ID", job.encode())]

    status, _, body = exchange(web, raw_request(web, "POST", "/api/v1/files", headers, body=b"bytes\n"))

    assert status == 201, body
    file = json.loads(body)["file"]
    assert file["name"] == "rapport-é-日本.txt"
    status, headers, content = request(api(web, f"/files/{file['id']}/content"), user="lab-user")
    assert (status, content) == (200, b"bytes\n")
    quoted = urllib.parse.quote("rapport-é-日本.txt", safe="")
    assert headers["Content-Disposition"] == f"attachment; filename=\"rapport-e-__.txt\"; filename*=UTF-8''{quoted}"
