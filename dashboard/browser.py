"""Drive the dashboard in Debian's Chromium with Playwright (no browser download: the system's).

``python -m dashboard.browser --url http://127.0.0.1:5000 --user admin --password admin`` signs in
and saves a screenshot of each page in ``docs/dashboard/`` (the demo data of ``make run``).
The browser tests (``dashboard/tests/test_browser.py``) use ``chromium()`` and ``sign_in()``.
"""

import argparse
import re
import shutil
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "dashboard"


def chromium_path():
    """Debian's Chromium (``apt-get install chromium``), or ``None``."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright):
    # --no-sandbox: as root (CI) Chromium refuses to start with its sandbox.
    return playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])


def sign_in(page, url, name, password):
    page.goto(f"{url}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


def screenshots(url, name, password, out=DOCS):
    """Each page of the dashboard as a PNG in ``out``; the paths written."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/login")
        page.screenshot(path=str(out / "login.png"))
        written.append(out / "login.png")
        sign_in(page, url, name, password)
        pages = {"jobs": "/", "fleet": "/fleet", "matrix": "/matrix"}
        # A job that failed: its results and what changed against its baseline.
        failed = page.query_selector("#jobs tbody tr:has(.status-failure) a")
        job = (failed or page.query_selector("#jobs tbody a")).get_attribute("href")
        pages["job"] = job
        page.goto(url + job)
        test = page.get_attribute("#changes tbody a", "href") if page.query_selector("#changes tbody a") else None
        log = page.query_selector("a[href^='/files/']")
        if log:
            pages["file"] = log.get_attribute("href")
        page.goto(f"{url}/matrix")
        topic = page.get_attribute("#matrix thead a", "href")
        if test:
            pages["test"] = test
        if topic:
            pages["topic"] = topic
        for label, path in pages.items():
            page.goto(url + path)
            target = out / f"{label}.png"
            page.screenshot(path=str(target), full_page=True)
            written.append(target)
        browser.close()
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--out", default=str(DOCS))
    args = parser.parse_args()
    for path in screenshots(args.url.rstrip("/"), args.user, args.password, Path(args.out)):
        print(path)


if __name__ == "__main__":
    main()
