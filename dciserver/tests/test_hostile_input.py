"""Hostile input: every one answers a clear 4xx in the DCI JSON shape (or is stored harmlessly), never a 5xx.

In-process through Django's test client, and on the wire against the live gunicorn where the
framing itself is the attack (huge headers, bytes that are not UTF-8, bodies past the limits).
"""

import base64
import json
import socket
import time

import pytest

from conftest import PASSWORD, basic
from dciserver.tests.live import api, request
from files.models import File, JUnitResult
from files.tests.helpers import API, BILLION_LAUGHS, EXTERNAL_ENTITY, raw_upload

MiB = 1024 * 1024


def assert_dci_error(response, *statuses):
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"status_code", "message", "payload"} and body["status_code"] == response.status_code
    return body


# XML: bombs and external entities, uploaded as JUnit reports -----------------------------------------


def listening_socket():
    """A port on 127.0.0.1 that records whether anyone connects (an external entity being fetched)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    return sock


def was_contacted(sock):
    try:
        sock.accept()[0].close()
        return True
    except TimeoutError:
        return False


QUADRATIC = '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "{}">]><testsuite name="q">{}</testsuite>'.format(
    "x" * 50_000, "&a;" * 50_000
)
XML_ATTACKS = {
    "billion-laughs": BILLION_LAUGHS,
    "quadratic-blowup": QUADRATIC,
    "external-entity-file": EXTERNAL_ENTITY,
    "external-entity-url": (
        '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY e SYSTEM "http://127.0.0.1:{port}/e">]>'
        '<testsuite name="u"><testcase name="a"><failure message="&e;"/></testcase></testsuite>'
    ),
    "external-dtd": (
        '<?xml version="1.0"?><!DOCTYPE testsuite SYSTEM "http://127.0.0.1:{port}/evil.dtd">'
        '<testsuite name="d"><testcase name="a"/></testsuite>'
    ),
    "parameter-entity": (
        '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;]>'
        '<testsuite name="p"/>'
    ),
    "xinclude": (
        '<?xml version="1.0"?><testsuite name="x" xmlns:xi="http://www.w3.org/2001/XInclude">'
        '<testcase name="a"><failure><xi:include href="file:///etc/passwd" parse="text"/></failure></testcase>'
        "</testsuite>"
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("xml", XML_ATTACKS.values(), ids=XML_ATTACKS.keys())
def test_a_hostile_xml_report_is_stored_never_expanded_nor_fetched(user_client, job, xml):
    server = listening_socket()
    try:
        body = xml.replace("{port}", str(server.getsockname()[1])).encode()
        started = time.monotonic()

        response = raw_upload(user_client, body, name="report.xml", job_id=job.id, mime="application/junit")

        assert response.status_code == 201, response.content[:300]
        assert time.monotonic() - started < 5
        assert not was_contacted(server), "an external entity was fetched"
    finally:
        server.close()
    results = user_client.get(f"{API}/jobs/{job.id}/results").content
    assert b"root:" not in results and b"lol" * 10 not in results and b"x" * 100_000 not in results
    assert len(results) < 10_000
    result = JUnitResult.objects.get(file__name="report.xml")
    assert result.error or result.total <= 1


# Path tricks in DCI-NAME: the name is data, the bytes are named by id -----------------------------------

NAMES = [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\system32\\config",
    "a/../../../b",
    "./.",
    "..",
    "%2e%2e%2fetc%2fpasswd",
    "con.log",
    'quote"and;semicolon.log',
    "name with spaces and ünïcödé ☃.log",
    "line\tbreak.log",
    "n" * 512,
]


@pytest.mark.django_db
@pytest.mark.parametrize("name", NAMES, ids=range(len(NAMES)))
def test_a_path_trick_in_dci_name_is_kept_as_data_and_stored_under_the_id(user_client, job, name, settings):
    response = raw_upload(user_client, b"bytes", name=name, job_id=job.id)

    assert response.status_code == 201, response.content[:300]
    file = File.objects.get()
    assert file.name == name
    stored = [p for p in settings.DCI_FILES_ROOT.rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [file.id.hex]
    assert all(p.resolve().is_relative_to(settings.DCI_FILES_ROOT.resolve()) for p in stored)

    content = user_client.get(f"{API}/files/{file.id}/content")
    assert content.status_code == 200
    assert b"".join(content.streaming_content) == b"bytes"
    disposition = content["Content-Disposition"]
    assert disposition.startswith("attachment;") and "\n" not in disposition and "\r" not in disposition
    # Django offers the base name only, quoted or percent-encoded: a browser saves no path.
    assert "/" not in disposition.split("filename", 1)[1] and "%2F" not in disposition


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name,status",
    # 431: a header over the size the API takes (dciserver.api.middleware.MAX_HEADER_FIELD_SIZE).
    [("n" * 513, 400), ("n" * 100_000, 431), ("", 400), ("a\x00b", 400)],
    ids=["513", "100k", "empty", "nul"],
)
def test_a_dci_name_that_cannot_be_a_name_is_refused(user_client, job, name, status):
    assert_dci_error(raw_upload(user_client, b"bytes", name=name, job_id=job.id), status)
    assert File.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["evil\r\nSet-Cookie: a=b.log", "new\nline.log", "tab\there.log", "bell\x07.log"])
def test_a_name_with_control_characters_never_splits_a_header(user_client, job, name):
    """A JSON body may carry any character in a name; the download's Content-Disposition stays one header."""
    created = user_client.post(f"{API}/files", {"name": name, "content": "x", "job_id": str(job.id)}, format="json")
    assert created.status_code == 201, created.content[:300]
    assert created.json()["file"]["name"] == name

    content = user_client.get(f"{API}/files/{created.json()['file']['id']}/content")

    assert content.status_code == 200
    assert "\n" not in content["Content-Disposition"] and "\r" not in content["Content-Disposition"]
    assert "Set-Cookie" not in content.headers


