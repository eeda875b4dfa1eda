"""Spooling a body (files.streaming): read from the request's stream, hashed and written aside, O_DIRECT."""

import ast
import hashlib
import io
import os
from pathlib import Path

import pytest

from files import streaming

MiB = 1024 * 1024


def payload(size):
    """Bytes that differ from block to block, so a block written twice or skipped changes the md5."""
    return (hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1))[:size]


@pytest.fixture
def spool_file(tmp_path):
    with open(tmp_path / "spooled.bin", "w+b") as file:
        yield file


@pytest.mark.parametrize(
    "size",
    [0, 1, 4095, streaming.BLOCK_SIZE, streaming.BLOCK_SIZE + 1, 5 * streaming.BLOCK_SIZE + 12345],
    ids=["empty", "one-byte", "under-a-page", "one-block", "block-and-a-byte", "many-blocks"],
)
@pytest.mark.parametrize("durable", [True, False], ids=["direct", "page-cache"])
def test_it_spools_the_bytes_and_their_md5(spool_file, size, durable):
    data = payload(size)

    result = streaming.spool(io.BytesIO(data), spool_file.fileno(), limit=size, size_hint=size, durable=durable)

    assert result == (size, hashlib.md5(data).hexdigest())
    spool_file.seek(0)
    assert spool_file.read() == data


def test_a_durable_spool_bypasses_the_page_cache_and_is_flushed(spool_file, monkeypatch):
    modes, flushed = [], []
    write = os.write

    def recording_write(fd, data):
        modes.append(bool(streaming.fcntl.fcntl(fd, streaming.fcntl.F_GETFL) & streaming.O_DIRECT))
        return write(fd, data)

    monkeypatch.setattr(streaming.os, "write", recording_write)
    monkeypatch.setattr(streaming.os, "fdatasync", flushed.append)
    data = payload(3 * streaming.BLOCK_SIZE + 10)

    streaming.spool(io.BytesIO(data), spool_file.fileno(), limit=len(data), durable=True)

    # Whole blocks straight to the disk, the short last one through the page cache, then flushed.
    assert modes == [True, True, True, False]
    assert flushed == [spool_file.fileno()]
    assert not streaming.fcntl.fcntl(spool_file.fileno(), streaming.fcntl.F_GETFL) & streaming.O_DIRECT


def test_a_filesystem_refusing_o_direct_gets_the_bytes_through_the_page_cache(spool_file, monkeypatch):
    def refusing(fd, cmd, arg=0):
        if cmd == streaming.fcntl.F_SETFL and arg & streaming.O_DIRECT:
            raise OSError(22, "Invalid argument")
        return fcntl(fd, cmd, arg)

    fcntl = streaming.fcntl.fcntl
    monkeypatch.setattr(streaming.fcntl, "fcntl", refusing)
    data = payload(2 * streaming.BLOCK_SIZE + 3)

    result = streaming.spool(io.BytesIO(data), spool_file.fileno(), limit=len(data), durable=True)

    assert result == (len(data), hashlib.md5(data).hexdigest())
    spool_file.seek(0)
    assert spool_file.read() == data


def test_a_body_growing_past_the_limit_stops_at_the_block_that_crosses_it(spool_file):
    source = io.BytesIO(payload(10 * streaming.BLOCK_SIZE))

    with pytest.raises(streaming.TooLarge):
        streaming.spool(source, spool_file.fileno(), limit=streaming.BLOCK_SIZE + 1)

    assert os.fstat(spool_file.fileno()).st_size <= streaming.BLOCK_SIZE


def test_a_source_failing_mid_body_is_broken_off_with_what_arrived(spool_file):
    class Failing:
        def __init__(self):
            self.sent = io.BytesIO(payload(streaming.BLOCK_SIZE + 100))

        def read(self, size):
            data = self.sent.read(size)
            if not data:
                raise OSError("Connection reset by peer")
            return data

    with pytest.raises(streaming.BrokenOff) as broken:
        streaming.spool(Failing(), spool_file.fileno(), limit=10 * MiB)

    assert broken.value.received == streaming.BLOCK_SIZE + 100


