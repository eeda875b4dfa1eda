"""Virtual environments holding the real PyPI DCI clients, built once under ``var/clients``."""

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "var" / "clients"

CLIENTS = {
    # The 2016 client. Its requirements pin PyYAML and click versions it never imports; install
    # only what it does import.
    "dciclient-0.1a10": [
        ["--no-deps", "dciclient==0.1a10"],
        ["click<8", "PrettyTable<0.8", "six", "requests"],
    ],
    # The modern client, with its own dependencies (dciauth, requests, prettytable).
    "dciclient-4": [["dciclient==4.2.0.post202610141218"]],
}


def client_python(name):
    """The interpreter of a virtual environment holding client ``name``, creating it if needed."""
    home = ROOT / name
    python = home / "bin" / "python"
    stamp = home / ".installed"
    if not stamp.exists():
        ROOT.mkdir(parents=True, exist_ok=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        for args in CLIENTS[name]:
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args], check=True)
        stamp.touch()
    return python


if __name__ == "__main__":
    for client in sys.argv[1:] or CLIENTS:
        print(client, client_python(client))
