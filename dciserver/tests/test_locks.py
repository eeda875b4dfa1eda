"""The lock files pin the whole dependency tree, with hashes, and agree with the .txt files' pins.

``make lock`` compiles ``requirements*.lock`` from ``requirements*.txt``; the Makefile installs from
the locks only. A pin changed in a .txt file without ``make lock`` fails here.
"""

import re
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PAIRS = [
    ("requirements.txt", "requirements.lock"),
    ("requirements-test.txt", "requirements-test.lock"),
    ("requirements-bench.txt", "requirements-bench.lock"),
]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def direct_pins(name):
    """name → version of every ``name==version`` in a .txt file and the files it includes with ``-r``."""
    pins = {}
    for line in (BASE_DIR / name).read_text().splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("-r "):
            pins.update(direct_pins(line[3:].strip()))
        elif line and not line.startswith("#"):
            match = PIN.match(line)
            assert match, f"{name}: {line!r} is not pinned with =="
            pins[normalized(match.group(1))] = match.group(2)
    return pins


def locked(name):
    """name → (version, number of hashes) of every package in a lock file."""
    packages, current = {}, None
    for line in (BASE_DIR / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = normalized(match.group(1))
            packages[current] = [match.group(2), 0]
        elif current and line.strip().startswith("--hash=sha256:"):
            packages[current][1] += 1
    return {name: tuple(value) for name, value in packages.items()}


@pytest.mark.parametrize("txt, lock", PAIRS)
def test_every_direct_pin_is_in_its_lock_file_at_its_version(txt, lock):
    pins, packages = direct_pins(txt), locked(lock)

    assert pins
    assert {name: packages.get(name, (None,))[0] for name in pins} == pins, f"run make lock ({txt} changed)"


@pytest.mark.parametrize("lock", [lock for _, lock in PAIRS])
def test_every_locked_package_has_an_exact_version_and_a_hash(lock):
    packages = locked(lock)
    lines = [line for line in (BASE_DIR / lock).read_text().splitlines() if line and line[0].isalnum()]

    assert len(packages) == len(lines) > 10, [line for line in lines if not PIN.match(line)]
    assert [name for name, (_, hashes) in packages.items() if hashes == 0] == []


@pytest.mark.parametrize("lock", ["requirements-test.lock", "requirements-bench.lock"])
def test_the_test_and_bench_locks_run_the_versions_production_runs(lock):
    production, packages = locked("requirements.lock"), locked(lock)

    assert {name: packages.get(name, (None,))[0] for name in production} == {
        name: version for name, (version, _) in production.items()
    }


def test_make_installs_from_the_lock_files_checking_hashes():
    makefile = (BASE_DIR / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines() if "pip install" in line and " -r " in line]

    assert sorted(installs) == sorted(f"$(BIN)/pip install --quiet --require-hashes -r {lock}" for _, lock in PAIRS), (
        installs
    )
