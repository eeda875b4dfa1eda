"""Business rules of files: uploads, their JUnit results, reading them back, archiving.

Plain functions named ``<entity>_<action>`` with keyword-only arguments, called by the
API, the admin and the management commands alike.
"""

import contextlib
import logging
import mmap
import re
from itertools import islice

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.db import connection, transaction

from dciserver import metrics
from dciserver.api.exceptions import BadRequest, PayloadTooLarge, ServiceUnavailable
from files import junit, streaming, testresults
from files.models import ComponentFile, File, JUnitResult
from files.storage import files_storage
from jobs.services import job_heartbeat

logger = logging.getLogger(__name__)

# Largest read asked of an upload's stream (see files.streaming).
CHUNK_SIZE = streaming.READ_SIZE
JUNIT_MIME = "application/junit"

# A media type (RFC 6838 §4.2): type and subtype of restricted-name characters, 127 at most each,
# optionally followed by parameters (RFC 9110 §5.6.6: token=token or token="quoted string").
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED_STRING = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e])*"'
_PARAMETER = rf"[ \t]*;[ \t]*(?:{_TOKEN}=(?:{_TOKEN}|{_QUOTED_STRING}))?"
_MIME = re.compile(rf"[ \t]*({_RESTRICTED_NAME}/{_RESTRICTED_NAME})(?:{_PARAMETER})*[ \t]*")


def normal_mime(value):
    """The bare ``type/subtype`` of a media type, lower-cased, or ``None`` if ``value`` is not one.

    Parameters (``; charset=utf-8``) are accepted and dropped: dciserver keeps a file's kind,
    which it compares (JUnit detection, inline text, ``where=mime:``), and media type names are
    case-insensitive; text is shown inline as UTF-8 whatever charset an upload claimed.
    """
    match = _MIME.fullmatch(value) if isinstance(value, str) else None
    return match.group(1).lower() if match else None


@metrics.observed_upload()
def file_create(
    *,
    job,
    jobstate=None,
    name,
    mime="text/plain",
    stream,
    length=None,
    expected_md5=None,
    on_created=None,
    verify_body=None,
):
    """Store an upload and return its ``File`` row.

    ``stream`` is read in chunks (the request's stream for a raw upload), so a body is never
    held whole in memory. ``length`` is what the client announced (``Content-Length``):
    fewer bytes means the upload broke off. The bytes are spooled to a temporary file
    while their size and md5 are computed, so a refused upload (too large, md5
    mismatch, broken off) never reaches storage. Then the bytes are stored under the
    file's id, and the row, the JUnit results and the job's heartbeat are written in
    one transaction; if that fails, the stored bytes are deleted. (Called inside an
    outer transaction that later rolls back, the bytes would stay behind: don't.)
    ``on_created(file)`` runs inside that transaction (the API records its audit entry there).
    ``verify_body(bytes)``, where given, is called with the spooled bytes before they are stored,
    and raises to refuse them (a signed upload's signature: ``SignatureAuthentication``).
    The caller has checked that its user may see ``job`` and ``jobstate``.
    """
    if jobstate is not None and jobstate.job_id != job.id:
        raise BadRequest(
            "The jobstate belongs to another job.", {"errors": {"jobstate_id": ["Not a jobstate of this job."]}}
        )
    mime = _valid_mime(mime, length)
    file = File(job=job, jobstate=jobstate, team_id=job.team_id, name=name, mime=mime)

    def write_rows(upload):
        file.save(force_insert=True)
        if on_created is not None:
            on_created(file)
        if mime == JUNIT_MIME or name.lower().endswith(".xml"):
            upload.seek(0)
            _junit_store(file, upload)
        # Last: the job's row stays locked for as short a time as possible.
        job_heartbeat(job_id=job.id)

    return _keep(file, stream, length, expected_md5, verify_body, write_rows)


@metrics.observed_upload()
def component_file_create(
    *, component, name, mime="application/octet-stream", stream, length=None, verify_body=None, on_created=None
):
    """Store a component's file (SPEC §11) as ``file_create`` stores a job's: spooled, checked,
    stored under its id, its row committed (with ``on_created(row)``) or its bytes deleted."""
    row = ComponentFile(component=component, name=name, mime=_valid_mime(mime, length))

    def write_rows(upload):
        row.save(force_insert=True)
        if on_created is not None:
            on_created(row)

    return _keep(row, stream, length, None, verify_body, write_rows)


def _valid_mime(mime, length):
    """``mime`` as it is kept, checked before a byte is read with the announced ``length``."""
    # A mime is served back as the Content-Type of the file's content: only a real media type is kept.
    valid_mime = normal_mime(mime)
    if valid_mime is None:
        raise BadRequest(
            f"Invalid mime {mime[:300]!r}: expected a media type such as text/plain.",
            {"errors": {"mime": ["Not a valid media type (type/subtype)."]}},
        )
    if length is not None and length > settings.DCI_MAX_UPLOAD_SIZE:
        raise _too_large()
    return valid_mime


