"""A pytest plugin: no response of the whole test suite carries a password hash or the SECRET_KEY,
nor an agent's ``api_secret`` outside the routes that show it.

Every response Django produces in the test process (the test client, the fuzzer's WSGI
calls, the live server's threads) goes through ``BaseHandler.get_response``; the plugin
wraps it for the session and scans the headers and the body of each (streamed file
contents excepted: reading them would consume them). A test during which a response
carried a secret fails at teardown, naming the request. The scan is a substring search,
cheap next to the request itself; the terminal summary says how much it saw.
"""

import re

import pytest
from django.conf import settings
from django.core.handlers.base import BaseHandler

# The prefixes of Django's password hash formats ("<algorithm>$...").
HASH_MARKERS = (b"pbkdf2_sha256$", b"pbkdf2_sha1$", b"argon2$", b"bcrypt$", b"bcrypt_sha256$", b"scrypt$", b"md5$")

findings = []
seen = {"responses": 0, "bytes": 0}


def secrets_in(content):
    """The secrets ``content`` (bytes) holds: password hash markers and the SECRET_KEY."""
    markers = [*HASH_MARKERS, settings.SECRET_KEY.encode()]
    return [marker.decode() for marker in markers if marker in content]


# Where an agent's ``api_secret`` may be answered (SPEC §10): the remotecis' and feeders' own routes
# (list, one, create, rotation), a team's list of its remotecis, and the schema that documents it.
SECRET_ROUTES = re.compile(
    r"^/api/v1/((remotecis|feeders)(/[^/]+(/api_secret)?)?|teams/[^/]+/remotecis)/?$|^/api/schema/?$|^/api/docs/?"
)


def scan(request, response):
    head = "\n".join(f"{name}: {value}" for name, value in response.items()).encode("utf-8", "replace")
    body = b"" if getattr(response, "streaming", False) else response.content
    seen["responses"] += 1
    seen["bytes"] += len(head) + len(body)
    found = secrets_in(head + b"\n" + body)
    if b"api_secret" in body and not SECRET_ROUTES.match(request.path):
        found.append("api_secret")
    if found:
        findings.append(f"{request.method} {request.get_full_path()} → {response.status_code}: {', '.join(found)}")


@pytest.fixture(scope="session", autouse=True)
def _scan_every_response():
    original = BaseHandler.get_response

    def get_response(self, request):
        response = original(self, request)
        scan(request, response)
        return response

    BaseHandler.get_response = get_response
    yield
    BaseHandler.get_response = original


@pytest.fixture(autouse=True)
def _no_secret_in_this_tests_responses():
    findings.clear()
    yield
    if findings:
        leaked = list(findings)
        findings.clear()
        pytest.fail("a response carried a secret:\n" + "\n".join(leaked))


def pytest_terminal_summary(terminalreporter):
    if seen["responses"]:
        terminalreporter.write_line(
            f"response scan: {seen['responses']} responses ({seen['bytes'] // 1024} KiB) searched for "
            "password hashes and the SECRET_KEY"
        )
