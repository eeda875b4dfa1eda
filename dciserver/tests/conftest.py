"""Fixtures of the live tests (faults, hostile input on the wire): one real server for the session."""

import pytest

from dciserver.tests.live import Gunicorn, Postgres, load_world


@pytest.fixture(scope="session")
def pg():
    """An embedded PostgreSQL of the live tests' own, which they may stop and start."""
    server = Postgres()
    try:
        server.init()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def web(pg):
    """gunicorn (the project's configuration, 2 workers × 4 threads) on 127.0.0.1, with the lab's rows.

    Started as ``make run`` starts it: migrated, static files collected, then gunicorn.
    """
    server = Gunicorn(pg.url)
    try:
        server.world = load_world(server)
        server.manage("collectstatic", "--no-input", "--verbosity", "0")
        server.start()
        yield server
    finally:
        server.stop()
