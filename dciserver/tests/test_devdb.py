"""One entry point for management commands: ``python -m dciserver.devdb manage COMMAND`` and ``make manage``.

Each test runs devdb in a subprocess with the suite's ``DATABASE_URL`` in its environment, so no
embedded PostgreSQL is started.
"""

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def run(*command):
    env = {**os.environ, "DCI_DEV": "1"}
    assert env.get("DATABASE_URL"), "the suite runs with DATABASE_URL set"
    return subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)


def devdb(*args):
    return run(sys.executable, "-m", "dciserver.devdb", *args)


def test_devdb_help_says_how_to_run_a_management_command():
    result = devdb("--help")

    assert result.returncode == 0, result.stderr
    assert "python -m dciserver.devdb manage COMMAND [ARGS...]" in result.stdout
    assert result.stderr == ""


def test_devdb_manage_runs_a_management_command_with_its_arguments():
    result = devdb("manage", "check", "--tag", "urls", "--database", "default")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_devdb_manage_passes_help_on_to_the_command():
    result = devdb("manage", "demo", "--help")

    assert result.returncode == 0, result.stderr
    assert "--password" in result.stdout and "--jobs" in result.stdout


def test_a_command_that_is_no_program_is_one_clear_line_not_a_traceback():
    result = devdb("demo")

    assert result.returncode == 127
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "no program named 'demo'" in result.stderr
    assert "python -m dciserver.devdb manage demo" in result.stderr
    assert "Traceback" not in result.stderr


def test_devdb_without_a_command_shows_its_usage():
    result = devdb()

    assert result.returncode != 0
    assert "usage: python -m dciserver.devdb manage COMMAND" in result.stderr


def test_a_program_runs_with_its_exit_status():
    result = devdb("sh", "-c", 'test -n "$DATABASE_URL" && exit 3')

    assert result.returncode == 3


def test_make_manage_runs_a_management_command():
    venv = Path(sys.executable).parent.parent
    # -o: the test runs in an installed environment; make must not reinstall it.
    result = run("make", "--no-print-directory", "-o", f"{venv}/.installed", "manage", f"VENV={venv}", "ARGS=check")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_manage_py_without_a_database_says_how_to_get_one():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DCI_DEV": "1"}

    result = subprocess.run(
        [sys.executable, "manage.py", "demo"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert "python -m dciserver.devdb manage <command>" in result.stderr