def _keep(row, stream, length, expected_md5, verify_body, write_rows):
    """Spool ``stream`` (setting ``row``'s size and md5), check it, store it under ``row``'s id,
    then ``write_rows(upload)`` in a transaction; a failure after the bytes are stored deletes them."""
    storage = files_storage()
    # A 201 says the file is kept: on a local disk, its bytes are flushed before its row is committed.
    local = isinstance(storage, FileSystemStorage)
    with _spooled(stream, row, length, durable=local) as upload:
        if verify_body is not None:  # first: a wrong signature is the answer, whatever else is wrong
            _verify(verify_body, upload)
        if expected_md5 and expected_md5.strip().lower() != row.md5:
            raise BadRequest(
                f"md5 mismatch: the upload's md5 is {row.md5}, DCI-MD5 says {expected_md5.strip()}",
                {"errors": {"md5": ["Does not match the uploaded bytes."]}},
            )
        try:
            _store(storage, row, upload, local)
            with transaction.atomic():
                write_rows(upload)
        except BaseException:
            # BaseException: a worker stopped mid-write (SystemExit) must not leave bytes without a row.
            _delete_quietly(storage, row.storage_name)
            raise
    metrics.UPLOAD_BYTES.inc(row.size)
    return row


def _verify(verify_body, upload):
    """Hand the spooled bytes to ``verify_body`` as one buffer, mapped from the spool file rather
    than read into memory (an upload may be as large as DCI_MAX_UPLOAD_SIZE)."""
    if not upload.size:
        verify_body(b"")
        return
    with mmap.mmap(upload.file.fileno(), 0, access=mmap.ACCESS_READ) as body:
        verify_body(body)


def _store(storage, file, upload, local):
    """Write the bytes to storage; a storage that fails (a full disk, an object store away) is a 503.

    The filesystem storage renames the spooled file into place (``FILE_UPLOAD_TEMP_DIR``
    must be on the same filesystem as ``DCI_FILES_ROOT``, or the rename becomes a copy);
    the file and its directory are then synced, so that the new name survives a crash too.
    """
    try:
        name = storage.save(file.storage_name, upload)
        if local:
            streaming.sync_stored(storage.path(name))
    except Exception as exc:
        logger.exception("could not store the bytes of file %s", file.id)
        raise ServiceUnavailable("Service unavailable: the file storage failed; nothing was kept.") from exc


def _too_large():
    limit = settings.DCI_MAX_UPLOAD_SIZE
    return PayloadTooLarge(f"Request entity too large: files are limited to {limit} bytes", {"max_size": limit})


@contextlib.contextmanager
def _spooled(stream, file, length, durable):
    """Copy ``stream`` to a temporary file, setting ``file.size`` and ``file.md5`` (``streaming.spool``).

    ``durable``: the bytes are on disk, not only in the page cache, before the row can be
    committed (the filesystem storage renames this file into place). The temporary file is
    removed on exit (unless the filesystem storage moved it into place).
    """
    upload = TemporaryUploadedFile(str(file.id), file.mime, 0, None)
    try:
        try:
            size, md5 = streaming.spool(
                stream,
                upload.file.fileno(),
                limit=settings.DCI_MAX_UPLOAD_SIZE,
                size_hint=length,
                durable=durable,
            )
        except streaming.TooLarge:
            raise _too_large() from None
        except streaming.BrokenOff as exc:
            raise _broken_off(exc.received) from exc
        if length is not None and size != length:
            raise _broken_off(size, length)
        # The bytes went to the file's descriptor, past its buffered reader: start it afresh.
        upload.file.seek(0)
        upload.size = file.size = size
        file.md5 = md5
        yield upload
    finally:
        upload.close()


def _broken_off(received, expected=None):
    of = "" if expected is None else f" of {expected}"
    return BadRequest(f"The upload broke off after {received}{of} bytes; nothing was kept.")


def _delete_quietly(storage, name):
    try:
        storage.delete(name)
    except Exception:
        logger.exception("could not delete the stored bytes %s of a failed upload", name)


COPY_READ_SIZE = 256 * 1024
TESTCASE_COPY = (
    "COPY files_testcase (file_id, job_id, team_id, test_id, key, suite, classname, name, time, result, message, "
    "type, state, previous_result, flaky, failing_since) FROM STDIN"
)


