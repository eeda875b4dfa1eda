"""Spooling an upload's body to a file: read from the request's stream, hashed and written in a second thread.

The body of a raw upload is read from the stream Django gives the view (``files.api``: the
request itself, which reads the WSGI input no further than ``Content-Length``; for a chunked
body the server ended, the WSGI input), through its ``read()`` only, never the server's own
objects. It goes through three stages: read from the client, hashed (SPEC §6: the server
computes md5 and size while streaming), written to the spool file. The request's thread
reads the body into a few reused buffers and hashes each block; a second thread writes the
blocks already hashed. Reading is Python work under the GIL (the WSGI server's body reader
copies every piece through its own buffers); md5 and the writes are not (hashlib and
``os.write`` release the GIL for large buffers). A thread that has let go of the GIL may wait
for it until the thread holding it lets go in turn: the writer needs it once per block, and
finds it free whenever the request's thread is hashing. (A second thread that hashed too
waited for the reading thread at every step, and was slower; see docs/performance.md.)

For the local disk the blocks are written with O_DIRECT (``_Spool``): straight from those
buffers to the disk, with no copy into the page cache. On this VM that is what matters most:
filling page-cache pages the guest has not used yet costs ~5× the copy itself (a buffered
200 MiB upload spent ~0.9 s of kernel time, O_DIRECT ~0.1 s), and a file that is kept
always needs new pages. It also makes the bytes durable before the row is committed
(SPEC §6: a 201 says the file is kept) at almost no cost: the final fdatasync has only the
last block and the metadata to flush.
"""

import errno
import fcntl
import hashlib
import mmap
import os
import queue
import threading

MiB = 1024 * 1024
# What is hashed and written at once; BLOCKS of them in flight bound the memory an upload
# takes (8 MiB, beside the WSGI server's own read buffers) whatever its size.
BLOCK_SIZE = 2 * MiB
BLOCKS = 4
# Largest read asked of the stream: what it returns is a new bytes object, copied into a block.
READ_SIZE = 1 * MiB
# O_DIRECT writes must be aligned to the disk's logical blocks: a page covers 512 and 4096.
ALIGNMENT = mmap.PAGESIZE
O_DIRECT = getattr(os, "O_DIRECT", 0)


class TooLarge(Exception):
    """The body grew past the limit it was given."""


class BrokenOff(Exception):
    """The client went away mid-body: ``received`` bytes arrived."""

    def __init__(self, received):
        super().__init__(f"the body broke off after {received} bytes")
        self.received = received


# Reading a body from a client that went away raises OSError: Django's UnreadablePostError
# (which the request raises for any OSError of the WSGI input), the server's own error for a
# chunked body that ends early, a reset connection.


def _fill(stream, view, received):
    """Read into ``view`` until it is full or the body ends; the number of bytes read."""
    filled = 0
    while filled < len(view):
        try:
            data = stream.read(min(len(view) - filled, READ_SIZE))
        except OSError as exc:
            raise BrokenOff(received + filled) from exc
        if not data:
            break
        view[filled : filled + len(data)] = data
        filled += len(data)
    return filled


class _Spool:
    """Writes to the spool file; with ``direct``, whole blocks bypass the page cache (O_DIRECT).

    O_DIRECT needs buffers, lengths and offsets aligned to the disk's blocks: the buffers
    are mmap'ed (page-aligned) and every block but the last is a whole BLOCK_SIZE, so only
    the last is written through the page cache. A filesystem that refuses O_DIRECT gets
    every block through the page cache.
    """

    def __init__(self, fd, direct):
        self.fd = fd
        self.direct = bool(direct and O_DIRECT) and self._set_direct(True)

    def _set_direct(self, on):
        try:
            flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
            fcntl.fcntl(self.fd, fcntl.F_SETFL, flags | O_DIRECT if on else flags & ~O_DIRECT)
        except OSError:
            return False
        return on

    def write(self, view):
        if self.direct and len(view) % ALIGNMENT:
            self.direct = self._set_direct(False)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except OSError as exc:
                if not (self.direct and exc.errno == errno.EINVAL):
                    raise
                self.direct = self._set_direct(False)

    def close(self):
        # The file is read again through its buffered file object (JUnit, S3), which O_DIRECT would refuse.
        if self.direct:
            self.direct = self._set_direct(False)


def spool(stream, fd, *, limit, size_hint=None, durable=False):
    """Copy ``stream`` (something with ``read``) to the file ``fd``; return (size, md5 hex digest).

    Raises ``TooLarge`` as soon as more than ``limit`` bytes arrived, ``BrokenOff`` when
    the stream fails. ``durable``: the bytes are on disk when it returns, written with
    O_DIRECT (see ``_Spool``) and flushed with fdatasync.

    The request's thread reads and hashes; from the second block on, a thread writes the
    blocks hashed, and hands their buffers back.
    """
    digest = hashlib.md5(usedforsecurity=False)
    # A body known to be small gets one buffer of its size (rounded up to whole pages).
    block_size = min(BLOCK_SIZE, -(-(size_hint or BLOCK_SIZE) // ALIGNMENT) * ALIGNMENT)
    free = queue.SimpleQueue()
    allocated = 0
    filled = queue.SimpleQueue()
    writer = None
    failed = []
    size = 0
    out = _Spool(fd, direct=durable)
    try:
        while not failed:
            if free.empty() and allocated < BLOCKS:
                # mmap: page-aligned (O_DIRECT), and given back to the system when dropped.
                free.put(mmap.mmap(-1, block_size))
                allocated += 1
            buffer = free.get()
            count = _fill(stream, memoryview(buffer), size)
            if not count:
                break
            size += count
            if size > limit:
                raise TooLarge()
            digest.update(memoryview(buffer)[:count])
            if writer is None and count < block_size:
                # The whole body in one block: no thread needed.
                out.write(memoryview(buffer)[:count])
                break
            if writer is None:
                writer = threading.Thread(
                    target=_write_blocks, args=(out, filled, free, failed), name="spool-writer", daemon=True
                )
                writer.start()
            filled.put((buffer, count))
            if count < block_size:
                break
    finally:
        if writer is not None:
            filled.put(None)
            writer.join()
        out.close()
    if failed:
        raise failed[0]
    if durable:
        os.fdatasync(fd)
    return size, digest.hexdigest()


def _write_blocks(out, filled, free, failed):
    while (item := filled.get()) is not None:
        buffer, count = item
        try:
            if not failed:
                out.write(memoryview(buffer)[:count])
        except BaseException as exc:  # noqa: BLE001 - re-raised by the request's thread
            failed.append(exc)
        # Always handed back: the request's thread may be waiting for a buffer.
        free.put(buffer)


def sync_stored(path):
    """fsync a stored file and its directory, so that both its bytes and its name survive a crash.

    Its bytes were flushed while spooling (``spool(durable=True)``) and the file renamed into
    place, so this costs little; where the rename had to be a copy, this flushes the copy.
    """
    for target, flags in ((path, os.O_RDONLY), (os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)):
        fd = os.open(target, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