def test_a_failing_hash_fails_the_spool_rather_than_hanging_the_writer(spool_file, monkeypatch):
    class BrokenDigest:
        def update(self, data):
            raise MemoryError()

    monkeypatch.setattr(streaming.hashlib, "md5", lambda **kwargs: BrokenDigest())
    data = payload(6 * streaming.BLOCK_SIZE)

    with pytest.raises(MemoryError):
        streaming.spool(io.BytesIO(data), spool_file.fileno(), limit=len(data))


def test_a_failing_write_in_the_writer_thread_fails_the_spool_rather_than_hanging_it(spool_file, monkeypatch):
    def full_disk(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(streaming.os, "write", full_disk)
    data = payload(6 * streaming.BLOCK_SIZE)

    with pytest.raises(OSError, match="No space left"):
        streaming.spool(io.BytesIO(data), spool_file.fileno(), limit=len(data))


# Only the stream's public read() -------------------------------------------------------------------------

FILES_APP = Path(streaming.__file__).resolve().parent
# What a WSGI server keeps behind its input's read(): gunicorn's body reader, unreader, socket, buffers.
SERVER_INTERNALS = {"reader", "unreader", "sock", "buf", "recv", "recv_into"}
SERVER_MODULES = {"gunicorn", "socket"}
# Names under which application code holds the request, its stream or the WSGI environ.
REQUEST_NAMES = {"request", "stream", "environ", "wsgi_input", "body"}


def _is_wsgi_input(node):
    """``x["wsgi.input"]`` or ``x.get("wsgi.input")``."""
    if isinstance(node, ast.Subscript):
        key = node.slice
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
        key = node.args[0]
    else:
        return False
    return isinstance(key, ast.Constant) and key.value == "wsgi.input"


def server_private_uses(source):
    """Where ``source`` reaches past a request stream's public API into the WSGI server's own objects."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            modules = []
        found += [f"{node.lineno}: imports {module}" for module in modules if module.split(".")[0] in SERVER_MODULES]
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if "gunicorn" in node.value.lower():
                found.append(f"{node.lineno}: names gunicorn")
        if isinstance(node, ast.Name) and node.id == "gunicorn":
            found.append(f"{node.lineno}: names gunicorn")
        if isinstance(node, ast.Attribute):
            if node.attr in SERVER_INTERNALS:
                found.append(f"{node.lineno}: .{node.attr}")
            elif _is_wsgi_input(node.value) and node.attr != "read":
                found.append(f"{node.lineno}: wsgi.input.{node.attr}")
            elif (
                node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in REQUEST_NAMES
            ):
                found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_the_files_app_reads_an_upload_only_through_the_streams_public_read():
    modules = [
        path
        for path in sorted(FILES_APP.rglob("*.py"))
        if not {"tests", "migrations"} & set(path.relative_to(FILES_APP).parts)
    ]
    assert FILES_APP / "streaming.py" in modules and FILES_APP / "api.py" in modules

    found = {str(path.relative_to(FILES_APP)): server_private_uses(path.read_text()) for path in modules}

    assert {path: uses for path, uses in found.items() if uses} == {}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from gunicorn.http.body import Body", ["1: imports gunicorn.http.body"]),
        ("import socket", ["1: imports socket"]),
        ("sock = body.reader.unreader.sock", ["1: .sock", "1: .unreader", "1: .reader"]),
        ("n = environ['wsgi.input'].buf.tell()", ["1: .buf"]),
        ("environ.get('wsgi.input').readinto(view)", ["1: wsgi.input.readinto"]),
        ("request._stream.read(10)", ["1: request._stream"]),
        ("server = 'gunicorn.http'", ["1: names gunicorn"]),
        ("data = request.META['wsgi.input'].read(1024)", []),
        ('"""Under gunicorn, the request stream is read."""\ndata = request.read(1024)', []),
    ],
)
def test_the_scan_finds_what_reaches_past_the_stream(source, expected):
    assert sorted(server_private_uses(source)) == sorted(expected)