# Huge headers, odd encodings, huge and deep bodies, in-process -----------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header,value",
    [
        ("HTTP_IF_MATCH", "x" * MiB),
        ("HTTP_DCI_JOB_ID", "y" * MiB),
        ("HTTP_AUTHORIZATION", "Basic " + "A" * MiB),
        ("HTTP_AUTHORIZATION", "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()),
        ("HTTP_AUTHORIZATION", "Basic " + base64.b64encode(b"lab-user:" + "é".encode("latin-1")).decode()),
        ("HTTP_AUTHORIZATION", "Basic !!!not-base64!!!"),
        ("HTTP_CLIENT_VERSION", "\udcff" * 10),
        ("HTTP_USER_AGENT", "u" * MiB),
    ],
    ids=["if-match", "job-id", "basic-1MiB", "basic-not-utf8", "basic-latin1", "basic-not-base64", "surrogate", "ua"],
)
def test_a_huge_or_undecodable_header_answers_a_clear_4xx(user_client, job, header, value):
    response = user_client.put(f"{API}/jobs/{job.id}", {"comment": "x"}, format="json", **{header: value})

    if header == "HTTP_DCI_JOB_ID":
        response = raw_upload(user_client, b"x", **{"job_id": value})
    if header in ("HTTP_USER_AGENT", "HTTP_CLIENT_VERSION"):
        job.refresh_from_db()
        response = user_client.put(f"{API}/jobs/{job.id}", {"comment": "x"}, HTTP_IF_MATCH=job.etag, **{header: value})
        assert response.status_code in (204, 400, 431), response.content[:300]
        return
    # 431: a header over the size the API takes (dciserver.api.middleware.MAX_HEADER_FIELD_SIZE).
    assert_dci_error(response, 400, 401, 412, 431)


@pytest.mark.django_db
def test_two_thousand_query_parameters_answer_a_json_400(user_client):
    # Short ones: past DATA_UPLOAD_MAX_NUMBER_FIELDS, within the URI length the API takes.
    query = "&".join("p=" for _ in range(2_000))

    assert_dci_error(user_client.get(f"{API}/jobs?{query}"), 400)