class _CopyRows:
    """Lines of COPY text (``lines``, an iterator of str), read by PostgreSQL as they are made.

    A report that breaks midway (``JUnitError`` from the parser) ends the rows where it broke
    and keeps the error for the caller to raise after the COPY: an exception raised inside
    psycopg2's read loop would be reported as a failed COPY, not as the report's error.
    """

    def __init__(self, lines):
        self.lines = lines
        self.error = None
        self.pending = b""

    def read(self, size=-1):
        chunk = [self.pending]
        length = len(self.pending)
        while length < size:
            rows = self._rows(256)
            if not rows:
                break
            chunk.append(rows)
            length += len(rows)
        data = b"".join(chunk)
        self.pending = data[size:] if size >= 0 else b""
        return data[:size] if size >= 0 else data

    def _rows(self, count):
        try:
            return "".join(islice(self.lines, count)).encode()
        except junit.JUnitError as exc:
            self.error = exc
            self.lines = iter(())
            return b""


def _copy(cursor, sql, lines):
    rows = _CopyRows(lines)
    cursor.copy_expert(sql, rows, COPY_READ_SIZE)
    if rows.error is not None:
        raise rows.error


def _case_lines(file, comparison, testcases):
    """The COPY lines of a report's cases, each compared as it streams past."""
    copy_text, null = testresults.copy_text, testresults.NULL
    prefix = f"{file.id}\t{file.job_id}\t{file.team_id}\t"
    for case in testcases:
        test_id, key, state, previous, flaky, since = comparison.case(case)
        yield (
            f"{prefix}{test_id}\t{key}\t{copy_text(case.suite)}\t{copy_text(case.classname)}\t"
            f"{copy_text(case.name)}\t{case.time}\t{case.result}\t{copy_text(case.message)}\t"
            f"{copy_text(case.type)}\t{state}\t{previous}\t{'t' if flaky else 'f'}\t{since or null}\n"
        )


def _junit_store(file, fileobj):
    """Parse a JUnit report once, at upload, and keep its summary and every test case, compared
    with the baseline (``files.testresults``).

    A ``.xml`` file is a report only if its root is a test suite; otherwise (or when it
    breaks before its root) it is just a file, with no result. A report that does not
    parse, or is hostile, is still kept; its result carries why, and it has no case. An empty
    ``application/junit`` file is a report of no case. The test cases stream into PostgreSQL
    with one ``COPY`` as they are parsed (50,000 of them: ~10× faster than ORM inserts).
    """
    report = junit.JUnitReport(fileobj)
    empty = file.size == 0 and file.mime == JUNIT_MIME
    job = file.job
    try:
        # A savepoint: a report that breaks midway leaves none of its test cases behind.
        with transaction.atomic():
            result = JUnitResult.objects.create(file=file, job_id=file.job_id)
            comparison = testresults.Comparison(file, job)
            comparison.lock()
            comparison.load()
            with connection.cursor() as cursor:
                cases = iter(()) if empty else report.testcases()
                _copy(cursor, TESTCASE_COPY, _case_lines(file, comparison, cases))
                comparison.finish(cursor, lambda sql, lines: _copy(cursor, sql, lines))
            summary = report.summary
            result.name = summary.name[: JUnitResult._meta.get_field("name").max_length]
            result.total, result.failures, result.errors = summary.total, summary.failures, summary.errors
            result.skips, result.time = summary.skips, summary.time
            result.regressions, result.successfixes = comparison.regressions, comparison.successfixes
            result.flaky_regressions, result.baseline_id = comparison.flaky_regressions, comparison.baseline_id
            result.save()
    except junit.JUnitError as exc:
        if file.mime == JUNIT_MIME or report.is_junit:
            metrics.JUNIT_FAILURES.inc()
            logger.info("JUnit file %s (%s) did not parse: %s", file.id, file.name, exc)
            JUnitResult.objects.create(file=file, job_id=file.job_id, error=str(exc))


def file_inline_content(file):
    """The text shown inline in a file's representation, or None (SPEC §6).

    Only ``text/*`` files up to ``DCI_INLINE_CONTENT_MAX`` bytes are read, judged by
    the size column, so a large file costs no storage read at all; a page of small
    text files costs one (bounded) read per file.
    """
    if not file.mime.startswith("text/") or file.size > settings.DCI_INLINE_CONTENT_MAX:
        return None
    try:
        with files_storage().open(file.storage_name, "rb") as stored:
            data = stored.read(settings.DCI_INLINE_CONTENT_MAX)
    except FileNotFoundError:
        logger.error("file %s has no stored bytes at %s", file.id, file.storage_name)
        return None
    return data.decode("utf-8", errors="replace")


def file_open(file):
    """The stored bytes of ``file``, opened for reading; ``FileNotFoundError`` when they are gone."""
    return files_storage().open(file.storage_name, "rb")
