"""Spooling a body (files.streaming): straight from gunicorn's socket, hashed in a second thread, O_DIRECT."""

import hashlib
import io
import os
import socket
import threading

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader

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

    result = streaming.spool(
        streaming.StreamSource(io.BytesIO(data)), spool_file.fileno(), limit=size, size_hint=size, durable=durable
    )

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

    streaming.spool(streaming.StreamSource(io.BytesIO(data)), spool_file.fileno(), limit=len(data), durable=True)

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

    result = streaming.spool(
        streaming.StreamSource(io.BytesIO(data)), spool_file.fileno(), limit=len(data), durable=True
    )

    assert result == (len(data), hashlib.md5(data).hexdigest())
    spool_file.seek(0)
    assert spool_file.read() == data


def test_a_body_growing_past_the_limit_stops_at_the_block_that_crosses_it(spool_file):
    source = streaming.StreamSource(io.BytesIO(payload(10 * streaming.BLOCK_SIZE)))

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
        streaming.spool(streaming.StreamSource(Failing()), spool_file.fileno(), limit=10 * MiB)

    assert broken.value.received == streaming.BLOCK_SIZE + 100


def test_a_failing_hash_thread_fails_the_spool_rather_than_hanging_it(spool_file, monkeypatch):
    class BrokenDigest:
        def update(self, data):
            raise MemoryError()

    monkeypatch.setattr(streaming.hashlib, "md5", lambda **kwargs: BrokenDigest())
    data = payload(6 * streaming.BLOCK_SIZE)

    with pytest.raises(MemoryError):
        streaming.spool(streaming.StreamSource(io.BytesIO(data)), spool_file.fileno(), limit=len(data))


# Straight from gunicorn's socket ------------------------------------------------------------------------


@pytest.fixture
def connection():
    """(the server's end, the client's end) of a connected socket pair."""
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def gunicorn_body(sock, length, already_read):
    """gunicorn's body of a request, its reader holding ``already_read`` (read along with the headers)."""
    unreader = SocketUnreader(sock)
    unreader.unread(already_read)
    return Body(LengthReader(unreader, length))


def send(sock, data):
    thread = threading.Thread(target=sock.sendall, args=(data,))
    thread.start()
    return thread


def test_it_reads_the_body_from_the_socket_and_leaves_the_next_request_to_gunicorn(connection, spool_file):
    server, client = connection
    data = payload(3 * streaming.BLOCK_SIZE + 777)
    following = b"GET /next HTTP/1.1\r\n\r\n"
    # gunicorn read the start of the body with the headers; the rest, then a pipelined request, follow.
    body = gunicorn_body(server, len(data), data[:5000])
    sender = send(client, data[5000:] + following)

    source = streaming.socket_body({"wsgi.input": body}, len(data))
    result = streaming.spool(source, spool_file.fileno(), limit=len(data), size_hint=len(data), durable=True)
    sender.join()

    assert result == (len(data), hashlib.md5(data).hexdigest())
    spool_file.seek(0)
    assert spool_file.read() == data
    # gunicorn has no body left to drain and reads the next request where it starts.
    assert body.read() == b""
    assert not body.failed
    assert body.reader.unreader.read() == following


def test_bytes_past_the_body_already_read_by_gunicorn_stay_with_it(connection, spool_file):
    server, _ = connection
    following = b"GET /next HTTP/1.1\r\n\r\n"
    body = gunicorn_body(server, 5, b"hello" + following)

    source = streaming.socket_body({"wsgi.input": body}, 5)
    result = streaming.spool(source, spool_file.fileno(), limit=5, size_hint=5)

    assert result == (5, hashlib.md5(b"hello").hexdigest())
    assert body.reader.unreader.read() == following


def test_a_client_going_away_mid_body_fails_gunicorns_body(connection, spool_file):
    server, client = connection
    body = gunicorn_body(server, 10 * MiB, b"")
    client.sendall(b"x" * 1000)
    client.close()

    size, _ = streaming.spool(
        streaming.socket_body({"wsgi.input": body}, 10 * MiB), spool_file.fileno(), limit=10 * MiB
    )

    assert size == 1000
    # The connection is closed, never reused for a next request.
    assert body.failed


def test_a_body_the_application_started_reading_is_read_on_from_its_stream(connection):
    server, client = connection
    body = gunicorn_body(server, 10, b"0123456789")
    body.read(4)

    assert streaming.socket_body({"wsgi.input": body}, 10) is None


@pytest.mark.parametrize("wsgi_input", [io.BytesIO(b"hello"), None], ids=["another-servers-input", "no-input"])
def test_only_gunicorns_content_length_body_is_read_from_the_socket(wsgi_input):
    assert streaming.socket_body({"wsgi.input": wsgi_input}, 5) is None