@pytest.mark.django_db
def test_a_megabyte_of_where_answers_a_json_414(user_client):
    assert_dci_error(user_client.get(f"{API}/jobs", {"where": "status:" + "a," * (MiB // 2)}), 414)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/teams", "/jobs", "/jobstates", "/files", "/remotecis"])
def test_a_json_body_over_the_memory_limit_answers_a_json_413(admin_client, settings, path):
    body = json.dumps({"name": "x", "content": "y" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})

    assert_dci_error(admin_client.post(API + path, body, content_type="application/json"), 413)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "\xc3\x28"}',  # an invalid 2-byte sequence
        b'{"name": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate
        b'{"name": "\xf8\x88\x80\x80\x80"}',  # a 5-byte sequence
        b"\xef\xbb\xbf" + b'{"name": "bom"}',
        b'{"name": "x", "name": "y"}',
        b'{"name": NaN}',
        b'{"name": 1e999999}',
        b'{"name": "' + b"\\ud800" * 1000 + b'"}',
    ],
    ids=["bad-2-byte", "encoded-surrogate", "5-byte", "bom", "duplicate-key", "nan", "huge-exponent", "surrogates"],
)
def test_a_body_that_is_not_clean_utf8_json_answers_a_json_4xx_or_is_accepted_cleanly(admin_client, raw):
    response = admin_client.post(f"{API}/teams", raw, content_type="application/json")

    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 400:
        assert_dci_error(response, 400)


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [65, 900, 1_000, 100_000])
@pytest.mark.parametrize("field", ["data", "name", "components", "status", "comment"])
def test_deep_nesting_in_any_field_answers_a_json_400(admin_client, world, depth, field):
    path = "/remotecis" if field in ("data", "name") else "/jobs"
    nested = "[" * depth + "1" + "]" * depth
    raw = f'{{"remoteci_id": "{world.remoteci.pk}", "team_id": "{world.team.pk}", "name": "n", "{field}": {nested}}}'

    assert_dci_error(admin_client.post(API + path, raw, content_type="application/json"), 400)


# On the wire: what never reaches Django whole ------------------------------------------------------------


def raw_exchange(web, payload, timeout=10):
    """Send ``payload`` as is; the status line of the answer (or None if the server just closed)."""
    with socket.create_connection(("127.0.0.1", web.port), timeout=timeout) as sock:
        sock.sendall(payload)
        answer = b""
        try:
            while b"\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except ConnectionResetError:
            pass
    return answer.split(b"\r\n", 1)[0] or None


def head(web, method, path, headers, body=b""):
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: 127.0.0.1:{web.port}".encode()]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


AUTH = basic("lab-user", PASSWORD).encode()


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": AUTH, "X-Huge": b"h" * (64 * 1024)},
        {"Authorization": AUTH, **{f"X-Many-{n}": b"v" for n in range(200)}},
        {"Authorization": b"Basic " + b"A" * (16 * 1024)},
    ],
    ids=["64KiB-header", "200-headers", "16KiB-authorization"],
)
def test_huge_headers_on_the_wire_are_refused_with_a_4xx_and_the_server_carries_on(web, headers):
    status_line = raw_exchange(web, head(web, "GET", "/api/v1/identity", headers))

    assert status_line is not None and status_line.split()[1].startswith(b"4"), status_line
    assert request(api(web, "/identity"), user="lab-user")[0] == 200


@pytest.mark.parametrize(
    "name,value",
    [
        (b"DCI-NAME", b"\xff\xfe\xfd.log"),
        (b"DCI-NAME", b"\xc3\x28.log"),
        (b"If-Match", b"\xff\xff"),
        (b"Authorization", b"Basic " + base64.b64encode(b"lab-user\xff:" + PASSWORD.encode())),
        (b"DCI-JOB-ID", b"\xe2\x80\xae" + b"0" * 32),
    ],
    ids=["name-latin1", "name-bad-utf8", "if-match", "user-not-utf8", "rtl-override-id"],
)
def test_bytes_that_are_not_utf8_in_a_header_never_cause_a_5xx(web, pg, name, value):
    job = web.world["jobs"][2]
    headers = {b"Authorization": AUTH, b"DCI-NAME": b"ok.log", b"DCI-JOB-ID": job.encode(), name: value}
    payload = head(web, "POST", "/api/v1/files", {k.decode(): v for k, v in headers.items()}, body=b"bytes\n")

    status_line = raw_exchange(web, payload)

    assert status_line is not None, "the server closed the connection without an answer"
    assert status_line.split()[1][:1] in (b"2", b"4"), status_line
    assert request(api(web, "/identity"), user="lab-user")[0] == 200


def test_a_json_body_past_the_memory_limit_is_a_json_413_on_the_wire(web):
    """The server answers as soon as it sees the Content-Length, without reading 11 MiB it would refuse."""
    headers = {"Authorization": AUTH, "Content-Type": b"application/json"}
    payload = head(web, "POST", "/api/v1/jobstates", headers).replace(
        b"Content-Length: 0", b"Content-Length: %d" % (11 * MiB)
    )

    with socket.create_connection(("127.0.0.1", web.port), timeout=10) as sock:
        sock.sendall(payload + b'{"comment": "' + b"c" * MiB)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk

    status_line, rest = answer.split(b"\r\n", 1)
    assert status_line.split()[1] == b"413", answer[:300]
    headers_part, body = rest.split(b"\r\n\r\n", 1)
    assert b"application/json" in headers_part.lower()
    assert json.loads(body)["status_code"] == 413
