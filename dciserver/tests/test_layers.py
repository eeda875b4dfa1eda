"""Layers point one way: the project's cross-cutting API pieces import no app."""

import re
from pathlib import Path

import dciserver.api

API = Path(dciserver.api.__file__).parent
APP_IMPORT = re.compile(r"^\s*(from|import) (teams|jobs|files)\b", re.MULTILINE)


def test_the_api_floor_imports_no_app():
    sources = [path for path in API.rglob("*.py") if "tests" not in path.relative_to(API).parts]
    assert sources, API

    offenders = [
        f"{path.relative_to(API.parent.parent)}:{source[: match.start()].count(chr(10)) + 1}: {match.group(0).strip()}"
        for path in sources
        for source in [path.read_text()]
        for match in APP_IMPORT.finditer(source)
    ]

    assert offenders == []
