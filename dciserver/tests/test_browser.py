"""What a browser gets from a server started as ``make run`` starts one, with no network but loopback.

The ``web`` fixture runs the project's gunicorn after ``collectstatic``, as ``make run`` does. Every
stylesheet, script and icon that the admin, the browsable API and the interactive docs name must come
from that server itself (same origin) and answer 200 with its type: a page that loads anything from
the internet is blank on a machine without it. Where Chromium is installed, it renders ``/api/docs/``
with every host name but loopback unresolvable.
"""

import os
import shutil
import subprocess
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from conftest import PASSWORD, basic

CSS = "text/css"
JS = ("text/javascript", "application/javascript")
PNG = "image/png"


class Assets(HTMLParser):
    """The ``<script src>``, ``<link rel=stylesheet href>`` and ``<link rel=icon href>`` of a page."""

    def __init__(self):
        super().__init__()
        self.scripts, self.stylesheets, self.icons = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        rel = set((attrs.get("rel") or "").lower().split())
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        elif tag == "link" and "stylesheet" in rel:
            self.stylesheets.append(attrs["href"])
        elif tag == "link" and "icon" in rel:
            self.icons.append(attrs["href"])


def get(url, **headers):
    """(status, content type, body) of a GET; never raises for an HTTP status."""
    request = urllib.request.Request(url, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), error.read()


def page_assets(web, path, **headers):
    url = web.url + path
    status, content_type, body = get(url, **headers)
    assert (status, content_type) == (200, "text/html"), (url, status, body[:300])
    assets = Assets()
    assets.feed(body.decode())
    return url, assets


def assert_served_here(web, page, hrefs, types):
    """Each of ``hrefs`` (as written in ``page``) is on the server's own origin and answers 200 with its type."""
    assert hrefs
    for href in hrefs:
        url = urljoin(page, href)
        assert urlsplit(url).netloc == urlsplit(web.url).netloc, f"{page} loads {url} from elsewhere"
        status, content_type, body = get(url)
        assert status == 200, (url, status)
        assert content_type in types, (url, content_type)
        assert body, url


def test_the_admin_login_page_gets_its_stylesheets_from_the_server(web):
    page, assets = page_assets(web, "/admin/login/")

    assert any(href.endswith("admin/css/base.css") for href in assets.stylesheets), assets.stylesheets
    assert_served_here(web, page, assets.stylesheets, CSS)
    assert_served_here(web, page, assets.scripts, JS)


def test_the_browsable_api_gets_its_stylesheets_and_scripts_from_the_server(web):
    page, assets = page_assets(web, "/api/v1/teams", Accept="text/html", Authorization=basic("root", PASSWORD))

    assert_served_here(web, page, assets.stylesheets, CSS)
    assert_served_here(web, page, assets.scripts, JS)


def test_the_api_docs_get_swagger_ui_from_the_server(web):
    page, assets = page_assets(web, "/api/docs/")

    assert any("swagger-ui-bundle" in src for src in assets.scripts), assets.scripts
    assert_served_here(web, page, assets.scripts, JS)
    assert_served_here(web, page, assets.stylesheets, CSS)
    assert_served_here(web, page, assets.icons, PNG)


def chromium():
    """The Chromium binary; CI must have it (``.ci/run`` installs it), a developer's machine may not."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run installs it for CI")
        pytest.skip("chromium is not installed (apt-get install chromium): Swagger UI's rendering not checked")
    return binary


def test_swagger_ui_renders_the_api_in_a_headless_browser_without_the_internet(web, tmp_path):
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",  # as root (CI) Chromium refuses to start with its sandbox
        "--disable-gpu",
        "--no-first-run",
        "--no-proxy-server",
        f"--user-data-dir={tmp_path / 'profile'}",
        # Any host name but loopback's fails to resolve: a CDN would leave the page blank.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=30000",
        # Swagger UI draws only the operations in view once a spec is long (a virtualized list):
        # a window this tall has them all in view.
        "--window-size=1280,40000",
        "--dump-dom",
        f"{web.url}/api/docs/",
    ]

    result = subprocess.run(command, capture_output=True, text=True, timeout=120)

    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    # The spec's title, and the operation blocks Swagger UI draws from it.
    assert 'class="title">dciserver' in dom, dom[-2000:]
    assert dom.count('class="opblock opblock-') >= 20, dom[-2000:]
    assert 'data-path="/api/v1/jobs"' in dom or "/api/v1/jobs" in dom
