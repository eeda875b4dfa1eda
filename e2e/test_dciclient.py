"""The real PyPI clients, run from their own virtual environments against a live dciserver."""

import subprocess

import pytest

from e2e.clients import client_python

# Each flow: the client's virtual environment, and the script it runs.
DRIVERS = {
    "dciclient-0.1a10": ("dciclient-0.1a10", "drive_dciclient_0_1a10.py"),
    "dciclient-4": ("dciclient-4", "drive_dciclient_4.py"),
    # The agent signing as its remoteci (SPEC §10), with products (SPEC §11) and dcictl.
    "dciclient-4-agent": ("dciclient-4", "drive_dciclient_4_agent.py"),
    # A whole job of the 2025 model (SPEC §12–§14): schedule, jobstates, JUnit, tags, key/values,
    # a pipeline, job events, and dcictl's job commands and dci-diff-jobs.
    "dciclient-4-job": ("dciclient-4", "drive_dciclient_4_job.py"),
}


@pytest.fixture
def files_root(settings, tmp_path):
    settings.DCI_FILES_ROOT = tmp_path / "files"
    return settings.DCI_FILES_ROOT


@pytest.mark.parametrize("client", DRIVERS)
def test_the_real_client_runs_a_whole_job_flow(client, live_server, super_admin, files_root):
    from pathlib import Path

    from conftest import PASSWORD

    venv, script = DRIVERS[client]
    driver = Path(__file__).parent / script
    result = subprocess.run(
        [str(client_python(venv)), str(driver), live_server.url, super_admin.name, PASSWORD],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert result.stdout.rstrip().endswith("FLOW OK")
